"""Several runs side by side: accuracy versus difficulty on the same fresh instances.

Each run is read at one step count: the one given by ``--steps``, or with ``--steps best`` the
single step count (from ``--candidates``) with the best mean accuracy over all difficulties -
one choice per run, not one per difficulty, so the comparison does not cherry-pick cells.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from loopthink.evaluate import labels_of, predict_over_steps, wilson_interval


def run_curve(model: Any, task: Any, data: dict[int, list[dict]], candidates: list[int], fixed: int | None) -> dict[str, Any]:
    """Accuracy per difficulty of one model at its chosen step count."""
    steps = [fixed] if fixed else candidates
    acc = {}  # difficulty -> per-step correct counts
    for d, records in data.items():
        preds = predict_over_steps(model, task, records, steps, batch_size=512)
        acc[d] = (preds == labels_of(task, records)[None, :]).sum(1)
    n = {d: len(r) for d, r in data.items()}
    mean_by_step = np.mean([acc[d] / n[d] for d in data], axis=0)
    j = int(np.argmax(mean_by_step))
    diffs = sorted(data)
    ci = [wilson_interval(int(acc[d][j]), n[d]) for d in diffs]
    return {
        "steps": steps[j],
        "difficulty": diffs,
        "accuracy": [float(acc[d][j] / n[d]) for d in diffs],
        "n": [n[d] for d in diffs],
        "ci_low": [c[0] for c in ci],
        "ci_high": [c[1] for c in ci],
    }


def sweep_curve(models: list[Any], task: Any, data: dict[int, list[dict]], candidates: list[int], fixed: int | None) -> dict[str, Any]:
    """A sweep's curve: mean accuracy over seeds per difficulty, with the Student-t 95% interval
    across seeds (:func:`loopthink.seeds.mean_ci`) as ``ci_low``/``ci_high``. With ``--steps best``
    one step count for the whole sweep: the best mean (over seeds and difficulties)."""
    from loopthink.seeds import mean_ci

    steps = [fixed] if fixed else candidates
    diffs = sorted(data)
    acc = np.zeros((len(models), len(steps), len(diffs)))  # seed x steps x difficulty
    for i, model in enumerate(models):
        for k, d in enumerate(diffs):
            preds = predict_over_steps(model, task, data[d], steps, batch_size=512)
            acc[i, :, k] = (preds == labels_of(task, data[d])[None, :]).mean(1)
    j = int(np.argmax(acc.mean(axis=(0, 2))))
    cis = [mean_ci(acc[:, j, k], (0.0, 1.0)) for k in range(len(diffs))]
    return {
        "steps": steps[j],
        "difficulty": diffs,
        "accuracy": [c["mean"] for c in cis],
        "n": [len(data[d]) for d in diffs],
        "ci_low": [c["low"] for c in cis],
        "ci_high": [c["high"] for c in cis],
        "n_seeds": len(models),
        "per_seed": acc[:, j, :].tolist(),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    from loopthink.argtypes import count, parse_int_list, parse_range, seed

    p.add_argument("runs", nargs="+", help="run directories; a sweep directory is its mean curve with a 95%% band across seeds (one per grid point)")
    p.add_argument("--steps", default="best", help="a step count, or 'best' (see --candidates)")
    p.add_argument("--candidates", type=parse_int_list, default=[4, 8, 16, 32, 64])
    p.add_argument("--difficulty", type=parse_range, default=None, help="LO..HI (default: 1..4x the first run's training max)")
    p.add_argument("--n", type=count, default=300, help="instances per difficulty")
    p.add_argument("--seed", type=seed, default=4321)
    p.add_argument("--labels", default=None, help="comma-separated legend labels (default: run directory names)")
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from loopthink.checkpoint import load_run
    from loopthink.plots.frontier import plot_curves
    from loopthink.seeds import is_sweep, sweep_runs
    from loopthink.tasks import DataError

    fixed = None if args.steps == "best" else int(args.steps)
    labels = args.labels.split(",") if args.labels else [Path(r).name for r in args.runs]
    if len(labels) != len(args.runs):
        raise DataError(f"--labels has {len(labels)} names for {len(args.runs)} runs")
    entries: list[tuple[str, list[str | Path], bool]] = []  # (label, run dirs, is a sweep)
    for label, r in zip(labels, args.runs):
        if not is_sweep(r):
            entries.append((label, [r], False))
            continue
        points = sweep_runs(r)
        if not points:
            raise DataError(f"{r}: no finished runs in this sweep yet")
        entries += [(f"{label}/{gp}" if len(points) > 1 else label, dirs, True) for gp, dirs in points.items()]
    loaded_entries = [[load_run(d) for d in dirs] for _, dirs, _ in entries]
    loaded = [x for group in loaded_entries for x in group]
    tasks = {t.name for _, _, t in loaded}
    if len(tasks) > 1:
        raise DataError(f"runs are on different tasks ({', '.join(sorted(tasks))}); compare runs of one task")
    cfg0, _, task = loaded[0]
    lo_t, hi_t = cfg0.task.train_difficulty
    lo, hi = args.difficulty or (max(1, lo_t), 4 * hi_t)
    opts = {**cfg0.task.options, **cfg0.eval.options}
    data = {d: task.generate(args.n, args.seed * 1_000_003 + d, (d, d), **opts) for d in range(lo, hi + 1)}
    curves = []
    for (label, _, sweep), group in tqdm(list(zip(entries, loaded_entries)), desc="compare", disable=not sys.stderr.isatty()):
        cfg, model, _ = group[0]
        if sweep:
            curves.append({"label": label, "arch": cfg.arch, "seeds": [c.train.seed for c, _, _ in group], **sweep_curve([m for _, m, _ in group], task, data, args.candidates, fixed)})
        else:
            curves.append({"label": label, "arch": cfg.arch, **run_curve(model, task, data, args.candidates, fixed)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"task": task.name, "train_difficulty": [lo_t, hi_t], "runs": curves}
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    with open(out / "compare.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"])
        for c in curves:
            for i, d in enumerate(c["difficulty"]):
                w.writerow([c["label"], c["steps"], d, c["accuracy"][i], c["n"][i], c["ci_low"][i], c["ci_high"][i]])
    plot_curves([{**c, "label": _legend(c)} for c in curves], out / "compare.png", task.difficulty_name, (lo_t, hi_t))
    if args.json:
        print(json.dumps(result))
    else:
        print(_table(curves, task.difficulty_name))
    return 0


def _legend(c: dict[str, Any]) -> str:
    seeds = f", mean of {len(c['seeds'])} seeds" if "seeds" in c else ""
    return f"{c['label']} (T={c['steps']}{seeds})"


def _table(curves: list[dict[str, Any]], name: str) -> str:
    diffs = curves[0]["difficulty"]
    head = f"{'run':>24} {'T':>4} " + " ".join(f"{d:>5}" for d in diffs)
    rows = [f"{name}: accuracy per difficulty", head]
    for c in curves:
        rows.append(f"{c['label'][:24]:>24} {c['steps']:>4} " + " ".join(f"{a:>5.2f}" for a in c["accuracy"]))
    return "\n".join(rows)
