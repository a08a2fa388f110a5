"""Long addition: every digit of ``a + b``, one answer per digit position.

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "addition", "a": "4096", "b": "512", "label": "4608"}

``a``, ``b`` and ``label`` are decimal strings without sign or leading zeros (``"0"`` itself is
allowed); ``label`` is ``a + b``. Difficulty = the longer operand's digit count.
``classes = ("0", ..., "9")``.

Layout: digits least-significant first, so a carry flows in reading order, from a position to
the next one (McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right Embeddings";
Fan et al. 2024, "Looped Transformers for Length Generalization"). An instance has
``L = max(len a, len b) + 1`` positions; at position ``i``:

* ``tokens[i]``: ``a``'s digit ``i`` (units first) or the blank ``a_`` past its last digit;
* ``tokens2[i]``: ``b``'s digit ``i`` or the blank ``b_``; the chain interface embeds both with one
  table and sums them, so ``a``'s and ``b``'s digits have ids of their own (:data:`ADDITION_VOCAB`);
* the label at ``i``: digit ``i`` of the sum written to ``L`` digits (the top position is ``0``
  when there is no final carry).

``4096 + 512`` gives 5 positions: ``tokens = a6 a9 a0 a4 a_``, ``tokens2 = b2 b1 b5 b_ b_``,
labels ``8 0 6 4 0``. ``mask`` (bool ``(B, L)``) is True on the ``L`` real positions; ``<pad>``
(0) and :data:`IGNORE` labels come after them. A carry can travel the whole number
(``999...9 + 1``), so with attention between neighbours only, a model needs about ``L`` steps.

Generation is vectorised with NumPy (a loop over digit positions, none over instances);
``encode(generate(n, seed, d))`` equals ``sample_batch(n, np.random.default_rng(seed), d)``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks.base import IGNORE, Batch, DataError, Task, mismatch, required
from loopthink.tasks.prefix_sums import check_lengths

ADDITION_VOCAB = ("<pad>", *(f"a{d}" for d in range(10)), "a_", *(f"b{d}" for d in range(10)), "b_")
A_BLANK, B_ZERO, B_BLANK = 11, 12, 22  # ids: a's digit d is 1 + d, b's is 12 + d
# Python's int() reads at most 4300 digits; 1024 keep a record small and verify instant.
MAX_DIGITS = 1024
BLANK = -1  # a position past an operand's last digit, in the digit arrays below


class AdditionTask(Task):
    name: ClassVar[str] = "addition"
    classes: ClassVar[tuple[str, ...]] = tuple(str(d) for d in range(10))
    difficulty_name: ClassVar[str] = "digits"
    interface: ClassVar[str] = "chain"
    per_position: ClassVar[bool] = True
    vocab: ClassVar[tuple[str, ...]] = ADDITION_VOCAB
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {"chain_share": (0.0, 1.0)}

    def generate(self, n: int, seed: int, difficulty: tuple[int, int] = (1, 16), *, chain_share: float = 0.0) -> list[dict]:  # type: ignore[override]
        """``n`` sums; the longer operand has ``d`` digits, ``d`` uniform in ``difficulty``, the
        other 1..``d`` digits (uniform), either operand the longer one; digits uniform, no leading zeros.

        ``chain_share``: the share of sums given a long carry chain (:func:`_carry_chains`): uniform
        digits almost never carry more than a few places, so a model trained on them alone has never
        waited long for a carry."""
        rng = np.random.default_rng(seed)
        a, b = _carry_chains(*_sample(n, rng, difficulty), rng, chain_share)
        total = _column_sum(a, b)
        return [
            {"task": "addition", "a": _number(a[i]), "b": _number(b[i]), "label": _number(total[i]).lstrip("0") or "0"} for i in range(n)
        ]

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        a, b = _carry_chains(*_sample(n, rng, difficulty), rng, float(self.options.get("chain_share", 0.0)))
        return _batch(a, b, _column_sum(a, b))

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        width = 1 + max(self.difficulty_of(rec) for rec in records)
        a, b, total = (np.full((len(records), width), BLANK, dtype=np.int64) for _ in range(3))
        for i, rec in enumerate(records):
            size = 1 + self.difficulty_of(rec)
            for arr, key in ((a, "a"), (b, "b"), (total, "label")):
                digits = _digits_lsb_first(rec[key])
                arr[i, : len(digits)] = digits
            total[i, len(rec["label"]) : size] = 0  # the sum written to L digits
        return _batch(a, b, total)

    def validate(self, record: dict) -> None:
        if record.get("task", "addition") != "addition":
            raise DataError(f"'task' must be 'addition', got {record.get('task')!r}")
        a, b = _decimal(record, "a"), _decimal(record, "b")
        label = _decimal(record, "label", MAX_DIGITS + 1)
        longest = max(len(a), len(b))
        if not longest <= len(label) <= longest + 1:
            raise DataError(f"'label' has {len(label)} digits, but a sum whose longer operand has {longest} has {longest} or {longest + 1}")

    def verify(self, record: dict) -> None:
        """``label`` against Python's own big-integer ``int(a) + int(b)``."""
        computed = str(int(record["a"]) + int(record["b"]))
        if record["label"] != computed:
            raise mismatch("label", record["label"], computed, "int(a) + int(b)")

    def size_of(self, record: dict) -> int:
        return 3 * (max(len(record["a"]), len(record["b"])) + 1)  # a token and two neighbour edges per digit

    def difficulty_of(self, record: dict) -> int:
        return max(len(record["a"]), len(record["b"]))


