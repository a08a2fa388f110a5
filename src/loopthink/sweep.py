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

import argparse
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from loopthink import launchers
from loopthink.argtypes import count
from loopthink.checkpoint import RunError, atomic_write_text, exclusive_lock, latest_checkpoint
from loopthink.config import ConfigError, load_config
from loopthink.seeds import SWEEP_FILE, mean_ci, run_finished

LOG = "train.log"
TAIL_LINES = 20


# ---- argument parsing ----------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0..4"`` (inclusive) or a mix: ``"0..2,7"``; non-negative, no repeats."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("..")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2 or 0..4, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"repeated seed in {text!r}")
    return seeds


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
@dataclass
class Run:
    grid_point: str
    seed: int
    dir: str  # relative to OUT
    overrides: list[str]
    iters: int
    status: str = "pending"  # pending | running | finished | failed | interrupted
    action: str | None = None  # trained | resumed | skipped
    wall_s: float | None = None  # this invocation
    wall_s_total: float = 0.0  # summed over invocations
    attempts: int = 0
    returncode: int | None = None
    started: float | None = None
    ended: float | None = None
    device: str | None = None
    val: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    job_id: str | None = None  # --launcher submitit

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
            import torch

            gpus = list(range(torch.cuda.device_count()))
        if not gpus:
            raise ConfigError(f"device {device!r}: no CUDA device visible")
        jobs = jobs or len(gpus)
        return [f"cuda:{gpus[i % len(gpus)]}" for i in range(jobs)], jobs
    jobs = jobs or os.cpu_count() or 1
    return [device] * jobs, jobs


def train_command(config: str, run: Run, out: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "loopthink.cli", "train", config, *run.overrides, *extra, "--out", str(out / run.dir), "--no-progress"]
    return cmd + (["--resume"] if latest_checkpoint(out / run.dir) is not None else [])


# ---- sweep.json ------------------------------------------------------------------------------------
def write_sweep(out: Path, meta: dict[str, Any], runs: list[Run]) -> None:
    statuses = {r.status for r in runs}
    status = "failed" if "failed" in statuses else "interrupted" if "interrupted" in statuses else "finished" if statuses == {"finished"} else "running"
    data = {**meta, "status": status, "runs": [r.as_json() for r in runs]}
    atomic_write_text(out / SWEEP_FILE, json.dumps(data, indent=1))


