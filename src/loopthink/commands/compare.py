"""``loopthink compare RUN [RUN ...] --out DIR``: several runs' accuracy-vs-difficulty curves on one plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loopthink.analysis.compare import compare_runs, legend, table, write_outputs
from loopthink.commands.argtypes import count, parse_int_list, parse_range, seed

HELP = "several runs' accuracy-vs-difficulty curves on one plot"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "runs", nargs="+", help="run directories; a sweep directory is its mean curve with a 95%% band across seeds (one per grid point)"
    )
    p.add_argument("--steps", default="best", help="a step count, or 'best' (see --candidates)")
    p.add_argument("--candidates", type=parse_int_list, default=[4, 8, 16, 32, 64])
    p.add_argument("--difficulty", type=parse_range, default=None, help="LO..HI (default: 1..4x the first run's training max)")
    p.add_argument("--n", type=count, default=300, help="instances per difficulty")
    p.add_argument("--seed", type=seed, default=4321)
    p.add_argument("--labels", default=None, help="comma-separated legend labels (default: run directory names)")
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.frontier import plot_curves

    fixed = None if args.steps == "best" else int(args.steps)
    labels = args.labels.split(",") if args.labels else None
    result = compare_runs(args.runs, labels, fixed, args.candidates, args.difficulty, args.n, args.seed, progress=sys.stderr.isatty())
    out = Path(args.out)
    write_outputs(result, out)
    curves = result["runs"]
    plot_curves(
        [{**c, "label": legend(c)} for c in curves], out / "compare.png", result["difficulty_name"], tuple(result["train_difficulty"])
    )
    print(json.dumps(result) if args.json else table(curves, result["difficulty_name"]))
    return 0
