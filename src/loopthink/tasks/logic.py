"""Nested boolean expressions: what does the expression evaluate to?

Record (one JSONL line)::

    {"task": "logic", "expression": "not ( True and False ) or False", "label": true, "depth": 2}

The grammar (Python's ``not``/``and``/``or`` with parentheses) and **depth** (the height of the
parse tree counting only ``and``/``or``) are defined in :mod:`loopthink.tasks.logic_trees`.
Generated expressions have tokens separated by single spaces, in canonical form unless the
``forms`` option mixes in others (:mod:`loopthink.tasks.logic_forms`). ``classes = ("False", "True")``.

Encoded inputs (``Batch.inputs``), vocabulary :data:`LOGIC_VOCAB`:

* ``tokens``: long ``(B, L)``, ``<cls>`` at index 0, then the expression's tokens, ``<pad>`` (0) after;
* ``mask``: bool ``(B, L)``, True for real tokens (``<cls>`` included);
* ``group``: long ``(B, L)``, which pair of parentheses a token sits directly inside, numbered
  ``1, 2, ...`` per instance (1 = top level, which holds ``<cls>``); a ``(`` or ``)`` belongs to the
  group around it, not the one it delimits; 0 on padding;
* ``inner``: long ``(B, L)``, on ``(`` and ``)`` the group they delimit, 0 elsewhere;
* ``parent``: long ``(B, L)``, 1 + the index of a token's parent in the parse tree (the operator it
  is an operand of; ``<cls>`` for the root, so 1), 0 on parentheses, ``<cls>`` and padding;
* ``value``: long ``(B, L)``, on each ``not``/``and``/``or`` 1 + the value (0 False, 1 True) of the
  subexpression it applies (:func:`~loopthink.tasks.logic_trees.operator_values`), 0 elsewhere. Only the every-node training loss
  (``train.node_loss``) uses it; the model never sees it.

``not ( True )`` gives ``group = [1, 1, 1, 2, 1]`` (``<cls>`` first), ``inner = [0, 0, 2, 0, 2]`` and
``parent = [0, 1, 0, 2, 0]``.

"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import numpy as np
import torch

from loopthink.tasks import logic_forms
from loopthink.tasks.base import MAX_EXPRESSION_CHARS, Batch, DataError, Task, bool_field, mismatch, optional_int, required
from loopthink.tasks.logic_trees import _valued_tree, depth, evaluate, parse, parse_structure, to_tokens, tokenize

LOGIC_VOCAB = ("<pad>", "<cls>", "(", ")", "not", "and", "or", "True", "False")
_TOKEN_ID = {tok: i for i, tok in enumerate(LOGIC_VOCAB)}


def _balanced_labels(n: int, rng: random.Random) -> list[bool]:
    labels = [i % 2 == 1 for i in range(n)]
    for i in range(n - 1, 0, -1):  # Fisher-Yates with random() only: stable across Python versions
        j = int(rng.random() * (i + 1))
        labels[i], labels[j] = labels[j], labels[i]
    return labels


class LogicTask(Task):
    name: ClassVar[str] = "logic"
    classes: ClassVar[tuple[str, ...]] = ("False", "True")
    difficulty_name: ClassVar[str] = "depth"
    interface: ClassVar[str] = "expression"
    vocab: ClassVar[tuple[str, ...]] = LOGIC_VOCAB
    # side trees nest: their size grows faster than any power of side_depth
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {"side_depth": (0, 8), "negate_prob": (0, 1), "paren_prob": (0, 1)}

    def generate(  # type: ignore[override]
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int] = (1, 6),
        *,
        side_depth: int = 1,
        negate_prob: float = 0.3,
        paren_prob: float = 0.1,
        full_parens: bool = False,
        pass_prob: float | None = None,
        forms: str | dict[str, float] | None = None,
    ) -> list[dict]:
        """``n`` records, half true, depth uniform in ``difficulty`` (see :func:`random_tree`).

        ``paren_prob``: chance of redundant parentheses around each subexpression.
        ``full_parens``: parenthesise every and/or operand, so parentheses nest ``depth - 1`` deep
        (``depth`` under a top-level ``not``, more with redundant ones) and depth becomes a chain of
        groups evaluated one inside the other.
        With minimal parentheses a run of ``and``/``or`` shares one group, and a model that sees
        the parentheses can evaluate many levels of depth in a single step.
        ``pass_prob`` (see :func:`random_tree`): with operators drawn at random half the levels
        decide the value on their own, so the outermost level or two fix the answer and deeper
        levels need not be evaluated; near 1, the answer depends on every level.
        ``forms``: a mixture of written forms (:mod:`loopthink.tasks.logic_forms`: canonical, full,
        bushy, chain, negated, redundant) as weights by name, or one name; None = canonical only,
        drawn exactly as without the option.
        """
        lo, hi = (int(x) for x in difficulty)
        if not 0 <= lo <= hi:
            raise ValueError(f"logic difficulty (depth) must satisfy 0 <= lo <= hi, got {difficulty}")
        if side_depth < 0:
            raise ValueError(f"side_depth must be >= 0, got {side_depth}")
        if pass_prob is not None and not 0.0 <= pass_prob <= 1.0:
            raise ValueError(f"pass_prob must be in [0, 1] or null, got {pass_prob}")
        # random.Random.random() is guaranteed to repeat across Python versions for an int seed.
        rng = random.Random(int(seed))
        if forms is not None:
            weights = logic_forms.check_forms(forms)
            opts = dict(side_depth=side_depth, negate_prob=negate_prob, paren_prob=paren_prob, full_parens=full_parens, pass_prob=pass_prob)
            return [
                logic_forms.draw_record(logic_forms.pick_form(weights, rng), lo + int(rng.random() * (hi - lo + 1)), label, rng, opts)
                for label in _balanced_labels(n, rng)
            ]
        records = []
        for label in _balanced_labels(n, rng):
            d = lo + int(rng.random() * (hi - lo + 1))
            tree, value = _valued_tree(d, rng, side_depth, negate_prob, pass_prob)
            while value != label:  # rejection keeps the trees' distribution given the label
                tree, value = _valued_tree(d, rng, side_depth, negate_prob, pass_prob)
            expr = " ".join(to_tokens(tree, rng, paren_prob, full_parens))
            records.append({"task": "logic", "expression": expr, "label": label, "depth": d})
        return records

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        super().check_options(options)
        if options.get("forms") is not None:  # a typo in the mixture fails before training starts
            try:
                logic_forms.check_forms(options["forms"])
            except ValueError as e:
                raise DataError(str(e)) from None

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        # Generated records are single-spaced and carry their depth: skip re-parsing (about 2x faster).
        records = self.generate(n, int(rng.integers(2**62)), difficulty, **self.options)
        tokens = [rec["expression"].split() for rec in records]
        return _batch(records, tokens, [rec["depth"] for rec in records])

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        tokens = [tokenize(rec["expression"]) for rec in records]
        return _batch(records, tokens, [self.difficulty_of(rec) for rec in records])

    def validate(self, record: dict) -> None:
        if record.get("task", "logic") != "logic":
            raise DataError(f"'task' must be 'logic', got {record.get('task')!r}")
        expr = required(record, "expression")
        if not isinstance(expr, str):
            raise DataError(f"'expression' must be a string, got {type(expr).__name__}")
        if len(expr) > MAX_EXPRESSION_CHARS:
            raise DataError(f"'expression' has {len(expr)} characters; at most {MAX_EXPRESSION_CHARS} are read")
        try:
            parse(expr)
        except DataError as e:
            raise DataError(f"'expression' does not parse: {e}") from None
        bool_field(record, "label")
        optional_int(record, "depth", 0)

    def node_targets(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return node_targets(inputs)

    def verify(self, record: dict) -> None:
        """``label`` and ``depth`` against the parsed expression's value and height."""
        tree = parse(record["expression"])
        value = evaluate(tree)
        if record["label"] != value:
            raise mismatch("label", record["label"], value, "evaluating 'expression'")
        if record.get("depth") is not None and record["depth"] != depth(tree):
            raise mismatch("depth", record["depth"], depth(tree), "the parse tree")

    def size_of(self, record: dict) -> int:
        return len(record["expression"])  # at most a token per character

    def difficulty_of(self, record: dict) -> int:
        d = record.get("depth")
        return int(d) if d is not None else depth(parse(record["expression"]))


