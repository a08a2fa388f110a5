"""A logic run's accuracy on boolean expressions from generators outside loopthink's own.

    python bench/logic_external.py RUN [--n 300] [--seed 7000] [--steps 8,12,16,24,32] [--ranges 1..6,7..10] [--json-out FILE]

Families: ``loopthink.tasks.external.logic_infix.FAMILIES`` (labels by Python's ``eval``, depth by
its ``ast``). For each family and depth range (default 1..6, 7..10): accuracy at every step count and the
best. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse

import torch

from _common import emit
from loopthink.analysis.accuracy import evaluate_records
from loopthink.checkpoint import load_run
from loopthink.commands.argtypes import parse_range
from loopthink.tasks.external.logic_infix import FAMILIES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--n", type=int, default=300, help="expressions per family and depth range")
    p.add_argument("--seed", type=int, default=7000, help="family seeds are seed + the range's low depth")
    p.add_argument("--steps", default="8,12,16,24,32")
    p.add_argument("--ranges", default="1..6,7..10", help="depth ranges, LO..HI, comma-separated")
    p.add_argument("--json-out")
    args = p.parse_args()
    torch.set_num_threads(1)
    steps = [int(s) for s in args.steps.split(",")]
    ranges = [parse_range(r) for r in args.ranges.split(",")]
    _, model, task = load_run(args.run)
    results: dict[str, dict] = {}
    for family, make in FAMILIES.items():
        for lo, hi in ranges:
            r = evaluate_records(model, task, make(args.n, args.seed + lo, (lo, hi)), steps, batch_size=256)
            acc = {s: v["accuracy"] for s, v in r["steps"].items()}
            best = max(acc, key=acc.get)
            results[f"{family} {lo}..{hi}"] = {"accuracy_by_steps": acc, "best_steps": int(best), "best_accuracy": acc[best]}
            cells = " ".join(f"T={s}:{a:.3f}" for s, a in acc.items())
            print(f"{family:>20} {lo:>2}..{hi:<2} {cells}   best {acc[best]:.3f} (T = {best})", flush=True)
    emit({"bench": "logic_external", "run": args.run, "n": args.n, "seed": args.seed, "results": results}, args.json_out)


if __name__ == "__main__":
    main()
