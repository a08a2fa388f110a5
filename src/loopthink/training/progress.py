"""Progress that works on and off a terminal.

With a terminal on stderr, a tqdm bar. Without one (nohup, Slurm, a pipe, a CI log) a bar's
carriage returns are noise and tqdm prints nothing, so :class:`TrainProgress` writes one plain
line every ``every`` seconds instead, and :func:`timed` a start and an end line per command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def format_duration(seconds: float) -> str:
    """``42.0`` -> ``"42 s"``, ``125`` -> ``"2 min 05 s"``, ``3725`` -> ``"1 h 02 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta(done: int, total: int, elapsed: float) -> str:
    """Time left at the rate so far: ``done`` of ``total`` units took ``elapsed`` seconds; "?" before
    the first unit."""
    return format_duration(elapsed / done * (total - done)) if done > 0 else "?"


class TrainProgress:
    """Iteration progress of a training run.

    ``show``: True or False forces it; None shows it. ``bar``: a tqdm bar (terminal) or plain lines
    every ``every`` seconds (no terminal); None picks by whether stderr is a terminal."""

    def __init__(
        self, start: int, total: int, show: bool | None = True, bar: bool | None = None, every: float = 5.0, stream: TextIO | None = None
    ):
        self.start, self.total, self.every = start, total, every
        self.stream = stream or sys.stderr
        self.show = True if show is None else show
        self.t0 = self.last_line = time.monotonic()
        self.done = start
        self.bar = None
        if self.show and (is_terminal(self.stream) if bar is None else bar):
            self.bar = tqdm(total=total, initial=start, desc="train", dynamic_ncols=True, file=self.stream)

    def update(self, done: int, loss: float, acc: float, steps: int) -> None:
        self.done = done
        if not self.show:
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", T=steps)
            return
        now = time.monotonic()
        if now - self.last_line >= self.every or done == self.total:
            self.last_line = now
            ran, elapsed = done - self.start, max(now - self.t0, 1e-9)
            left = eta(ran, self.total - self.start, elapsed)
            self.write(f"train {done}/{self.total}  loss {loss:.4f}  acc {acc:.3f}  T {steps}  {ran / elapsed:.2f} it/s  ETA {left}")

    def write(self, line: str) -> None:
        """A line that does not break the bar (validation results, notes)."""
        if not self.show:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def tracked(items: Sequence[T], desc: str, show: bool, every: float = 30.0, stream: TextIO | None = None) -> Iterator[T]:
    """``items`` one by one, with their progress: a tqdm bar on a terminal; off one, a plain line
    (``eval 3/12  4 min 10 s  ETA 12 min 30 s``) once ``every`` seconds have passed since the last,
    so a long evaluation in a log or a Slurm job is seen to move, and a short one prints nothing."""
    stream = stream or sys.stderr
    if not show:
        yield from items
        return
    if is_terminal(stream):
        yield from tqdm(items, desc=desc, leave=False, file=stream)
        return
    t0 = last = time.monotonic()
    for done, item in enumerate(items):
        yield item
        now = time.monotonic()
        if now - last >= every and done + 1 < len(items):
            last = now
            left = eta(done + 1, len(items), now - t0)
            print(f"{desc} {done + 1}/{len(items)}  {format_duration(now - t0)}  ETA {left}", file=stream, flush=True)


def accuracy_line(acc: dict[str, float], steps: int, difficulty_name: str) -> str:
    """``validation accuracy at T=8: hops 1 1.000, hops 2 0.996``."""
    cells = ", ".join(f"{difficulty_name} {d} {a:.3f}" for d, a in acc.items())
    return f"validation accuracy at T={steps}: {cells}"


@contextmanager
def timed(what: str, stream: TextIO | None = None) -> Iterator[dict[str, Any]]:
    """Print ``WHAT: started`` and ``WHAT: finished in 12.3 s`` (or ``failed after``) on stderr."""
    stream = stream or sys.stderr
    t0 = time.monotonic()
    print(f"{what}: started", file=stream, flush=True)
    state: dict[str, Any] = {}
    ok = False
    try:
        yield state
        ok = True
    finally:
        verb = "finished in" if ok else "stopped after"
        print(f"{what}: {verb} {format_duration(time.monotonic() - t0)}", file=stream, flush=True)
