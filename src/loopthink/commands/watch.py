"""``loopthink watch RUN --data FILE --out DIR``: one instance of a per-position task, its answer at
every position after every step, as a picture (watch.png) and numbers (watch.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loopthink.analysis.watch import watch
from loopthink.atomic import atomic_write_text
from loopthink.commands.argtypes import seed, step_count
from loopthink.tasks import DataError
from loopthink.tasks.files import read_run_records
from loopthink.training.rundir import load_run

HELP = "watch a per-position task think: one instance's answer at every position after every step"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory of a per-position task (prefix_sums, addition, maze, a plug-in)")
    p.add_argument("--data", required=True, help="record file (any format `loopthink data` writes)")
    p.add_argument("--index", type=int, default=0, help="which record of the file (0 = the first)")
    p.add_argument("--steps", type=step_count, default=64, help="steps to roll out (every one is drawn)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random initial state")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output directory: watch.png, watch.json")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.watch import plot_watch

    _, model, task = load_run(args.run, args.device)
    records = read_run_records(args.data, task.name, args.run)
    if not 0 <= args.index < len(records):
        raise DataError(f"--index {args.index}: {args.data} has {len(records)} records (0..{len(records) - 1})")
    record = records[args.index]
    try:
        w = watch(model, task, record, args.steps, args.seed)
    except ValueError as e:
        raise DataError(f"{args.run}: {e}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"task": task.name, "run": str(args.run), "data": str(args.data), "index": args.index, **w.summary()}
    atomic_write_text(out / "watch.json", json.dumps(summary, indent=1))
    difficulty = f"{task.difficulty_name} {task.difficulty_of(record)}"
    plot_watch(w, f"{task.name}, {difficulty}, record {args.index}", out / "watch.png")
    solved = w.solved_at()
    print(f"{difficulty}: " + (f"every position right from step {solved}" if solved else f"not solved in {args.steps} steps"))
    print(f"wrote {out / 'watch.png'} and {out / 'watch.json'}")
    return 0
