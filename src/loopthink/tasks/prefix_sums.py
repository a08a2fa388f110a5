"""Prefix sums mod 2: the parity of every prefix of a bit string, one answer per bit.

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "prefix_sums", "bits": "0110", "label": "0100"}

``label[i]`` is the parity of ``bits[0..i]`` (the running XOR). Difficulty = ``len(bits)``.
``classes = ("0", "1")``. This is the per-position task of Deep Thinking (Schwarzschild et al.
2021): answering bit ``i`` needs the whole prefix, so a model whose attention only reaches its
neighbours must carry the parity along the string one step per iteration, and a longer string
needs more iterations.

Encoded inputs (``Batch.inputs``), ``chain`` interface, vocabulary :data:`PREFIX_VOCAB`:

* ``tokens``: long ``(B, L)``, one token per bit (``"0"`` or ``"1"``), ``<pad>`` (0) after;
* ``mask``: bool ``(B, L)``, True on the real bits.

``Batch.labels`` is long ``(B, L)``: the prefix parity at each bit, :data:`IGNORE` on padding.

Generation is vectorised over the batch with NumPy; :meth:`PrefixSumsTask.generate` and
:meth:`PrefixSumsTask.sample_batch` share :func:`_sample`, so with the same seed
``encode(generate(n, seed, d))`` equals ``sample_batch(n, np.random.default_rng(seed), d)``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks.base import IGNORE, Batch, DataError, Task, mismatch, required

PREFIX_VOCAB = ("<pad>", "0", "1")
# Attention is local in the chain interface, so cost is linear in length; 4096 bits keep one record
# far below the 4 MiB line bound and a batch of them small.
MAX_BITS = 4096


class PrefixSumsTask(Task):
    name: ClassVar[str] = "prefix_sums"
    classes: ClassVar[tuple[str, ...]] = ("0", "1")
    difficulty_name: ClassVar[str] = "length"
    interface: ClassVar[str] = "chain"
    per_position: ClassVar[bool] = True
    vocab: ClassVar[tuple[str, ...]] = PREFIX_VOCAB

    def generate(self, n: int, seed: int, difficulty: tuple[int, int] = (1, 32)) -> list[dict]:  # type: ignore[override]
        """``n`` uniform random bit strings, length uniform in ``difficulty``."""
        bits, lengths = _sample(n, np.random.default_rng(seed), difficulty)
        labels = np.cumsum(bits, axis=1) % 2
        out = []
        for row, lab, length in zip(bits, labels, lengths):
            out.append({"task": "prefix_sums", "bits": _chars(row[:length]), "label": _chars(lab[:length])})
        return out

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        return _batch(*_sample(n, rng, difficulty))

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        lengths = np.array([len(rec["bits"]) for rec in records], dtype=np.int64)
        bits = np.zeros((len(records), int(lengths.max())), dtype=np.int64)
        for i, rec in enumerate(records):
            bits[i, : lengths[i]] = np.frombuffer(rec["bits"].encode("ascii"), dtype=np.uint8) - ord("0")
        return _batch(bits, lengths)

    def validate(self, record: dict) -> None:
        if record.get("task", "prefix_sums") != "prefix_sums":
            raise DataError(f"'task' must be 'prefix_sums', got {record.get('task')!r}")
        bits = _bit_string(record, "bits")
        label = _bit_string(record, "label")
        if len(label) != len(bits):
            raise DataError(f"'label' has {len(label)} characters but 'bits' has {len(bits)}; one label per bit")

    def verify(self, record: dict) -> None:
        """``label`` against a running XOR over Python ints."""
        acc, parities = 0, []
        for ch in record["bits"]:
            acc ^= int(ch)
            parities.append(str(acc))
        computed = "".join(parities)
        if record["label"] != computed:
            raise mismatch("label", record["label"], computed, "the running XOR of 'bits'")

    def size_of(self, record: dict) -> int:
        return 3 * len(record["bits"])  # a token and two neighbour edges per bit

    def difficulty_of(self, record: dict) -> int:
        return len(record["bits"])


def check_lengths(difficulty: tuple[int, int], bound: int, what: str) -> tuple[int, int]:
    """``(lo, hi)`` of a length range, each in ``1..bound``; a ValueError naming ``what`` otherwise."""
    lo, hi = (int(x) for x in difficulty)
    if not 1 <= lo <= hi <= bound:
        raise ValueError(f"{what} difficulty must satisfy 1 <= lo <= hi <= {bound}, got {tuple(difficulty)}")
    return lo, hi


def _sample(n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bits (n, longest) as 0/1 int64, zero after each length, and the lengths (n,)."""
    lo, hi = check_lengths(difficulty, MAX_BITS, "prefix_sums (length)")
    lengths = rng.integers(lo, hi + 1, size=n)
    width = int(lengths.max()) if n else lo
    bits = rng.integers(0, 2, size=(n, width))
    bits[np.arange(width)[None, :] >= lengths[:, None]] = 0
    return bits.astype(np.int64), lengths.astype(np.int64)


def _chars(values: np.ndarray) -> str:
    return (values.astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def _batch(bits: np.ndarray, lengths: np.ndarray) -> Batch:
    mask = np.arange(bits.shape[1])[None, :] < lengths[:, None]
    tokens = np.where(mask, bits + 1, 0)  # "0" -> 1, "1" -> 2, <pad> 0
    labels = np.where(mask, np.cumsum(bits, axis=1) % 2, IGNORE)
    return Batch(
        {"tokens": torch.from_numpy(tokens.astype(np.int64)), "mask": torch.from_numpy(mask)},
        torch.from_numpy(labels.astype(np.int64)),
        torch.from_numpy(lengths.astype(np.int64)),
    )


def _bit_string(record: dict, key: str) -> str:
    value = required(record, key)
    if not isinstance(value, str):
        raise DataError(f"{key!r} must be a string of 0 and 1, got {type(value).__name__}")
    if not value:
        raise DataError(f"{key!r} is empty; at least one bit is needed")
    if len(value) > MAX_BITS:
        raise DataError(f"{key!r} has {len(value)} characters; at most {MAX_BITS} are read")
    bad = next((ch for ch in value if ch not in "01"), None)
    if bad is not None:
        raise DataError(f"{key!r} must hold only 0 and 1, found {bad!r} at position {value.index(bad)}")
    return value
