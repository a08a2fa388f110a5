"""Seed sweeps as first-class inputs: find a sweep's runs and summarise numbers across seeds.

A sweep directory (made by ``loopthink sweep``) holds ``sweep.json`` and one run per seed::

    OUT/sweep.json
    OUT/seed0/ OUT/seed1/ ...                       without a grid
    OUT/model.d_model=32/seed0/ ...                 with a grid: one folder per grid point

``eval``, ``frontier`` and ``compare`` accept such a directory (or one grid-point folder of it)
wherever they accept a run, and report the mean over seeds with a 95% interval.

Interval method (:func:`mean_ci`): the Student-t interval for the mean over seeds,
``mean +- t(0.975, n-1) * s / sqrt(n)`` with ``s`` the sample standard deviation (ddof=1). It treats
the seeds as independent draws of the whole training + evaluation pipeline, so it covers seed
variability (initialisation, data order) *and* the finite test set, but it is only as good as the
normal approximation of the per-seed values allows - with 3 seeds it is wide (t = 4.30), which is
honest. For one seed there is no spread to estimate and the interval is ``[v, v]``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

SWEEP_FILE = "sweep.json"
INTERVAL_METHOD = "Student-t 95% interval of the mean over seeds: mean +- t(0.975, n-1) * sd / sqrt(n) (sd with ddof=1); [v, v] for one seed"

# Two-sided 95% quantiles t(0.975, df) of Student's t for df = 1..30; beyond, the normal value.
T975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836,
    2.446911851, 2.364624252, 2.306004135, 2.262157163, 2.228138852,
    2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546,
    2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
    2.079613845, 2.073873068, 2.068657610, 2.063898562, 2.059538553,
    2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
)
Z975 = 1.959963985


def t_quantile_975(df: int) -> float:
    """t(0.975, df): exact (to 9 decimals) for df <= 30, the normal 1.96 beyond (within 2%)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return T975[df - 1] if df <= len(T975) else Z975


