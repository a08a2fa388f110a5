"""Bit strings drawn unlike loopthink's uniform ones, for the external validity of prefix sums.

Each family maps ``(n, seed, difficulty)`` to ``n`` records in the prefix_sums JSONL format
(docs/formats.md): ``{"task": "prefix_sums", "bits": ..., "label": ...}``, the length uniform in
``difficulty``, plus ``family`` and ``bucket`` (the length). Labels come from
``itertools.accumulate`` with ``operator.xor``; nothing here shares code with
``loopthink.tasks.prefix_sums``, whose strings are uniform bits (p = 0.5).

Families (``FAMILIES``):

* ``biased_low``: each bit 1 with probability 0.1 (long stretches where the parity holds);
* ``biased_high``: each bit 1 with probability 0.9 (the parity flips at almost every bit);
* ``long_runs``: alternating runs, runs of ones about a third of the length long, runs of zeros
  short (geometric lengths), so the answer alternates with period 2 for long stretches;
* ``single_one``: all zeros but one 1 at a random place: every label after it flips, so the one
  bit's effect must travel to the end of the string.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Callable

MAX_LENGTH = 4096  # the task's own bound on a record


def _record(bits: list[int], family: str) -> dict:
    parity = itertools.accumulate(bits, operator.xor)
    return {
        "task": "prefix_sums",
        "bits": "".join(map(str, bits)),
        "label": "".join(map(str, parity)),
        "family": family,
        "bucket": len(bits),
    }


def _bernoulli(p: float) -> Callable[[int, random.Random], list[int]]:
    return lambda length, rng: [int(rng.random() < p) for _ in range(length)]


def _geometric(mean: float, rng: random.Random) -> int:
    """A run length >= 1 with the given mean (inverse-transform sampling of a geometric law)."""
    count = 1
    while rng.random() > 1.0 / mean:
        count += 1
    return count


def _long_runs(length: int, rng: random.Random) -> list[int]:
    bits: list[int] = []
    value = int(rng.random() < 0.5)
    while len(bits) < length:
        mean = max(2.0, length / 3) if value else 2.0
        bits += [value] * _geometric(mean, rng)
        value ^= 1
    return bits[:length]


def _single_one(length: int, rng: random.Random) -> list[int]:
    bits = [0] * length
    bits[rng.randrange(length)] = 1
    return bits


def _family(name: str, draw: Callable[[int, random.Random], list[int]]) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    def generate(n: int, seed: int, difficulty: tuple[int, int] = (1, 32)) -> list[dict]:
        lo, hi = int(difficulty[0]), int(difficulty[1])
        if not 1 <= lo <= hi <= MAX_LENGTH:
            raise ValueError(f"difficulty (length) must satisfy 1 <= lo <= hi <= {MAX_LENGTH}, got {difficulty}")
        rng = random.Random(seed)
        return [_record(draw(rng.randint(lo, hi), rng), name) for _ in range(n)]

    return generate


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {
    "biased_low": _family("biased_low", _bernoulli(0.1)),
    "biased_high": _family("biased_high", _bernoulli(0.9)),
    "long_runs": _family("long_runs", _long_runs),
    "single_one": _family("single_one", _single_one),
}
