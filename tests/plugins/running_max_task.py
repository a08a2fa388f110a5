"""A plug-in task answered at every position, in one file: the running maximum of a digit string.

Record: ``{"task": "running_max", "digits": "0212", "label": "0222"}`` — ``label[i]`` is the
largest of ``digits[0..i]``; difficulty = the string's length. ``per_position = True`` makes the
readout answer at every token and the metrics score the exact match of the whole string (and the
share of positions right). Registered with ``loopthink.register_task("running_max", RunningMaxTask)``.
"""

from __future__ import annotations

from itertools import accumulate
from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks import IGNORE, Batch, DataError, Task

DIGITS = "0123"


class RunningMaxTask(Task):
    name: ClassVar[str] = "running_max"
    classes: ClassVar[tuple[str, ...]] = tuple(DIGITS)  # the answer at each position
    difficulty_name: ClassVar[str] = "length"
    vocab: ClassVar[tuple[str, ...]] = ("<pad>", *DIGITS)
    interface: ClassVar[str] = "sequence"  # tokens + mask, full attention, rotary positions
    per_position: ClassVar[bool] = True  # labels (B, L): one class per token, IGNORE on padding

    def generate(self, n: int, seed: int, difficulty: tuple[int, int]) -> list[dict]:
        rng = np.random.default_rng(seed)
        out = []
        for length in rng.integers(difficulty[0], difficulty[1] + 1, size=n):
            digits = "".join(rng.choice(list(DIGITS), size=length))
            out.append({"task": "running_max", "digits": digits, "label": "".join(accumulate(digits, max))})
        return out

    def encode(self, records: list[dict]) -> Batch:
        width = max(len(r["digits"]) for r in records)
        tokens = torch.zeros(len(records), width, dtype=torch.long)
        labels = torch.full((len(records), width), IGNORE, dtype=torch.long)
        for i, r in enumerate(records):
            n = len(r["digits"])
            tokens[i, :n] = torch.tensor([1 + DIGITS.index(c) for c in r["digits"]])
            labels[i, :n] = torch.tensor([DIGITS.index(c) for c in r["label"]])
        difficulty = torch.tensor([len(r["digits"]) for r in records])
        return Batch({"tokens": tokens, "mask": tokens > 0}, labels, difficulty)

    def validate(self, record: dict) -> None:
        digits, label = record.get("digits"), record.get("label")
        if not isinstance(digits, str) or not digits or set(digits) - set(DIGITS):
            raise DataError(f"'digits' must be a non-empty string of {DIGITS}, got {digits!r}")
        if label != "".join(accumulate(digits, max)):
            raise DataError(f"'label' must be the running maximum of 'digits', got {label!r}")

    def difficulty_of(self, record: dict) -> int:
        return len(record["digits"])