def _sample(n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Operands as digit arrays (n, longest + 1), units first, :data:`BLANK` past each operand."""
    lo, hi = check_lengths(difficulty, MAX_DIGITS, "addition (digits)")
    longest = rng.integers(lo, hi + 1, size=n)
    other = rng.integers(1, longest + 1) if n else longest
    a_longer = rng.random(n) < 0.5
    lengths = (np.where(a_longer, longest, other), np.where(a_longer, other, longest))
    width = (int(longest.max()) if n else lo) + 1
    pos = np.arange(width)[None, :]
    out = []
    for length in lengths:
        digits = rng.integers(0, 10, size=(n, width))
        top = rng.integers(1, 10, size=n)  # a number of two or more digits starts with 1..9
        rows = np.flatnonzero(length > 1)
        digits[rows, length[rows] - 1] = top[rows]
        out.append(np.where(pos < length[:, None], digits, BLANK))
    return out[0], out[1]


def _carry_chains(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, share: float) -> tuple[np.ndarray, np.ndarray]:
    """A share of the sums rewritten so a carry starts at a random column ``s`` (both digits 5..9)
    and runs to the longer operand's top digit: above ``s`` the column sums are 9 (``b = 9 - a``)
    while both operands have digits, then the longer operand's digits are 9. Operands keep their
    lengths; the shorter one's top digit stays as drawn (no leading zero), which may end the chain
    there. ``share = 0`` draws nothing, so the plain generator's output is unchanged."""
    if share <= 0 or not len(a):
        return a, b
    a, b = a.copy(), b.copy()
    len_a, len_b = (a != BLANK).sum(1), (b != BLANK).sum(1)
    short, long_ = np.minimum(len_a, len_b), np.maximum(len_a, len_b)
    rows = rng.random(len(a)) < share
    start = (rng.random(len(a)) * np.maximum(short - 1, 1)).astype(np.int64)  # 0 .. short - 2
    rows &= short >= 2  # a carry needs a column below the shorter operand's top digit
    for i in range(a.shape[1]):
        at_start, above = rows & (i == start), rows & (i > start)
        both = above & (i < short - 1)
        a[at_start, i], b[at_start, i] = rng.integers(5, 10, at_start.sum()), rng.integers(5, 10, at_start.sum())
        b[both, i] = 9 - a[both, i]
        longer_only = above & (i >= short) & (i < long_)
        a[longer_only & (len_a > len_b), i], b[longer_only & (len_b > len_a), i] = 9, 9
    return a, b


def _column_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Digits of ``a + b`` (same shape, units first) by schoolbook carrying, one column at a time
    for the whole batch; :data:`BLANK` where neither operand reaches and no carry is left, i.e.
    past ``L = longest + 1`` positions."""
    total = np.full_like(a, BLANK)
    carry = np.zeros(a.shape[0], dtype=np.int64)
    size = np.maximum((a != BLANK).sum(1), (b != BLANK).sum(1)) + 1
    for i in range(a.shape[1]):
        s = np.maximum(a[:, i], 0) + np.maximum(b[:, i], 0) + carry
        total[:, i] = np.where(i < size, s % 10, BLANK)
        carry = s // 10
    return total


def _number(digits: np.ndarray) -> str:
    """The decimal string (most significant first) of a units-first digit row."""
    real = digits[digits != BLANK][::-1]
    return (real.astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def _digits_lsb_first(text: str) -> np.ndarray:
    return (np.frombuffer(text.encode("ascii"), dtype=np.uint8)[::-1] - ord("0")).astype(np.int64)


def _batch(a: np.ndarray, b: np.ndarray, total: np.ndarray) -> Batch:
    mask = total != BLANK
    tokens = np.where(a != BLANK, 1 + a, A_BLANK)
    tokens2 = np.where(b != BLANK, B_ZERO + b, B_BLANK)
    return Batch(
        {
            "tokens": torch.from_numpy(np.where(mask, tokens, 0)),
            "tokens2": torch.from_numpy(np.where(mask, tokens2, 0)),
            "mask": torch.from_numpy(mask),
        },
        torch.from_numpy(np.where(mask, total, IGNORE)),
        torch.from_numpy(mask.sum(1) - 1),
    )


def _decimal(record: dict, key: str, bound: int = MAX_DIGITS) -> str:
    """``record[key]``: a decimal string, no sign, no leading zeros, at most ``bound`` digits."""
    value = required(record, key)
    if not isinstance(value, str):
        raise DataError(f'{key!r} must be a decimal string like "4096", got {type(value).__name__} {value!r}'[:200])
    if not value:
        raise DataError(f"{key!r} is empty")
    if len(value) > bound:
        raise DataError(f"{key!r} has {len(value)} characters; at most {bound} digits are read")
    if value[0] in "+-":
        raise DataError(f"{key!r} must have no sign, got {value[:40]!r}")
    bad = next((ch for ch in value if ch not in "0123456789"), None)
    if bad is not None:
        raise DataError(f"{key!r} must hold only the digits 0-9, found {bad!r} at position {value.index(bad)}")
    if len(value) > 1 and value[0] == "0":
        raise DataError(f"{key!r} has a leading zero ({value[:40]!r}); write numbers without them")
    return value
