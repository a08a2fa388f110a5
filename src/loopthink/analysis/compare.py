"""Several runs side by side: accuracy versus difficulty on the same fresh instances.

Each run is read at one step count: the one given by ``--steps``, or with ``--steps best`` the
single step count (from ``--candidates``) with the best mean accuracy over all difficulties -
one choice per run, not one per difficulty, so the comparison does not cherry-pick cells.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from loopthink.analysis.accuracy import correct_counts
from loopthink.analysis.stats import mean_ci, wilson_interval
from loopthink.sweeps.dirs import is_sweep, sweep_runs
from loopthink.tasks import DataError
from loopthink.training.rundir import load_run

BATCH_SIZE = 512


def run_curve(model: Any, task: Any, data: dict[int, list[dict]], candidates: list[int], fixed: int | None) -> dict[str, Any]:
    """Accuracy per difficulty of one model at its chosen step count."""
    steps = [fixed] if fixed else candidates
    diffs = sorted(data)
    counts = correct_counts(model, task, data, steps, batch_size=BATCH_SIZE)  # (steps, difficulty)
    n = {d: len(data[d]) for d in diffs}
    acc = {d: counts[:, k] for k, d in enumerate(diffs)}
    mean_by_step = np.mean([acc[d] / n[d] for d in diffs], axis=0)
    j = int(np.argmax(mean_by_step))
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
    across seeds (:func:`loopthink.analysis.stats.mean_ci`) as ``ci_low``/``ci_high``. With ``--steps best``
    one step count for the whole sweep: the best mean (over seeds and difficulties)."""
    steps = [fixed] if fixed else candidates
    diffs = sorted(data)
    acc = np.zeros((len(models), len(steps), len(diffs)))  # seed x steps x difficulty
    n = np.array([len(data[d]) for d in diffs])
    for i, model in enumerate(models):
        acc[i] = correct_counts(model, task, data, steps, batch_size=BATCH_SIZE) / n[None, :]
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


def compare_runs(
    runs: Sequence[str | Path],
    labels: Sequence[str] | None = None,
    fixed_steps: int | None = None,
    candidates: Sequence[int] = (4, 8, 16, 32, 64),
    difficulty: tuple[int, int] | None = None,
    n: int = 300,
    seed: int = 4321,
    progress: bool = False,
) -> dict[str, Any]:
    """``compare.json``'s content: one curve per run (a sweep: one per grid point, mean over seeds)
    on the same fresh instances of every difficulty (default 1..4x the first run's training max)."""
    labels = list(labels) if labels else [Path(r).name for r in runs]
    if len(labels) != len(runs):
        raise DataError(f"--labels has {len(labels)} names for {len(runs)} runs")
    entries = _entries(runs, labels)
    loaded_entries = [[load_run(d) for d in dirs] for _, dirs, _ in entries]
    tasks = {t.name for group in loaded_entries for _, _, t in group}
    if len(tasks) > 1:
        raise DataError(f"runs are on different tasks ({', '.join(sorted(tasks))}); compare runs of one task")
    cfg0, _, task = loaded_entries[0][0]
    lo_t, hi_t = cfg0.task.train_difficulty
    lo, hi = difficulty or (max(1, lo_t), 4 * hi_t)
    opts = {**cfg0.task.options, **cfg0.eval.options}
    data = {d: task.generate(n, seed * 1_000_003 + d, (d, d), **opts) for d in task.difficulty_levels(lo, hi)}
    curves = []
    for (label, _, sweep), group in tqdm(list(zip(entries, loaded_entries)), desc="compare", disable=not progress):
        cfg = group[0][0]
        if sweep:
            curve = {
                "seeds": [c.train.seed for c, _, _ in group],
                **sweep_curve([m for _, m, _ in group], task, data, list(candidates), fixed_steps),
            }
        else:
            curve = run_curve(group[0][1], task, data, list(candidates), fixed_steps)
        curves.append({"label": label, "arch": cfg.arch, **curve})
    return {"task": task.name, "difficulty_name": task.difficulty_name, "train_difficulty": [lo_t, hi_t], "runs": curves}


def _entries(runs: Sequence[str | Path], labels: Sequence[str]) -> list[tuple[str, list[str | Path], bool]]:
    """(label, run dirs, is a sweep) per curve: a plain run is one curve, a sweep one per grid point."""
    entries: list[tuple[str, list[str | Path], bool]] = []
    for label, r in zip(labels, runs):
        if not is_sweep(r):
            entries.append((label, [r], False))
            continue
        points = sweep_runs(r)
        if not points:
            raise DataError(f"{r}: no finished runs in this sweep yet")
        entries += [(f"{label}/{gp}" if len(points) > 1 else label, list(dirs), True) for gp, dirs in points.items()]
    return entries


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """``compare.json`` and ``compare.csv`` (one row per run and difficulty) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    with open(out / "compare.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"])
        for c in result["runs"]:
            for i, d in enumerate(c["difficulty"]):
                w.writerow([c["label"], c["steps"], d, c["accuracy"][i], c["n"][i], c["ci_low"][i], c["ci_high"][i]])


def legend(c: dict[str, Any]) -> str:
    seeds = f", mean of {len(c['seeds'])} seeds" if "seeds" in c else ""
    return f"{c['label']} (T={c['steps']}{seeds})"


def table(curves: list[dict[str, Any]], name: str) -> str:
    diffs = curves[0]["difficulty"]
    head = f"{'run':>24} {'T':>4} " + " ".join(f"{d:>5}" for d in diffs)
    rows = [f"{name}: accuracy per difficulty", head]
    for c in curves:
        rows.append(f"{c['label'][:24]:>24} {c['steps']:>4} " + " ".join(f"{a:>5.2f}" for a in c["accuracy"]))
    return "\n".join(rows)
