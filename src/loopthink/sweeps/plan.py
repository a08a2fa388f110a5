"""Seed (and grid) sweeps: one training run per seed and grid point, several at once.

    loopthink sweep CONFIG.yaml --seeds 0,1,2 [--grid model.d_model=32,64 ...] [--jobs J]
                    --out runs/NAME [key=value overrides ...]

Every run is a child process ``python -m loopthink.cli train CONFIG ... --out RUN --no-progress``,
so a crash of one run does not take the sweep down; failures are listed with the tail of their
stderr at the end (and the exit status is 1). Layout::

    OUT/sweep.json                                  the plan and every run's status / wall time
    OUT/seed0/, OUT/seed1/ ...                      without --grid
    OUT/model.d_model=32,train.lr=0.001/seed0/ ...  one folder per grid point (cartesian product)

Each run's stdout/stderr go to ``RUN/train.log``. Running the same command again resumes the
sweep: finished runs (checkpoint at ``train.iters``) are skipped, unfinished ones continue from
their checkpoint (``train --resume``), the rest start. To add seeds, pass the full list
(``--seeds 0..9``).

Parallelism: ``--jobs`` processes at once (default on the CPU: every run at once when there are at
most twice as many runs as cores, else one per core; one per GPU when the device is CUDA); each CPU child gets ``train.threads = max(1, cores // jobs)`` unless the overrides
set ``train.threads``. With ``--device cuda`` (or ``train.device: cuda`` in the config) the runs are
spread over the visible GPUs, one process per GPU (``train.device=cuda:i``); ``--device cuda:0,2``
picks GPUs. Runs are scheduled whole, so S runs on J slots take ``ceil(S / J)`` rounds (3 runs on 2
cores: about 2x one run); when S is a little above the core count, ``--jobs S`` (every run at once,
one thread each, time-sliced) can get closer to the ideal ``S / cores``.

On a cluster, ``--dry-run`` writes ``sweep.json`` and prints one ``train`` command per run; launch
each as its own job, e.g. under torchrun for several GPUs per run::

    torchrun --nproc_per_node=4 -m loopthink.cli train CONFIG train.seed=1 --out OUT/seed1 --no-progress

(add ``--resume`` when the run directory already holds a checkpoint). ``eval``, ``frontier`` and
``compare`` read ``OUT`` as soon as runs finish; ``loopthink sweep`` with the same arguments
updates ``sweep.json``'s status.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch

from loopthink.config import ConfigError, load_config
from loopthink.sweeps import launchers
from loopthink.sweeps.dirs import run_finished
from loopthink.sweeps.runner import Run, Terminated, execute, previous_runs, train_command, val_of, write_sweep
from loopthink.training.rundir import RunError, exclusive_lock


# ---- the grid ------------------------------------------------------------------------------------
def split_values(text: str) -> list[str]:
    """Split on commas outside brackets/braces: ``"1,[1,3],{a: 1}"`` -> ``["1", "[1,3]", "{a: 1}"]``."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return [v for v in out if v]


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["model.d_model=32,64", "train.lr=1e-3"]`` -> [("model.d_model", ["32", "64"]), ...]."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, eq, vals = item.partition("=")
        key = key.strip()
        values = split_values(vals)
        if not eq or not key or not values:
            raise ConfigError(f"--grid {item!r} must look like key=v1,v2 (e.g. model.d_model=32,64)")
        if key == "train.seed":
            raise ConfigError("--grid train.seed: give seeds with --seeds")
        if key in (k for k, _ in grid):
            raise ConfigError(f"--grid {key} given twice")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {item!r}: repeated value")
        grid.append((key, values))
    return grid


