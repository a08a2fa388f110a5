"""``loopthink frontier RUN --out DIR``: accuracy over (steps x difficulty) as a table, CSV/JSON and a heatmap."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loopthink.analysis.frontier import THRESHOLD, measure_frontier, summary_text, write_outputs
from loopthink.commands.argtypes import count, fraction, parse_int_list, parse_range, seed

HELP = "accuracy over (steps x difficulty): table, CSV/JSON, heatmap"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory, or a sweep directory (mean over seeds, 95%% interval across seeds)")
    p.add_argument("--steps", type=parse_int_list, default=[1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--difficulty", type=parse_range, default=None, help="LO..HI (default: 1..4x the training max)")
    p.add_argument("--n-per-cell", type=count, default=500)
    p.add_argument("--seed", type=seed, default=1234, help="seed of the test instances (disjoint from training's)")
    p.add_argument("--threshold", type=fraction, default=THRESHOLD, help="accuracy that counts as solved, in (0, 1]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true", help="print frontier.json's summary as JSON")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.frontier import plot_frontier

    data = measure_frontier(
        args.run, args.steps, args.difficulty, args.n_per_cell, args.seed, args.threshold, args.device, progress=sys.stderr.isatty()
    )
    out = Path(args.out)
    write_outputs(data, out)
    plot_frontier(data, out / "frontier.png")
    if args.json:
        print(json.dumps({"frontier": data["frontier"], "train_difficulty": data["train_difficulty"]}))
        return 0
    if "seeds" in data:
        seeds = data["seeds"]
        print(f"mean over {len(seeds)} seeds ({', '.join(map(str, seeds))}); per-cell 95% interval across seeds in frontier.csv")
    print(summary_text(data))
    print(f"\nwrote {args.out}/frontier.csv, frontier.json, frontier.png, frontier.svg")
    return 0
