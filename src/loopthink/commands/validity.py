"""``loopthink validity RUN --out DIR``: accuracy per external generator family x label x difficulty."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from loopthink.analysis.validity import summary_table, validity_cells, write_outputs
from loopthink.commands.argtypes import count, parse_int_list, parse_range, seed
from loopthink.tasks import DataError
from loopthink.tasks.external import external_families
from loopthink.training.rundir import load_run

HELP = "accuracy per external generator family x label x difficulty: table, JSON/CSV, picture"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--difficulty", type=parse_range, default=(1, 24), help="LO..HI hops/depth (default 1..24)")
    p.add_argument("--n-per-cell", type=count, default=100, help="instances per family and difficulty (split over the labels)")
    p.add_argument("--steps", type=parse_int_list, default=[8, 16, 32, 64])
    p.add_argument("--families", help="comma-separated subset of the task's external families (default: all)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--batch-size", type=count, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=count, help="torch CPU threads")
    p.add_argument("--out", required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.plots.validity import plot_validity

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, model, task = load_run(args.run, args.device)
    try:
        families = external_families(task.name)
    except ImportError as e:
        raise DataError(str(e)) from None
    if not families:
        raise DataError(f"task {task.name!r} has no external families yet")
    if args.families:
        wanted = [f.strip() for f in args.families.split(",") if f.strip()]
        unknown = [f for f in wanted if f not in families]
        if unknown:
            raise DataError(f"unknown {task.name} families {', '.join(unknown)}; known: {', '.join(families)}")
        families = {f: families[f] for f in wanted}
    done = []

    def report(name: str, n: int) -> None:  # a long run says where it is (stderr: the table stays clean)
        done.append(name)
        print(f"validity: {name} done ({n} records; {len(done)} of {len(families)} families)", file=sys.stderr, flush=True)

    rows = validity_cells(
        model, task, families, args.difficulty, args.n_per_cell, args.steps, args.seed, args.batch_size, args.device, report
    )
    meta = {
        "run": str(args.run),
        "task": task.name,
        "difficulty_name": task.difficulty_name,
        "train_difficulty": list(cfg.task.train_difficulty),
        "difficulty": list(args.difficulty),
        "n_per_cell": args.n_per_cell,
        "steps": args.steps,
        "seed": args.seed,
        "families": list(families),
    }
    data = write_outputs(rows, Path(args.out), meta)
    plot_validity(data, Path(args.out) / "validity.png")
    print(summary_table(rows, task.difficulty_name))
    print(f"\nwrote {args.out}/validity.json, validity.csv, validity.png, validity.svg")
    return 0
