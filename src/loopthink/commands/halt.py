"""``loopthink halt RUN --rule {kl,convergence,conformal} --out DIR``: adaptive halting with calibrated exit rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loopthink.analysis.halting import (
    CALIB_SEED_OFFSET,
    CONVERGENCE_THRESHOLD,
    DEFAULT_ALPHA,
    KL_THRESHOLD,
    PROBE_SEED_OFFSET,
    evaluate_halting,
    summary_text,
    write_outputs,
)
from loopthink.commands.argtypes import count, open_fraction, parse_range, positive_float, seed, step_count

HELP = "adaptive halting with calibrated exit rules"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument(
        "--rule",
        choices=("kl", "convergence", "conformal"),
        default="conformal",
        help="exit rule (default conformal: learned probe with a calibrated premature-exit guarantee)",
    )
    p.add_argument(
        "--alpha", type=open_fraction, default=DEFAULT_ALPHA, help=f"conformal: allowed premature-exit rate (default {DEFAULT_ALPHA})"
    )
    p.add_argument(
        "--threshold",
        type=positive_float,
        default=None,
        help=f"kl/convergence threshold (defaults: kl {KL_THRESHOLD:g} nats, convergence {CONVERGENCE_THRESHOLD:g})",
    )
    p.add_argument("--max-steps", type=step_count, default=64, help="T_max (default 64)")
    p.add_argument("--min-steps", type=step_count, default=1, help="no exit before this step (default 1)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--difficulty", type=parse_range, default=None, help="test hops/depth LO..HI (default: training LO .. 2x training HI)")
    src.add_argument("--data", help="test instances from a JSONL file instead of generated ones")
    p.add_argument(
        "--calib-data",
        help="conformal: JSONL file split in half for probe training / calibration "
        "(default: generated with seeds disjoint from the test seed)",
    )
    p.add_argument("--n", type=count, default=1000, help="test instances (generated; default 1000)")
    p.add_argument("--n-calib", type=count, default=1000, help="conformal: calibration instances (default 1000)")
    p.add_argument("--n-probe", type=count, default=500, help="conformal: probe-training instances (default 500)")
    p.add_argument(
        "--seed", type=seed, default=1234, help=f"test seed; probe/calibration use seed+{PROBE_SEED_OFFSET} / seed+{CALIB_SEED_OFFSET}"
    )
    p.add_argument("--batch-size", type=count, default=512)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output directory (halting.json, pareto.png, steps_by_difficulty.png)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.halting import plot_calibration, plot_pareto, plot_steps_by_difficulty

    ev = evaluate_halting(
        args.run,
        args.rule,
        args.alpha,
        args.threshold,
        args.max_steps,
        args.min_steps,
        args.difficulty,
        args.data,
        args.calib_data,
        args.n,
        args.n_calib,
        args.n_probe,
        args.seed,
        args.batch_size,
        args.device,
        progress=sys.stderr.isatty() and not args.json,
    )
    out = Path(args.out)
    write_outputs(ev, out)
    plot_pareto(ev.data, out / "pareto.png")
    plot_steps_by_difficulty(ev.data, ev.keys, ev.steps.numpy(), out / "steps_by_difficulty.png")
    if ev.conformal:
        plot_calibration(ev.data, out / "calibration.png")
    if args.json:
        print(json.dumps(ev.summary))
    else:
        print(summary_text(ev.data))
        print(
            f"\nwrote {out}/halting.json, halting_examples.csv, pareto.png, steps_by_difficulty.png"
            + (", calibration.png" if ev.conformal else "")
        )
    return 0
