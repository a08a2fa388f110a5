"""``make demo``: train the graph config on the CPU into runs/demo (reused if already trained),
then evaluate it in and out of distribution across step counts and print the table."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from loopthink.analysis.accuracy import evaluate_records
from loopthink.commands.argtypes import count
from loopthink.config import load_config
from loopthink.training.loop import train
from loopthink.training.rundir import checkpointed_iteration, load_run

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default=str(ROOT / "configs" / "graph.yaml"))
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--retrain", action="store_true", help="train again even if runs/demo holds a finished run")
    p.add_argument("--n", type=count, default=400, help="test instances per difficulty range")
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. train.iters=50 (a quick smoke run)")
    args = p.parse_args(argv)

    out = Path(args.out)
    cfg = load_config(args.config, args.overrides)
    done = checkpointed_iteration(out)
    finished = done is not None and done >= cfg.train.iters
    if args.retrain and out.exists():
        shutil.rmtree(out)
    if args.retrain or not finished:
        t0 = time.time()
        print(f"training {args.config} into {out} (CPU, {cfg.train.iters} iterations) ...", file=sys.stderr)
        train(cfg, out, resume=done is not None and not args.retrain)
        print(f"trained in {time.time() - t0:.0f} s", file=sys.stderr)
    else:
        print(f"reusing the trained run in {out} (pass --retrain to train again)", file=sys.stderr)

    cfg, model, task = load_run(out)
    results = {}
    for i, (lo, hi) in enumerate(cfg.eval.difficulties or [tuple(cfg.task.train_difficulty)]):
        records = task.generate(args.n, 777 + i, (lo, hi), **{**cfg.task.options, **cfg.eval.options})
        results[f"{lo}..{hi}"] = evaluate_records(model, task, records, cfg.eval.steps, progress=sys.stderr.isatty())
    (out / "eval.json").write_text(json.dumps(results, indent=1))
    lo_t, hi_t = cfg.task.train_difficulty
    print(f"\n{task.name}: trained on {task.difficulty_name} {lo_t}..{hi_t}; accuracy on {args.n} fresh instances per range")
    print(range_table(results, task.difficulty_name))
    print(f"\nper-{task.difficulty_name} detail in {out / 'eval.json'}; weights in {out / 'model.safetensors'}")
    print(f"next: loopthink frontier {out} --out {out}/frontier   (heatmap of steps x {task.difficulty_name})")
    return 0


def range_table(results: dict[str, dict], name: str) -> str:
    """Rows = difficulty ranges, columns = step counts; each cell the accuracy over the range."""
    steps = list(next(iter(results.values()))["steps"])
    head = f"{name + ' range':>14} " + " ".join(f"T={s:>5}" for s in steps)
    rows = [head, "-" * len(head)]
    for rng, res in results.items():
        rows.append(f"{rng:>14} " + " ".join(f"{res['steps'][s]['accuracy']:>7.3f}" for s in steps))
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