def grid_points(grid: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """(name, overrides) per point of the cartesian product; name ``k1=v1,k2=v2`` ("" without a grid)."""
    points = []
    for combo in itertools.product(*(vals for _, vals in grid)):
        overrides = [f"{k}={v}" for (k, _), v in zip(grid, combo)]
        points.append((",".join(overrides).replace("/", "_").replace(" ", ""), overrides))
    return points


# ---- the plan ------------------------------------------------------------------------------------
def plan_runs(config: str, overrides: list[str], seeds: list[int], points: list[tuple[str, list[str]]]) -> list[Run]:
    """One validated run per (grid point, seed); a bad config fails here, before anything starts."""
    if any(o.split("=", 1)[0].strip() == "train.seed" for o in overrides):
        raise ConfigError("override train.seed: give seeds with --seeds")
    runs = []
    for name, gp_over in points:
        for seed in seeds:
            over = [*overrides, *gp_over, f"train.seed={seed}"]
            try:
                cfg = load_config(config, over)
            except ConfigError as e:
                raise ConfigError(f"grid point {name or '(none)'}: {e}") from None
            rel = f"{name}/seed{seed}" if name else f"seed{seed}"
            runs.append(Run(name, seed, rel, over, cfg.train.iters))
    return runs


def default_cpu_jobs(n_runs: int) -> int:
    """Whole runs are scheduled, so 3 runs on 2 one-run-per-core slots take 2 rounds (2x one run).
    Up to 2 runs per core, running all at once (one thread each, time-sliced) finishes in about
    n_runs / cores rounds instead, e.g. 1.5x for 3 runs on 2 cores."""
    cores = os.cpu_count() or 1
    return n_runs if 0 < n_runs <= 2 * cores else cores


def resolve_devices(device: str, jobs: int | None) -> tuple[list[str], int]:
    """(device per job slot, jobs): CPU -> ["cpu"] * jobs; CUDA -> one slot per (chosen) GPU."""
    if device.startswith("cuda"):
        spec = device[4:].lstrip(":")
        if spec:
            try:
                gpus = [int(g) for g in spec.split(",")]
            except ValueError:
                raise ConfigError(f"device {device!r}: expected cuda, cuda:0 or cuda:0,2") from None
        else:
            gpus = list(range(torch.cuda.device_count()))
        if not gpus:
            raise ConfigError(f"device {device!r}: no CUDA device visible")
        jobs = jobs or len(gpus)
        return [f"cuda:{gpus[i % len(gpus)]}" for i in range(jobs)], jobs
    jobs = jobs or os.cpu_count() or 1
    return [device] * jobs, jobs


def _lock(out: Path) -> TextIO:
    """An exclusive lock on OUT/sweep.lock: two sweeps must not train into the same runs."""
    try:
        return exclusive_lock(out / "sweep.lock", f"{out}: another sweep is running on this directory")
    except RunError as e:
        raise ConfigError(str(e)) from None


# ---- the whole sweep -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains: the config (as given and resolved), the overrides, seeds and grid, one
    validated run per (grid point, seed), and the device the config asks for."""

    config_arg: str
    config: str
    overrides: list[str]
    seeds: list[int]
    grid: list[tuple[str, list[str]]]
    points: list[tuple[str, list[str]]]
    runs: list[Run]
    config_device: str


@dataclass(frozen=True)
class Slots:
    """Where the runs go: one device per job slot, ``jobs`` at once, ``threads`` each on the CPU."""

    devices: list[str]
    jobs: int
    threads: int


def plan_sweep(config: str | Path, overrides: list[str], seeds: list[int], grid: list[str]) -> SweepPlan:
    """The plan of a sweep; a bad grid or config fails here, before anything is written."""
    config_arg, config = str(config), str(Path(config).resolve())
    parsed = parse_grid(grid)
    points = grid_points(parsed)
    runs = plan_runs(config, list(overrides), seeds, points)
    config_device = load_config(config, list(overrides)).train.device
    return SweepPlan(config_arg, config, list(overrides), seeds, parsed, points, runs, config_device)


def choose_slots(n_todo: int, jobs: int | None, device: str) -> Slots:
    """Slots for ``n_todo`` runs: ``jobs`` if given, else one per GPU on CUDA or
    :func:`default_cpu_jobs` on the CPU; never more slots than runs to do."""
    wanted = jobs if jobs is not None or device.startswith("cuda") else default_cpu_jobs(n_todo)
    devices, jobs = resolve_devices(device, wanted)
    jobs = max(1, min(jobs, n_todo)) if n_todo else jobs
    return Slots(devices[:jobs], jobs, max(1, (os.cpu_count() or 1) // jobs))


def sweep_meta(plan: SweepPlan, slots: Slots, device_flag: str | None) -> dict[str, Any]:
    """sweep.json's header: the plan and how it is run."""
    return {
        "version": 1,
        "config": plan.config_arg,
        "config_path": plan.config,
        "overrides": plan.overrides,
        "seeds": plan.seeds,
        "grid": dict(plan.grid),
        "grid_points": [{"name": n, "overrides": o} for n, o in plan.points],
        "jobs": slots.jobs,
        "threads_per_run": slots.threads,
        "devices": slots.devices,
        "config_device": plan.config_device,
        "device_flag": device_flag,
        "started": time.time(),
        "wall_s": None,
    }


def run_sweep(
    config: str | Path,
    overrides: list[str],
    seeds: list[int],
    grid: list[str],
    out: str | Path,
    jobs: int | None = None,
    device: str | None = None,
    dry_run: bool = False,
    show: bool = False,
    launcher: Any = None,
) -> tuple[list[Run], list[list[str]]]:
    """Train every (grid point, seed) run not yet finished in ``out``; (runs, []) when done.

    ``grid`` holds ``key=v1,v2`` items; ``device`` overrides the config's train.device. With
    ``dry_run`` nothing trains: sweep.json is written and the train commands still to run are returned."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    plan = plan_sweep(config, overrides, seeds, grid)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        todo = _mark_finished(plan.runs, out)
        slots = choose_slots(len(todo), jobs, device or plan.config_device)
        meta = sweep_meta(plan, slots, device)
        if dry_run:
            write_sweep(out, meta, plan.runs)
            return plan.runs, [train_command(plan.config, r, out, [f"train.device={device}"] if device else []) for r in todo]
        _launch(plan, todo, out, slots, meta, launcher, show)
    finally:
        lock.close()
    return plan.runs, []


def _launch(plan: SweepPlan, todo: list[Run], out: Path, slots: Slots, meta: dict[str, Any], launcher: Any, show: bool) -> None:
    """Submit the runs still to do as cluster jobs (``--launcher submitit``), or run them here."""
    runs = plan.runs
    if len(todo) < len(runs):
        print(f"sweep {out}: {len(runs) - len(todo)} of {len(runs)} runs already finished", file=sys.stderr)
    if launcher is not None and launcher.launcher == "submitit" and todo:
        launchers.submit(plan.config, runs, out, meta, launcher, write_sweep)
        return  # submitted: nothing left for the local scheduler
    if todo:
        devices = slots.devices
        where = f", {slots.threads} thread(s) each" if not devices[0].startswith("cuda") else f" on {', '.join(sorted(set(devices)))}"
        print(f"sweep {out}: {len(todo)} run(s), {slots.jobs} at a time" + where, file=sys.stderr)
    _execute_until_term(plan.config, runs, out, slots.devices, slots.threads, meta, show)


def _mark_finished(runs: list[Run], out: Path) -> list[Run]:
    """Carry over what sweep.json knows of earlier attempts; mark finished runs; the runs still to do."""
    prev = previous_runs(out)
    for r in runs:
        old = prev.get(r.dir, {})
        r.wall_s_total = float(old.get("wall_s_total") or 0.0)
        r.attempts = int(old.get("attempts") or 0)
        if run_finished(out / r.dir, r.iters):
            r.status, r.action, r.val = "finished", "skipped", val_of(out / r.dir)
            r.wall_s, r.started, r.ended, r.device = old.get("wall_s"), old.get("started"), old.get("ended"), old.get("device")
    return [r for r in runs if r.status == "pending"]


def _execute_until_term(
    config: str, runs: list[Run], out: Path, devices: list[str], threads: int, meta: dict[str, Any], show: bool
) -> None:
    """:func:`execute` with SIGTERM handled like Ctrl-C (children stopped, state recorded)."""
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, on_term)
    try:
        execute(config, runs, out, devices, threads, meta, show=show)
    finally:
        signal.signal(signal.SIGTERM, old_term)
