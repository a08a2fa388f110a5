"""Sweep directories as first-class inputs: find a sweep's runs (finished ones, per grid point).

A sweep directory (made by ``loopthink sweep``) holds ``sweep.json`` and one run per seed::

    OUT/sweep.json
    OUT/seed0/ OUT/seed1/ ...                       without a grid
    OUT/model.d_model=32/seed0/ ...                 with a grid: one folder per grid point

``eval``, ``frontier`` and ``compare`` accept such a directory (or one grid-point folder of it)
wherever they accept a run, and report the mean over seeds with a 95% interval
(:mod:`loopthink.analysis.sweeps`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from loopthink.training.rundir import RunError, checkpointed_iteration

SWEEP_FILE = "sweep.json"


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
    rel = entry.get("dir") if isinstance(entry, dict) else None
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
        raise RunError(f"{root / SWEEP_FILE}: a run's 'dir' must be a relative path, got {rel!r}")
    run = root / rel
    if not run.resolve().is_relative_to(root.resolve()):
        raise RunError(f"{root / SWEEP_FILE}: run dir {rel!r} is outside the sweep directory")
    return run


def run_finished(run: str | Path, iters: int | None = None) -> bool:
    """The run's newest complete checkpoint is at ``iters`` (default: the run's own train.iters)."""
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
    runs = sweep_runs(path)
    if not runs:
        raise RunError(f"{path}: no finished runs in this sweep yet")
    if len(runs) > 1:
        names = ", ".join(f"{Path(path) / gp}" for gp in runs)
        raise RunError(f"{path}: the sweep has {len(runs)} grid points; pass one of them: {names}")
    return next(iter(runs.values()))
