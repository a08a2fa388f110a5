"""Train each shipped config on the CPU and measure accuracy in and out of distribution.

    python bench/train_targets.py [--tasks graph,logic,text] [--out runs/bench] [--n 500]

For every task: wall-clock training time, then accuracy per difficulty range of `eval.difficulties`
at each of `eval.steps` (fresh instances, seed disjoint from training), and the best step count
per range. Writes `OUT/targets.json` and prints a table. Targets (issue 3) are printed beside
the measurements; nothing here is hard-coded except those targets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from loopthink.checkpoint import load_run  # noqa: E402
from loopthink.config import load_config  # noqa: E402
from loopthink.evaluate import evaluate_records  # noqa: E402
from loopthink.train import train  # noqa: E402

TARGETS = {  # (difficulty range) -> minimum accuracy, from issue 3
    "graph": {"1..8": 0.995, "9..16": 0.95, "17..32": 0.90},
    "logic": {"1..6": 0.99, "7..10": 0.90},
    "text": {"1..4": 0.95, "5..6": 0.80},
}


def measure(task: str, out: Path, n: int, retrain: bool, overrides: list[str]) -> dict:
    cfg = load_config(ROOT / "configs" / f"{task}.yaml", overrides)
    run = out / task
    seconds = None
    if retrain or not (run / "model.safetensors").exists():
        import shutil

        shutil.rmtree(run, ignore_errors=True)
        t0 = time.time()
        train(cfg, run, progress=sys.stderr.isatty())
        seconds = time.time() - t0
    cfg, model, t = load_run(run)
    ranges = {}
    for i, (lo, hi) in enumerate(cfg.eval.difficulties):
        records = t.generate(n, 555 + i, (lo, hi), **{**cfg.task.options, **cfg.eval.options})
        res = evaluate_records(model, t, records, cfg.eval.steps, batch_size=256)
        acc = {s: v["accuracy"] for s, v in res["steps"].items()}
        best = max(acc, key=lambda s: acc[s])
        ranges[f"{lo}..{hi}"] = {"accuracy_by_steps": acc, "best_steps": int(best), "best_accuracy": acc[best], "target": TARGETS.get(task, {}).get(f"{lo}..{hi}")}
    return {"task": task, "train_seconds": seconds, "iters": cfg.train.iters, "ranges": ranges}


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
        secs = f"{r['train_seconds']:.0f} s" if r["train_seconds"] else "reused"
        print(f"\n{r['task']} ({r['iters']} iterations, trained in {secs})")
        for rng, v in r["ranges"].items():
            cells = " ".join(f"T={s}:{a:.3f}" for s, a in v["accuracy_by_steps"].items())
            tgt = v["target"]
            verdict = "" if tgt is None else f"  target >= {tgt}: {'met' if v['best_accuracy'] >= tgt else 'NOT met'}"
            print(f"  {rng:>7}  {cells}{verdict}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