def mean_ci(values: Sequence[float], bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """``{"mean", "low", "high", "n", "values"}``: the mean of ``values`` with its 95% Student-t
    interval (see the module docstring). ``bounds`` clips the interval (e.g. (0, 1) for accuracy)."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ValueError("mean_ci of no values")
    mean = sum(vals) / n
    if n == 1:
        low = high = mean
    else:
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
        half = t_quantile_975(n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return {"mean": mean, "low": low, "high": high, "n": n, "values": vals}


# ---- sweep directories -------------------------------------------------------------------------
def _sweep_root(path: Path) -> tuple[Path, str | None] | None:
    """(sweep directory, grid point or None for all) if ``path`` is a sweep or a grid point of one."""
    if (path / SWEEP_FILE).is_file():
        return path, None
    if (path.parent / SWEEP_FILE).is_file():
        points = {r.get("grid_point") for r in read_sweep(path.parent).get("runs", [])}
        if path.name in points:
            return path.parent, path.name
    return None


def is_sweep(path: str | Path) -> bool:
    """True for a sweep directory (it has ``sweep.json``) or one grid-point folder of a sweep."""
    return _sweep_root(Path(path)) is not None


def read_sweep(path: str | Path) -> dict[str, Any]:
    from loopthink.checkpoint import RunError

    f = Path(path) / SWEEP_FILE
    try:
        data = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RunError(f"{f}: unreadable sweep file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
        raise RunError(f"{f}: not a sweep file (expected an object with a list of runs)")
    return data


def sweep_run_dir(root: Path, entry: Any) -> Path:
    """The directory of one ``runs`` entry of ``root/sweep.json``: a relative path inside ``root``
    (a hand-edited or foreign sweep.json must not point commands at other directories)."""
    from loopthink.checkpoint import RunError

    rel = entry.get("dir") if isinstance(entry, dict) else None
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
        raise RunError(f"{root / SWEEP_FILE}: a run's 'dir' must be a relative path, got {rel!r}")
    run = root / rel
    if not run.resolve().is_relative_to(root.resolve()):
        raise RunError(f"{root / SWEEP_FILE}: run dir {rel!r} is outside the sweep directory")
    return run


def run_finished(run: str | Path, iters: int | None = None) -> bool:
    """The run's newest complete checkpoint is at ``iters`` (default: the run's own train.iters)."""
    import yaml

    from loopthink.checkpoint import checkpointed_iteration

    run = Path(run)
    try:
        done = checkpointed_iteration(run)
        if done is None:
            return False
        if iters is None:
            iters = yaml.safe_load((run / "config.yaml").read_text())["train"]["iters"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return done == iters


def sweep_runs(path: str | Path, finished_only: bool = True, warn: bool = True) -> dict[str, list[Path]]:
    """Grid point -> run directories (in seed order) of the sweep at ``path``.

    Without a grid the only grid point is ``""``. ``path`` may also be one grid-point folder, giving
    just that point. Unfinished runs are left out (with a note on stderr) unless ``finished_only``
    is False; grid points left with no run are dropped.
    """
    from loopthink.checkpoint import RunError

    path = Path(path)
    found = _sweep_root(path)
    if found is None:
        raise RunError(f"{path}: not a sweep (no {SWEEP_FILE})")
    root, only = found
    out: dict[str, list[Path]] = {}
    skipped = []
    for r in read_sweep(root).get("runs", []):
        run = sweep_run_dir(root, r)
        gp = str(r.get("grid_point", ""))
        if only is not None and gp != only:
            continue
        if finished_only and not run_finished(run):
            skipped.append(r["dir"])
            continue
        out.setdefault(gp, []).append(run)
    if skipped and warn:
        print(f"note: {root}: leaving out {len(skipped)} unfinished run(s): {', '.join(skipped)}", file=sys.stderr)
    return out


def single_point_runs(path: str | Path) -> list[Path]:
    """The runs of a sweep with exactly one grid point (or of one grid-point folder); RunError otherwise."""
    from loopthink.checkpoint import RunError

    runs = sweep_runs(path)
    if not runs:
        raise RunError(f"{path}: no finished runs in this sweep yet")
    if len(runs) > 1:
        names = ", ".join(f"{Path(path) / gp}" for gp in runs)
        raise RunError(f"{path}: the sweep has {len(runs)} grid points; pass one of them: {names}")
    return next(iter(runs.values()))


# ---- eval over a sweep -----------------------------------------------------------------------------
def sweep_eval(runs: Sequence[str | Path], records: list[dict], data_name: str, steps: list[int], device: str = "cpu", **kw: Any) -> dict[str, Any]:
    """The ``loopthink eval --json`` object of a sweep: every seed's run evaluated on the same
    records; accuracies are means over seeds with their 95% interval, per-seed values alongside."""
    from loopthink.checkpoint import load_run
    from loopthink.evaluate import evaluate_records
    from loopthink.tasks import DataError

    results, seeds = [], []
    for run in runs:
        cfg, model, task = load_run(run, device)
        if data_name != task.name:
            raise DataError(f"the data holds {data_name} instances but {run} was trained on {task.name}")
        results.append(evaluate_records(model, task, records, steps, device=device, **kw))
        seeds.append(cfg.train.seed)
    keys = [str(s) for s in steps]
    out: dict[str, Any] = {"n": results[0]["n"], "seeds": seeds, "runs": [str(r) for r in runs], "interval": INTERVAL_METHOD, "steps": {}}
    for s in keys:
        ci = mean_ci([r["steps"][s]["accuracy"] for r in results], (0.0, 1.0))
        out["steps"][s] = {"accuracy": ci["mean"], "ci_low": ci["low"], "ci_high": ci["high"], "per_seed": ci["values"]}
    by_diff, per_seed, by_ci = {}, {}, {}
    for k in results[0]["by_difficulty"]:
        per_seed[k] = {s: [r["by_difficulty"][k][s] for r in results] for s in keys}
        cis = {s: mean_ci(per_seed[k][s], (0.0, 1.0)) for s in keys}
        by_diff[k] = {s: cis[s]["mean"] for s in keys}
        by_ci[k] = {s: [cis[s]["low"], cis[s]["high"]] for s in keys}
    out.update(by_difficulty=by_diff, by_difficulty_per_seed=per_seed, by_difficulty_ci=by_ci, n_by_difficulty=results[0]["n_by_difficulty"])
    out["difficulty_name"] = task.difficulty_name
    return out


def format_sweep_table(result: dict[str, Any]) -> str:
    """The mean table of :func:`loopthink.evaluate.format_table`, then each step count's interval."""
    from loopthink.evaluate import format_table

    lines = [f"mean over {len(result['seeds'])} seeds ({', '.join(map(str, result['seeds']))})", format_table(result, result.get("difficulty_name", "difficulty")), "",
             "95% interval over seeds (Student t):"]
    for s, v in result["steps"].items():
        per = " ".join(f"{a:.3f}" for a in v["per_seed"])
        lines.append(f"  T={s:>4}: {v['accuracy']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]   per seed: {per}")
    return "\n".join(lines)
