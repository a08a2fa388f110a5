"""Train each task's config on the CPU and measure accuracy in and out of distribution.

    python bench/train_targets.py [--tasks graph,logic,text] [--out runs/bench] [--n 500]

A name is configs/NAME.yaml, or a variant, configs/variants/NAME.yaml (e.g. --tasks text_dense).
For every one: wall-clock training time, then accuracy per difficulty range of `eval.difficulties`
at each of `eval.steps` (fresh instances, seed disjoint from training), and the best step count
per range. Writes `OUT/targets.json` and prints a table. Targets (issue 3) are printed beside
the measurements; nothing here is hard-coded except those targets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT, train_and_measure, train_time_text

TARGETS = {  # (difficulty range) -> minimum accuracy, from issue 3
    "graph": {"1..8": 0.995, "9..16": 0.95, "17..32": 0.90},
    "logic": {"1..6": 0.99, "7..10": 0.90},
    "text": {"1..4": 0.95, "5..6": 0.80},
}


def config_path(name: str) -> Path:
    """configs/NAME.yaml, else configs/variants/NAME.yaml."""
    for path in (ROOT / "configs" / f"{name}.yaml", ROOT / "configs" / "variants" / f"{name}.yaml"):
        if path.exists():
            return path
    raise SystemExit(f"train_targets: no configs/{name}.yaml or configs/variants/{name}.yaml")


def measure(task: str, out: Path, n: int, retrain: bool, overrides: list[str]) -> dict:
    result = train_and_measure(config_path(task), out / task, n, retrain, overrides)
    for name, r in result["ranges"].items():
        r["target"] = TARGETS.get(task, {}).get(name)
    return {"task": task, **result}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="graph,logic,text")
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--n", type=int, default=500, help="test instances per difficulty range")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("overrides", nargs="*", help="config overrides applied to every task")
    args = p.parse_args()
    out = Path(args.out)
    results = [measure(t, out, args.n, args.retrain, args.overrides) for t in args.tasks.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    (out / "targets.json").write_text(json.dumps(results, indent=1))
    for r in results:
        print(f"\n{r['task']} ({r['iters']} iterations, trained in {train_time_text(r)})")
        for rng, v in r["ranges"].items():
            cells = " ".join(f"T={s}:{a:.3f}" for s, a in v["accuracy_by_steps"].items())
            tgt = v["target"]
            verdict = "" if tgt is None else f"  target >= {tgt}: {'met' if v['best_accuracy'] >= tgt else 'NOT met'}"
            print(f"  {rng:>7}  {cells}{verdict}")
    print(json.dumps({"bench": "train_targets", "results": results}))


if __name__ == "__main__":
    main()
