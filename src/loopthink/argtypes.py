"""argparse ``type=`` functions shared by every command: each checks one kind of value and says
what it expected, so a bad flag is a one-line usage error, never a traceback deeper in.

Bounds: counts (``--n``, ``--batch-size``, ...) are 1..``MAX_COUNT``; seeds 0..``MAX_SEED``;
difficulties 0..``MAX_DIFFICULTY``; step counts 1..``MAX_STEPS`` (as in configs).
"""

from __future__ import annotations

import argparse
import math

from loopthink.config import MAX_DIFFICULTY, MAX_STEPS

MAX_COUNT = 10_000_000  # instances, batch sizes, runs: beyond this a command would run for days
MAX_SEED = 2**62 - 1


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _bounded(text: str, lo: int, hi: int, what: str) -> int:
    value = _int(text, what)
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"expected {what} in {lo}..{hi}, got {value}")
    return value


def count(text: str) -> int:
    """A positive count: ``--n``, ``--batch-size``, ``--n-per-cell``, ``--runs``, ``--jobs``."""
    return _bounded(text, 1, MAX_COUNT, "a positive integer")


def seed(text: str) -> int:
    return _bounded(text, 0, MAX_SEED, "a seed (an integer >= 0)")


def step_count(text: str) -> int:
    """A number of recurrence steps: ``--max-steps``, ``--steps`` of diagnose."""
    return _bounded(text, 1, MAX_STEPS, "a number of steps")


def parse_range(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"1..8"`` -> (1, 8); both ends in 0..``MAX_DIFFICULTY``."""
    lo, _, hi = text.partition("..")
    lo_i, hi_i = _int(lo, "N or LO..HI"), _int(hi or lo, "N or LO..HI")
    if lo_i > hi_i:
        raise argparse.ArgumentTypeError(f"empty range {text!r}")
    if lo_i < 0 or hi_i > MAX_DIFFICULTY:
        raise argparse.ArgumentTypeError(f"expected a range within 0..{MAX_DIFFICULTY}, got {text!r}")
    return lo_i, hi_i


def parse_int_list(text: str) -> list[int]:
    """``"8,16,32"`` -> [8, 16, 32]: step counts, each in 1..``MAX_STEPS``."""
    vals = [_int(v, "comma-separated integers") for v in text.split(",") if v.strip()]
    if not vals or min(vals) < 1 or max(vals) > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"expected integers in 1..{MAX_STEPS}, got {text!r}")
    return vals


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1]: an accuracy threshold."""
    value = _float(text, "a number in (0, 1]")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def open_fraction(text: str) -> float:
    """A number in (0, 1): a risk level such as a conformal alpha."""
    value = _float(text, "a number in (0, 1)")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value
