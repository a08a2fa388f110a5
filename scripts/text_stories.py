"""Accuracy of a trained text run on every kind of kinship story: loopthink's own short stories,
its long tangled ones (``task.options.story``), and each family of the independent generator
(``loopthink.tasks.external.text_stories``), per hop range.

    python scripts/text_stories.py RUN [RUN ...] [--n 500] [--ranges 1..4,5..6,7..8] [--steps 4,6,8,12,16]
                                   [--ensemble K] [--json FILE]

Several runs are read as one pooled model (their mean probability, as ``loopthink eval SWEEP
--pool``); ``--ensemble K`` reads every story K times (as ``loopthink eval --ensemble``).

Test sets are fresh (seeds 4242 + i per range, disjoint from training's); accuracy is given at every
step count and at the best one. Nothing here is trained; the run is read as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # the helpers shared with bench/
from _common import emit  # noqa: E402

LONG = {"people": [20, 30], "facts": [30, 50]}


def test_sets(n: int, ranges: list[tuple[int, int]]) -> dict[str, dict[str, list[dict]]]:
    from loopthink.tasks.external.text_stories import FAMILIES
    from loopthink.tasks.text import TextTask

    task = TextTask()
    sets: dict[str, dict[str, list[dict]]] = {"own_short": {}, "own_long": {}}
    sets.update({f"ext_{name}": {} for name in FAMILIES})
    for i, (lo, hi) in enumerate(ranges):
        key = f"{lo}..{hi}"
        sets["own_short"][key] = task.generate(n, 4242 + i, (lo, hi))
        sets["own_long"][key] = task.generate(n, 4342 + i, (lo, hi), story=LONG)
        for name, generate in FAMILIES.items():
            records = generate(n, 4442 + i, (lo, hi))
            if records:  # a small family may have no chain this long
                sets[f"ext_{name}"][key] = records
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="a run, or several read as one pooled model")
    p.add_argument("--n", type=int, default=500, help="instances per story kind and hop range")
    p.add_argument("--ranges", default="1..4,5..6,7..8")
    p.add_argument("--steps", default=None, help="step counts (default: the run's eval.steps)")
    p.add_argument("--ensemble", type=int, default=1, help="readings of every story (default 1)")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from loopthink.analysis.accuracy import evaluate_records
    from loopthink.analysis.sweeps import load_pool
    from loopthink.commands.argtypes import parse_range

    (cfg, *_), models, task = load_pool(args.runs, ensemble=args.ensemble)
    if task.name != "text":
        raise SystemExit(f"text_stories: {args.runs[0]} is a {task.name} run, not a text run")
    steps = [int(s) for s in args.steps.split(",")] if args.steps else list(cfg.eval.steps)
    ranges = [parse_range(r) for r in args.ranges.split(",")]
    table: dict[str, dict[str, dict]] = {}
    for kind, by_range in test_sets(args.n, ranges).items():
        for key, records in by_range.items():
            res = evaluate_records(models, task, records, steps, batch_size=128, ensemble=args.ensemble)
            acc = {s: v["accuracy"] for s, v in res["steps"].items()}
            best = max(acc, key=lambda s: acc[s])
            table.setdefault(kind, {})[key] = {"n": len(records), "accuracy_by_steps": acc, "best_steps": int(best),
                                               "best_accuracy": acc[best]}  # fmt: skip
            cells = " ".join(f"T={s}:{a:.3f}" for s, a in acc.items())
            print(f"{kind:>24} {key:>6} n={len(records):<4} best {acc[best]:.3f}  {cells}", flush=True)
    out = {
        "bench": "text_stories",
        "runs": args.runs,
        "ensemble": args.ensemble,
        "steps": steps,
        "results": table,
    }
    emit(out, args.json)


if __name__ == "__main__":
    main()