def paren_groups(tokens: list[str]) -> tuple[list[int], list[int]]:
    """``group`` and ``inner`` (see the module docstring) of ``["<cls>", *tokens]``."""
    group, inner = [1], [0]
    stack, count = [1], 1  # open groups, innermost last
    for tok in tokens:
        if tok == "(":
            count += 1
            group.append(stack[-1])
            inner.append(count)
            stack.append(count)
        elif tok == ")":
            closed = stack.pop()
            group.append(stack[-1])
            inner.append(closed)
        else:
            group.append(stack[-1])
            inner.append(0)
    return group, inner


def _batch(records: list[dict], tokens: list[list[str]], difficulty: list[int]) -> Batch:
    shape = (len(tokens), 1 + max(map(len, tokens)))
    ids, group, inner, value = (np.zeros(shape, dtype=np.int64) for _ in range(4))
    parent = np.zeros(shape, dtype=np.int64)
    ids[:, 0] = _TOKEN_ID["<cls>"]
    for i, toks in enumerate(tokens):
        ids[i, 1 : 1 + len(toks)] = [_TOKEN_ID[t] for t in toks]
        group[i, : 1 + len(toks)], inner[i, : 1 + len(toks)] = paren_groups(toks)
        values, parents = parse_structure(" ".join(toks))
        value[i, 1 : 1 + len(toks)] = [0 if v is None else 1 + v for v in values]
        parent[i, 1 : 1 + len(toks)] = [0 if p is None else p + 2 for p in parents]  # 1 + index; <cls> first, the root's parent
    ids_t = torch.from_numpy(ids)
    labels = torch.tensor([int(rec["label"]) for rec in records], dtype=torch.long)
    inputs = {
        "tokens": ids_t,
        "mask": ids_t != _TOKEN_ID["<pad>"],
        "group": torch.from_numpy(group),
        "inner": torch.from_numpy(inner),
        "value": torch.from_numpy(value),
        "parent": torch.from_numpy(parent),
    }
    return Batch(inputs, labels, torch.tensor(difficulty, dtype=torch.long))


def node_targets(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, L, 2): the class each operator token's state should read as, for the every-node
    loss — the value of the subexpression it applies; none on constants, parentheses, ``<cls>``."""
    value = inputs["value"]
    return torch.stack([value == 1, value == 2], dim=-1)
