"""``loopthink diagnose RUN --out DIR``: latent dynamics (convergence, decision step, commitment, monitor)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from loopthink.analysis.diagnose import check_settings, diagnose_run, summary_json, summary_text, write_outputs
from loopthink.commands.argtypes import count, parse_range, seed, step_count
from loopthink.tasks import DataError

HELP = "latent dynamics: convergence, decision step, commitment, monitor"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", help="JSONL file to diagnose (the monitor is fitted on generated examples of --seed)")
    src.add_argument("--difficulty", type=parse_range, help="generate examples with hops/depth LO..HI (default: the training range)")
    p.add_argument("--steps", type=step_count, default=64, help="recurrence steps T (default 64)")
    p.add_argument("--runs", type=count, default=8, help="runs K from different random initial states (default 8)")
    p.add_argument("--n", type=count, default=None, help="examples (default 1000 generated; with --data: the whole file)")
    p.add_argument("--seed", type=seed, default=1234, help="seed of generated examples and initial states")
    p.add_argument("--t0", type=step_count, default=None, help="headline monitor step (default: one below the median decision step)")
    p.add_argument("--batch-size", type=count, default=32, help="examples per batch (x K rows; small batches stay in cache on CPU)")
    p.add_argument("--threads", type=count, default=None, help="torch CPU threads (default: torch's choice; 1 is fastest on a busy CPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output directory (dynamics.json + PNG/SVG pictures)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.dynamics import plot_all

    check_settings(args.steps, args.runs, args.n, args.t0, args.batch_size)
    if args.threads is not None:
        if args.threads < 1:
            raise DataError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    data = diagnose_run(
        args.run,
        args.data,
        args.difficulty,
        args.steps,
        args.runs,
        args.n,
        args.seed,
        args.t0,
        args.batch_size,
        args.device,
        progress=sys.stderr.isatty(),
    )
    out = Path(args.out)
    write_outputs(data, out)
    written = plot_all(data, out)
    if args.json:
        print(json.dumps(summary_json(data)))
    else:
        print(summary_text(data))
        print(f"\nwrote {out}/dynamics.json, " + ", ".join(p.name for p in written if p.suffix == ".png"))
    return 0