def _previous(out: Path) -> dict[str, dict[str, Any]]:
    try:
        return {r["dir"]: r for r in json.loads((out / SWEEP_FILE).read_text()).get("runs", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _val_of(run_dir: Path) -> dict[str, float]:
    ckpt = latest_checkpoint(run_dir)
    try:
        return json.loads((ckpt / "trainer.json").read_text()).get("val", {}) if ckpt else {}
    except (OSError, ValueError):
        return {}


# ---- running ---------------------------------------------------------------------------------------
class _Terminated(KeyboardInterrupt):
    """SIGTERM to the sweep: stop the children and record the state, like Ctrl-C."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the sweep dies (even by SIGKILL), so no orphan keeps
    writing into a run that a restarted sweep resumes."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class _Child:
    run: Run
    proc: subprocess.Popen
    slot: int
    log: TextIO
    log_start: int
    t0: float


def _tail(path: Path, start: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])


def _lock(out: Path) -> TextIO:
    """An exclusive lock on OUT/sweep.lock: two sweeps must not train into the same runs."""
    try:
        return exclusive_lock(out / "sweep.lock", f"{out}: another sweep is running on this directory")
    except RunError as e:
        raise ConfigError(str(e)) from None


def execute(config: str, runs: list[Run], out: Path, devices: list[str], threads: int | None, meta: dict[str, Any], show: bool) -> None:
    """Run every not-yet-finished run, ``len(devices)`` at a time, updating ``runs`` and sweep.json."""
    from tqdm import tqdm

    todo = deque(r for r in runs if r.status == "pending")
    total = len(runs)
    free = list(range(len(devices)))
    active: list[_Child] = []
    bar = tqdm(total=total, initial=total - len(todo), desc="sweep", unit="run", disable=not show, file=sys.stderr)
    say = bar.write if show else (lambda s: print(s, file=sys.stderr))
    done = total - len(todo)

    def start(run: Run, slot: int) -> None:
        dev = devices[slot]
        extra = [] if dev == meta["config_device"] and not meta["device_flag"] else [f"train.device={dev}"]
        if threads and not any(o.startswith("train.threads=") for o in run.overrides):
            extra.append(f"train.threads={threads}")
        cmd = train_command(config, run, out, extra)
        run.action = "resumed" if "--resume" in cmd else "trained"
        (out / run.dir).mkdir(parents=True, exist_ok=True)
        log = open(out / run.dir / LOG, "a")
        log.write(f"# loopthink sweep, {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(cmd)}\n")
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        run.status, run.started, run.device, run.error = "running", time.time(), dev, None
        run.attempts += 1
        active.append(_Child(run, proc, slot, log, log.tell(), time.monotonic()))

    def finish(child: _Child, rc: int) -> None:
        nonlocal done
        child.log.close()
        run = child.run
        run.returncode, run.ended = rc, time.time()
        run.wall_s = round(time.monotonic() - child.t0, 3)
        run.wall_s_total = round(run.wall_s_total + run.wall_s, 3)
        run.val = _val_of(out / run.dir)
        if rc == 0 and run_finished(out / run.dir, run.iters):
            run.status = "finished"
        else:
            run.status = "failed"
            run.error = _tail(out / run.dir / LOG, child.log_start) or f"exit status {rc}"
        done += 1
        bar.update(1)
        say(f"[{done}/{total}] {run.dir}: {run.status} ({run.action}, {run.wall_s:.1f}s{'' if rc == 0 else f', exit {rc}'})")
        free.append(child.slot)
        free.sort()

    write_sweep(out, meta, runs)
    try:
        while todo or active:
            while todo and free:
                start(todo.popleft(), free.pop(0))
                write_sweep(out, meta, runs)
            finished = [(c, c.proc.poll()) for c in active]
            finished = [(c, rc) for c, rc in finished if rc is not None]
            for c, rc in finished:
                active.remove(c)
                finish(c, rc)
            if finished:
                write_sweep(out, meta, runs)
            else:
                time.sleep(0.05)
    except KeyboardInterrupt:
        for c in active:
            c.proc.terminate()
        for c in active:
            try:
                c.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
            c.log.close()
            c.run.status, c.run.ended = "interrupted", time.time()
            c.run.wall_s = round(time.monotonic() - c.t0, 3)
            c.run.wall_s_total = round(c.run.wall_s_total + c.run.wall_s, 3)
        raise
    finally:
        bar.close()
        meta["wall_s"] = round(time.time() - meta["started"], 3)
        write_sweep(out, meta, runs)


def summary(runs: list[Run]) -> str:
    """Per grid point: mean validation accuracy (over training difficulties) with its seed interval."""
    lines = []
    by_point: dict[str, list[Run]] = {}
    for r in runs:
        by_point.setdefault(r.grid_point, []).append(r)
    for gp, rs in by_point.items():
        vals = [sum(r.val.values()) / len(r.val) for r in rs if r.status == "finished" and r.val]
        name = gp or "seeds"
        if vals:
            ci = mean_ci(vals, (0.0, 1.0))
            lines.append(f"{name}: val accuracy {ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}] over {ci['n']} seed(s)")
        else:
            lines.append(f"{name}: no finished run")
    return "\n".join(lines)


# ---- CLI -------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every run (may also follow the options)")
    p.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2], help="e.g. 0,1,2 or 0..4 (default 0,1,2)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="a config key and its values; repeat for a cartesian grid")
    p.add_argument("--jobs", type=count, default=None, help="runs at once (default CPU: all runs if <= 2x cores, else one per core; CUDA: one per GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda (every visible GPU) or cuda:0,2; default: the config's train.device")
    p.add_argument("--out", required=True, help="sweep directory")
    p.add_argument("--dry-run", action="store_true", help="write sweep.json and print one train command per run (e.g. for a cluster), train nothing")
    p.epilog = "On a Slurm cluster: --launcher submitit --partition P --time MIN --gpus-per-job G (see loopthink/launchers.py)."
    launchers.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    config = str(Path(args.config).resolve())
    points = grid_points(parse_grid(args.grid))
    runs = plan_runs(config, list(args.overrides), args.seeds, points)
    config_device = load_config(config, list(args.overrides)).train.device
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        prev = _previous(out)
        for r in runs:
            old = prev.get(r.dir, {})
            r.wall_s_total = float(old.get("wall_s_total") or 0.0)
            r.attempts = int(old.get("attempts") or 0)
            if run_finished(out / r.dir, r.iters):
                r.status, r.action, r.val = "finished", "skipped", _val_of(out / r.dir)
                r.wall_s, r.started, r.ended, r.device = old.get("wall_s"), old.get("started"), old.get("ended"), old.get("device")
        todo = [r for r in runs if r.status == "pending"]
        device = args.device or config_device
        wanted = args.jobs if args.jobs is not None or device.startswith("cuda") else default_cpu_jobs(len(todo))
        devices, jobs = resolve_devices(device, wanted)
        jobs = max(1, min(jobs, len(todo))) if todo else jobs
        devices = devices[:jobs]
        cores = os.cpu_count() or 1
        threads = max(1, cores // jobs)
        meta = {
            "version": 1,
            "config": args.config,
            "config_path": config,
            "overrides": list(args.overrides),
            "seeds": args.seeds,
            "grid": {k: v for k, v in parse_grid(args.grid)},
            "grid_points": [{"name": n, "overrides": o} for n, o in points],
            "jobs": jobs,
            "threads_per_run": threads,
            "devices": devices,
            "config_device": config_device,
            "device_flag": args.device,
            "started": time.time(),
            "wall_s": None,
        }
        if args.dry_run:
            write_sweep(out, meta, runs)
            for r in todo:
                print(shlex.join(train_command(config, r, out, [f"train.device={args.device}"] if args.device else [])))
            print(f"{len(todo)} of {len(runs)} runs to do; wrote {out / SWEEP_FILE}", file=sys.stderr)
            return 0
        if len(todo) < len(runs):
            print(f"sweep {out}: {len(runs) - len(todo)} of {len(runs)} runs already finished", file=sys.stderr)
        if args.launcher == "submitit" and todo:
            launchers.submit(config, runs, out, meta, args, write_sweep)
            todo = []  # submitted: nothing left for the local scheduler below
        if todo:
            print(f"sweep {out}: {len(todo)} run(s), {jobs} at a time" + (f", {threads} thread(s) each" if not devices[0].startswith("cuda") else f" on {', '.join(sorted(set(devices)))}"), file=sys.stderr)
        old_term = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: Any) -> None:
            raise _Terminated()

        signal.signal(signal.SIGTERM, on_term)
        try:
            execute(config, runs, out, devices, threads, meta, show=sys.stderr.isatty())
        finally:
            signal.signal(signal.SIGTERM, old_term)
    finally:
        lock.close()
    print(summary(runs))
    failed = [r for r in runs if r.status == "failed"]
    for r in failed:
        print(f"\nFAILED {out / r.dir} (exit {r.returncode}); see {out / r.dir / LOG}:\n{r.error}", file=sys.stderr)
    if failed:
        print(f"\n{len(failed)} of {len(runs)} runs failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
