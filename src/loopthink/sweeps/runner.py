"""Running a sweep's runs: each a child process ``python -m loopthink.cli train ...`` with its log in
``RUN/train.log``, ``len(devices)`` at a time, the state kept in ``sweep.json`` as it changes."""

from __future__ import annotations

import ctypes
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

from tqdm import tqdm

from loopthink.atomic import atomic_write_text
from loopthink.sweeps.dirs import SWEEP_FILE, run_finished
from loopthink.training.rundir import latest_checkpoint

LOG = "train.log"
TAIL_LINES = 20


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


def train_command(config: str, run: Run, out: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "loopthink.cli", "train", config, *run.overrides, *extra, "--out", str(out / run.dir), "--no-progress"]
    return cmd + (["--resume"] if latest_checkpoint(out / run.dir) is not None else [])


# ---- sweep.json ------------------------------------------------------------------------------------
def write_sweep(out: Path, meta: dict[str, Any], runs: list[Run]) -> None:
    statuses = {r.status for r in runs}
    status = (
        "failed"
        if "failed" in statuses
        else "interrupted"
        if "interrupted" in statuses
        else "finished"
        if statuses == {"finished"}
        else "running"
    )
    data = {**meta, "status": status, "runs": [r.as_json() for r in runs]}
    atomic_write_text(out / SWEEP_FILE, json.dumps(data, indent=1))


def previous_runs(out: Path) -> dict[str, dict[str, Any]]:
    try:
        return {r["dir"]: r for r in json.loads((out / SWEEP_FILE).read_text()).get("runs", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def val_of(run_dir: Path) -> dict[str, float]:
    ckpt = latest_checkpoint(run_dir)
    try:
        return json.loads((ckpt / "trainer.json").read_text()).get("val", {}) if ckpt else {}
    except (OSError, ValueError):
        return {}


# ---- running ---------------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM to the sweep: stop the children and record the state, like Ctrl-C."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the sweep dies (even by SIGKILL), so no orphan keeps
    writing into a run that a restarted sweep resumes."""
    try:
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


def execute(config: str, runs: list[Run], out: Path, devices: list[str], threads: int | None, meta: dict[str, Any], show: bool) -> None:
    """Run every not-yet-finished run, ``len(devices)`` at a time, updating ``runs`` and sweep.json."""
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
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
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
        run.val = val_of(out / run.dir)
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
