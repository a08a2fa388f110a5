"""The computational frontier: accuracy over (recurrence steps x task difficulty).

Each difficulty gets its own freshly generated, seeded set of instances (seed + difficulty), and
every step count is read from one rollout of the largest T. The frontier of a difficulty is the
smallest step count whose accuracy reaches the threshold (95% by default).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from loopthink.analysis.accuracy import correct_counts
from loopthink.analysis.stats import INTERVAL_METHOD, mean_ci, wilson_interval
from loopthink.sweeps.dirs import is_sweep, single_point_runs
from loopthink.training.rundir import load_run

THRESHOLD = 0.95


def frontier_grid(
    model: Any,
    task: Any,
    steps: list[int],
    difficulties: list[int],
    n_per_cell: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Rows ``{steps, difficulty, accuracy, n, ci_low, ci_high}`` for every grid cell."""
    data = {d: task.generate(n_per_cell, seed * 1_000_003 + d, (d, d), **(options or {})) for d in difficulties}
    counts = correct_counts(model, task, data, steps, progress=progress, desc="frontier", batch_size=n_per_cell, device=device)
    rows = []
    for k, d in enumerate(sorted(data)):
        n = len(data[d])
        for j, s in enumerate(steps):
            lo, hi = wilson_interval(int(counts[j, k]), n)
            rows.append({"steps": s, "difficulty": d, "accuracy": int(counts[j, k]) / n, "n": n, "ci_low": lo, "ci_high": hi})
    return rows


def mean_over_seeds(grids: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per cell, the mean accuracy over seeds' grids with its Student-t 95% interval across seeds
    (:func:`loopthink.analysis.stats.mean_ci`); ``n`` stays the instances per cell, ``per_seed`` is added."""
    rows = []
    for cells in zip(*grids):
        ci = mean_ci([c["accuracy"] for c in cells], (0.0, 1.0))
        rows.append({**cells[0], "accuracy": ci["mean"], "ci_low": ci["low"], "ci_high": ci["high"], "per_seed": ci["values"]})
    return rows


def frontier_line(rows: list[dict[str, Any]], threshold: float = THRESHOLD) -> dict[int, int | None]:
    """Per difficulty, the smallest step count reaching ``threshold`` (None if none does)."""
    out: dict[int, int | None] = {}
    for d in sorted({r["difficulty"] for r in rows}):
        ok = sorted(r["steps"] for r in rows if r["difficulty"] == d and r["accuracy"] >= threshold)
        out[d] = ok[0] if ok else None
    return out


def write_outputs(data: dict[str, Any], out: Path) -> None:
    """``frontier.csv`` (one row per cell) and ``frontier.json`` (everything) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "frontier.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"], extrasaction="ignore")
        w.writeheader()
        w.writerows(data["rows"])
    (out / "frontier.json").write_text(json.dumps(data, indent=1))


def summary_text(data: dict[str, Any]) -> str:
    name = data.get("difficulty_name", "difficulty")
    lines = [f"{name:>10}  smallest steps reaching {data.get('threshold', THRESHOLD):.0%}   best accuracy (at steps)"]
    for d, s in data["frontier"].items():
        cells = [r for r in data["rows"] if str(r["difficulty"]) == d]
        best = max(cells, key=lambda r: (r["accuracy"], -r["steps"]))
        lo, hi = data.get("train_difficulty", (None, None))
        tag = " (trained)" if lo is not None and lo <= int(d) <= hi else ""
        lines.append(f"{d:>10}  {str(s) if s else '-':>8}                      {best['accuracy']:.3f} (T={best['steps']}){tag}")
    return "\n".join(lines)


def measure_frontier(
    run: str | Path,
    steps: list[int],
    difficulty: tuple[int, int] | None = None,
    n_per_cell: int = 500,
    seed: int = 1234,
    threshold: float = THRESHOLD,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """``frontier.json``'s content for a run, or for a sweep (mean over seeds, interval across seeds).

    ``difficulty`` defaults to 1..4x the training maximum; every seed sees the same instances."""
    sweep = is_sweep(run)
    run_dirs = single_point_runs(run) if sweep else [run]
    cfg, model, task = load_run(run_dirs[0], device)
    lo_t, hi_t = cfg.task.train_difficulty
    lo, hi = difficulty or (max(1, lo_t), 4 * hi_t)
    loaded = [(cfg, model)] + [load_run(r, device)[:2] for r in run_dirs[1:]]
    options = {**cfg.task.options, **cfg.eval.options}
    diffs = task.difficulty_levels(lo, hi)
    grids = [frontier_grid(m, task, steps, diffs, n_per_cell, seed, options, device, progress=progress) for _, m in loaded]
    meta: dict[str, Any] = {
        "run": str(run),
        "task": task.name,
        "difficulty_name": task.difficulty_name,
        "train_difficulty": [lo_t, hi_t],
        "threshold": threshold,
        "seed": seed,
    }
    if sweep:  # accuracy = mean over seeds; ci_low/ci_high across seeds; the frontier is the mean's
        meta.update(runs=[str(r) for r in run_dirs], seeds=[c.train.seed for c, _ in loaded], interval=INTERVAL_METHOD)
    else:
        meta["interval"] = "Wilson score 95% interval over the cell's instances"
    rows = mean_over_seeds(grids) if sweep else grids[0]
    line = frontier_line(rows, threshold)
    return {**meta, "rows": rows, "frontier": {str(d): s for d, s in line.items()}}


def accuracy_matrix(rows: list[dict[str, Any]]) -> tuple[list[int], list[int], np.ndarray]:
    """(steps, difficulties, acc[steps_index, difficulty_index]) from grid rows."""
    steps = sorted({r["steps"] for r in rows})
    diffs = sorted({r["difficulty"] for r in rows})
    acc = np.full((len(steps), len(diffs)), np.nan)
    for r in rows:
        acc[steps.index(r["steps"]), diffs.index(r["difficulty"])] = r["accuracy"]
    return steps, diffs, acc
