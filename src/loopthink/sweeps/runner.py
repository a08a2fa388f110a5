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
    _Scheduler(config, runs, out, devices, threads, meta, show).run_all()


class _Scheduler:
    """One :func:`execute`: the runs waiting, the children running, the free device slots, and the
    progress shown; sweep.json is rewritten whenever a run starts or ends."""

    def __init__(
        self, config: str, runs: list[Run], out: Path, devices: list[str], threads: int | None, meta: dict[str, Any], show: bool
    ) -> None:
        self.config, self.runs, self.out, self.devices, self.threads, self.meta = config, runs, out, devices, threads, meta
        self.todo = deque(r for r in runs if r.status == "pending")
        self.total = len(runs)
        self.done = self.total - len(self.todo)
        self.free = list(range(len(devices)))
        self.active: list[_Child] = []
        self.bar = tqdm(total=self.total, initial=self.done, desc="sweep", unit="run", disable=not show, file=sys.stderr)
        self.say = self.bar.write if show else (lambda s: print(s, file=sys.stderr))

    def run_all(self) -> None:
        self._write()
        try:
            while self.todo or self.active:
                while self.todo and self.free:
                    self._start(self.todo.popleft(), self.free.pop(0))
                    self._write()
                if self._reap():
                    self._write()
                else:
                    time.sleep(0.05)
        except KeyboardInterrupt:
            self._stop_all()
            raise
        finally:
            self.bar.close()
            self.meta["wall_s"] = round(time.time() - self.meta["started"], 3)
            self._write()

    def _write(self) -> None:
        write_sweep(self.out, self.meta, self.runs)

    def _command(self, run: Run, dev: str) -> list[str]:
        """The train command; the device is named only where it differs from what the config says,
        and the thread count only where the overrides do not set their own."""
        meta = self.meta
        extra = [] if dev == meta["config_device"] and not meta["device_flag"] else [f"train.device={dev}"]
        if self.threads and not any(o.startswith("train.threads=") for o in run.overrides):
            extra.append(f"train.threads={self.threads}")
        return train_command(self.config, run, self.out, extra)

    def _start(self, run: Run, slot: int) -> None:
        dev = self.devices[slot]
        cmd = self._command(run, dev)
        run.action = "resumed" if "--resume" in cmd else "trained"
        (self.out / run.dir).mkdir(parents=True, exist_ok=True)
        log = open(self.out / run.dir / LOG, "a")
        log.write(f"# loopthink sweep, {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(cmd)}\n")
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
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
        self.active.append(_Child(run, proc, slot, log, log.tell(), time.monotonic()))

    def _reap(self) -> bool:
        """Finish every child that has exited; whether any had."""
        finished = [(c, c.proc.poll()) for c in self.active]
        finished = [(c, rc) for c, rc in finished if rc is not None]
        for c, rc in finished:
            self.active.remove(c)
            self._finish(c, rc)
        return bool(finished)

    def _finish(self, child: _Child, rc: int) -> None:
        child.log.close()
        run = child.run
        run.returncode, run.ended = rc, time.time()
        _add_wall_time(run, child)
        run.val = val_of(self.out / run.dir)
        if rc == 0 and run_finished(self.out / run.dir, run.iters):
            run.status = "finished"
        else:
            run.status = "failed"
            run.error = _tail(self.out / run.dir / LOG, child.log_start) or f"exit status {rc}"
        self.done += 1
        self.bar.update(1)
        self.say(f"[{self.done}/{self.total}] {run.dir}: {run.status} ({run.action}, {run.wall_s:.1f}s{'' if rc == 0 else f', exit {rc}'})")
        self.free.append(child.slot)
        self.free.sort()

    def _stop_all(self) -> None:
        """Ctrl-C or SIGTERM: stop every child (killed after 15 s) and record its run as interrupted."""
        for c in self.active:
            c.proc.terminate()
        for c in self.active:
            try:
                c.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
            c.log.close()
            c.run.status, c.run.ended = "interrupted", time.time()
            _add_wall_time(c.run, c)


def _add_wall_time(run: Run, child: _Child) -> None:
    """This attempt's wall time, and the total over every attempt (a resumed run adds to it)."""
    run.wall_s = round(time.monotonic() - child.t0, 3)
    run.wall_s_total = round(run.wall_s_total + run.wall_s, 3)
