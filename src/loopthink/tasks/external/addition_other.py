"""Sums drawn unlike loopthink's uniform digits, for the external validity of addition.

Each family maps ``(n, seed, difficulty)`` to ``n`` records in the addition JSONL format
(docs/formats.md): ``{"task": "addition", "a": ..., "b": ..., "label": ...}``, the longer
operand's digit count uniform in ``difficulty``, plus ``family`` and ``bucket`` (that count).
Operands are built as Python integers and the label is Python's own ``a + b``; nothing here
shares code with ``loopthink.tasks.addition``, whose digits are uniform, so its carries rarely
run more than a few positions (a chain of ``k`` carries has probability about ``10**-k``).

Families (``FAMILIES``):

* ``carry_chain``: ``a`` ends in a run of nines half its length or longer (all nines a quarter of
  the time) and ``b`` is a small number, so one carry runs through the whole run
  (``999...9 + 1`` and its kin);
* ``forced_carry``: equal lengths, every column's digits sum to 9 or more and the units to 10 or
  more, so a carry enters and leaves every position;
* ``unequal_lengths``: the shorter operand has at most a quarter of the longer one's digits.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_DIGITS = 1024  # the task's own bound on an operand


def _number(digits: int, rng: random.Random) -> int:
    """Uniform over the numbers of exactly ``digits`` digits (0..9 for one digit)."""
    return rng.randint(0, 9) if digits == 1 else rng.randint(10 ** (digits - 1), 10**digits - 1)


def _carry_chain(d: int, rng: random.Random) -> tuple[int, int]:
    nines = d if rng.random() < 0.25 else rng.randint((d + 1) // 2, d)
    head = _number(d - nines, rng) if nines < d else 0
    if nines < d and head == 0:  # a one-digit head of 0 would be a leading zero
        head = rng.randint(1, 9)
    a = head * 10**nines + (10**nines - 1)
    b = rng.randint(1, 10 ** rng.randint(1, max(1, min(nines, 3))) - 1)  # b's units make the first carry
    return a, b


def _forced_carry(d: int, rng: random.Random) -> tuple[int, int]:
    a_digits, b_digits = [], []
    for i in range(d):  # units first
        least = 10 if i == 0 else 9
        while True:
            x, y = rng.randint(0, 9), rng.randint(0, 9)
            top_ok = i < d - 1 or d == 1 or (x > 0 and y > 0)
            if x + y >= least and top_ok:
                break
        a_digits.append(x)
        b_digits.append(y)
    return _from_units_first(a_digits), _from_units_first(b_digits)


def _from_units_first(digits: list[int]) -> int:
    return sum(v * 10**i for i, v in enumerate(digits))


def _unequal_lengths(d: int, rng: random.Random) -> tuple[int, int]:
    return _number(d, rng), _number(rng.randint(1, max(1, d // 4)), rng)


def _family(name: str, draw: Callable[[int, random.Random], tuple[int, int]]) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    def generate(n: int, seed: int, difficulty: tuple[int, int] = (1, 16)) -> list[dict]:
        lo, hi = int(difficulty[0]), int(difficulty[1])
        if not 1 <= lo <= hi <= MAX_DIGITS:
            raise ValueError(f"difficulty (digits) must satisfy 1 <= lo <= hi <= {MAX_DIGITS}, got {difficulty}")
        rng = random.Random(seed)
        records = []
        for _ in range(n):
            d = rng.randint(lo, hi)
            a, b = draw(d, rng)
            if rng.random() < 0.5:
                a, b = b, a
            records.append({"task": "addition", "a": str(a), "b": str(b), "label": str(a + b), "family": name, "bucket": d})
        return records

    return generate


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {
    "carry_chain": _family("carry_chain", _carry_chain),
    "forced_carry": _family("forced_carry", _forced_carry),
    "unequal_lengths": _family("unequal_lengths", _unequal_lengths),
}
