"""A plug-in task in one file: is the number of 1s in a bit string odd?

Record: ``{"task": "parity", "bits": "0110", "label": false}``; difficulty = the string's length.
Registered in-process with ``loopthink.register_task("parity", ParityTask)``, or by a package's
entry point ``[project.entry-points."loopthink.tasks"] parity = "my_package.parity:ParityTask"``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks import Batch, DataError, Task


class ParityTask(Task):
    name: ClassVar[str] = "parity"
    classes: ClassVar[tuple[str, ...]] = ("even", "odd")  # labels are indices into this
    difficulty_name: ClassVar[str] = "length"
    vocab: ClassVar[tuple[str, ...]] = ("<pad>", "<cls>", "0", "1")
    interface: ClassVar[str] = "sequence"  # tokens + mask, read at token 0 (<cls>)

    def generate(self, n: int, seed: int, difficulty: tuple[int, int], *, p_one: float = 0.5) -> list[dict]:
        """``n`` random bit strings of lengths in ``difficulty``; ``p_one`` is a generator option."""
        rng = np.random.default_rng(seed)
        lengths = rng.integers(difficulty[0], difficulty[1] + 1, size=n)
        out = []
        for length in lengths:
            bits = "".join("1" if b else "0" for b in rng.random(length) < p_one)
            out.append({"task": "parity", "bits": bits, "label": bits.count("1") % 2 == 1})
        return out

    def encode(self, records: list[dict]) -> Batch:
        width = 1 + max(len(r["bits"]) for r in records)
        tokens = torch.zeros(len(records), width, dtype=torch.long)
        for i, r in enumerate(records):
            tokens[i, : 1 + len(r["bits"])] = torch.tensor([1] + [2 + int(b) for b in r["bits"]])
        labels = torch.tensor([int(r["label"]) for r in records])
        difficulty = torch.tensor([len(r["bits"]) for r in records])
        return Batch({"tokens": tokens, "mask": tokens > 0}, labels, difficulty)

    def validate(self, record: dict) -> None:
        bits, label = record.get("bits"), record.get("label")
        if not isinstance(bits, str) or not bits or set(bits) - {"0", "1"}:
            raise DataError(f"'bits' must be a non-empty string of 0 and 1, got {bits!r}")
        if label is not (bits.count("1") % 2 == 1):
            raise DataError(f"'label' must be true when 'bits' has an odd number of 1s, got {label!r}")

    def difficulty_of(self, record: dict) -> int:
        return len(record["bits"])
