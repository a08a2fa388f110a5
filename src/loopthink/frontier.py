"""The computational frontier: accuracy over (recurrence steps x task difficulty).

Each difficulty gets its own freshly generated, seeded set of instances (seed + difficulty), and
every step count is read from one rollout of the largest T. The frontier of a difficulty is the
smallest step count whose accuracy reaches the threshold (95% by default).
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
    from tqdm import tqdm

    rows = []
    for d in tqdm(difficulties, desc="frontier", disable=not progress):
        records = task.generate(n_per_cell, seed * 1_000_003 + d, (d, d), **(options or {}))
        preds = predict_over_steps(model, task, records, steps, batch_size=n_per_cell, device=device)
        correct = preds == labels_of(task, records)[None, :]
        for j, s in enumerate(steps):
            k = int(correct[j].sum())
            lo, hi = wilson_interval(k, len(records))
            rows.append({"steps": s, "difficulty": d, "accuracy": k / len(records), "n": len(records), "ci_low": lo, "ci_high": hi})
    return rows


def mean_over_seeds(grids: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per cell, the mean accuracy over seeds' grids with its Student-t 95% interval across seeds
    (:func:`loopthink.seeds.mean_ci`); ``n`` stays the instances per cell, ``per_seed`` is added."""
    from loopthink.seeds import mean_ci

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


def write_outputs(rows: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "frontier.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    line = frontier_line(rows, meta.get("threshold", THRESHOLD))
    data = {**meta, "rows": rows, "frontier": {str(d): s for d, s in line.items()}}
    (out / "frontier.json").write_text(json.dumps(data, indent=1))
    return data


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


# ---- CLI -------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from loopthink.argtypes import count, fraction, parse_int_list, parse_range, seed

    p.add_argument("run", help="run directory, or a sweep directory (mean over seeds, 95%% interval across seeds)")
    p.add_argument("--steps", type=parse_int_list, default=[1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--difficulty", type=parse_range, default=None, help="LO..HI (default: 1..4x the training max)")
    p.add_argument("--n-per-cell", type=count, default=500)
    p.add_argument("--seed", type=seed, default=1234, help="seed of the test instances (disjoint from training's)")
    p.add_argument("--threshold", type=fraction, default=THRESHOLD, help="accuracy that counts as solved, in (0, 1]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true", help="print frontier.json's summary as JSON")


def run(args: argparse.Namespace) -> int:
    from loopthink.checkpoint import load_run
    from loopthink.plots.frontier import plot_frontier
    from loopthink.seeds import INTERVAL_METHOD, is_sweep, single_point_runs

    sweep = is_sweep(args.run)
    run_dirs = single_point_runs(args.run) if sweep else [args.run]
    cfg, model, task = load_run(run_dirs[0], args.device)
    lo_t, hi_t = cfg.task.train_difficulty
    lo, hi = args.difficulty or (max(1, lo_t), 4 * hi_t)
    loaded = [(cfg, model)] + [load_run(r, args.device)[:2] for r in run_dirs[1:]]
    seeds = [c.train.seed for c, _ in loaded]
    grids = [  # every seed on the same instances
        frontier_grid(
            m, task, args.steps, list(range(lo, hi + 1)), args.n_per_cell, args.seed,
            {**cfg.task.options, **cfg.eval.options}, args.device, progress=sys.stderr.isatty(),
        )
        for _, m in loaded
    ]
    rows = mean_over_seeds(grids) if sweep else grids[0]
    meta = {"run": str(args.run), "task": task.name, "difficulty_name": task.difficulty_name, "train_difficulty": [lo_t, hi_t], "threshold": args.threshold, "seed": args.seed}
    if sweep:  # accuracy = mean over seeds; ci_low/ci_high across seeds; the frontier is the mean's
        meta.update(runs=[str(r) for r in run_dirs], seeds=seeds, interval=INTERVAL_METHOD)
    else:
        meta["interval"] = "Wilson score 95% interval over the cell's instances"
    data = write_outputs(rows, Path(args.out), meta)
    plot_frontier(data, Path(args.out) / "frontier.png")
    if args.json:
        print(json.dumps({"frontier": data["frontier"], "train_difficulty": [lo_t, hi_t]}))
    else:
        if sweep:
            print(f"mean over {len(seeds)} seeds ({', '.join(map(str, seeds))}); per-cell 95% interval across seeds in frontier.csv")
        print(summary_text(data))
        print(f"\nwrote {args.out}/frontier.csv, frontier.json, frontier.png, frontier.svg")
    return 0


def accuracy_matrix(rows: list[dict[str, Any]]) -> tuple[list[int], list[int], np.ndarray]:
    """(steps, difficulties, acc[steps_index, difficulty_index]) from grid rows."""
    steps = sorted({r["steps"] for r in rows})
    diffs = sorted({r["difficulty"] for r in rows})
    acc = np.full((len(steps), len(diffs)), np.nan)
    for r in rows:
        acc[steps.index(r["steps"]), diffs.index(r["difficulty"])] = r["accuracy"]
    return steps, diffs, acc
