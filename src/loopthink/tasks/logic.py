"""Nested boolean expressions: what does the expression evaluate to?

Record (one JSONL line)::

    {"task": "logic", "expression": "not ( True and False ) or False", "label": true, "depth": 2}

Grammar: the constants ``True``/``False``, ``not``, ``and``, ``or`` and parentheses, with Python's
precedence (``not`` > ``and`` > ``or``) and left-associative ``and``/``or``. Whitespace is free
(``not(True and False)or False`` is the same expression); generated expressions have tokens
separated by single spaces, in canonical form unless the ``forms`` option mixes in others
(:mod:`loopthink.tasks.logic_forms`). ``classes = ("False", "True")``.

**Depth** is the height of the parse tree counting only the binary operators ``and``/``or``: a lone
constant has depth 0, ``not`` does not add a level, parentheses do not count, and
``depth(a and b) = 1 + max(depth(a), depth(b))``. The example has depth 2:
``or(not(and(True, False)), False)``. ``a and b and c`` parses as ``(a and b) and c``: depth 2.

Encoded inputs (``Batch.inputs``), vocabulary :data:`LOGIC_VOCAB`:

* ``tokens``: long ``(B, L)``, ``<cls>`` at index 0, then the expression's tokens, ``<pad>`` (0) after;
* ``mask``: bool ``(B, L)``, True for real tokens (``<cls>`` included);
* ``group``: long ``(B, L)``, which pair of parentheses a token sits directly inside, numbered
  ``1, 2, ...`` per instance (1 = top level, which holds ``<cls>``); a ``(`` or ``)`` belongs to the
  group around it, not the one it delimits; 0 on padding;
* ``inner``: long ``(B, L)``, on ``(`` and ``)`` the group they delimit, 0 elsewhere;
* ``value``: long ``(B, L)``, on each ``not``/``and``/``or`` 1 + the value (0 False, 1 True) of the
  subexpression it applies (:func:`operator_values`), 0 elsewhere. Only the every-node training loss
  (``train.node_loss``) uses it; the model never sees it.

``not ( True )`` gives ``group = [1, 1, 1, 2, 1]`` (``<cls>`` first) and ``inner = [0, 0, 2, 0, 2]``.

Parse errors are :class:`DataError` naming the 0-based character position, e.g.
``unexpected ')' at position 14``. The parser, evaluator and printer are iterative, so very deep
expressions (hundreds of levels) do not hit Python's recursion limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from loopthink.tasks.base import MAX_EXPRESSION_CHARS, Batch, DataError, Task, bool_field, mismatch, optional_int, required

LOGIC_VOCAB = ("<pad>", "<cls>", "(", ")", "not", "and", "or", "True", "False")
_TOKEN_ID = {tok: i for i, tok in enumerate(LOGIC_VOCAB)}
_WORDS = frozenset({"not", "and", "or", "True", "False"})
# Binding strength; parenthesised expressions and constants are atoms (4).
_PREC = {"or": 1, "and": 2, "not": 3}
_ATOM = 4


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # "and" or "or"
    left: Node
    right: Node


Node = Const | Not | BinOp
T = TypeVar("T")


# ---- parsing ------------------------------------------------------------------------------------


def _scan(expr: str) -> list[tuple[str, int]]:
    """Tokens with their 0-based character positions."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append((ch, i))
            i += 1
        elif ch.isalnum() or ch == "_":
            j = i
            while j < n and (expr[j].isalnum() or expr[j] == "_"):
                j += 1
            word = expr[i:j]
            if word not in _WORDS:
                raise DataError(f"unknown word {word!r} at position {i}")
            out.append((word, i))
            i = j
        else:
            raise DataError(f"unexpected character {ch!r} at position {i}")
    return out


def tokenize(expr: str) -> list[str]:
    """``expr`` split into tokens (``(``, ``)``, ``not``, ``and``, ``or``, ``True``, ``False``)."""
    return [tok for tok, _ in _scan(expr)]


class Builder:
    """What the parser builds from each piece, told the piece's token index (so labels can be
    placed on tokens); :data:`TREE` builds :class:`Node` trees."""

    def const(self, value: bool, at: int) -> Any:
        return Const(value)

    def neg(self, child: Any, at: int) -> Any:
        return Not(child)

    def binop(self, op: str, left: Any, right: Any, at: int) -> Any:
        return BinOp(op, left, right)


TREE = Builder()


def parse(expr: str, builder: Builder = TREE) -> Any:
    """Parse ``expr`` into a tree, or whatever ``builder`` builds (shunting-yard: iterative, so
    nesting depth is unlimited)."""
    tokens = _scan(expr)
    if not tokens:
        raise DataError("empty expression")
    values: list[Any] = []
    ops: list[tuple[str, int, int]] = []  # pending operators and "(" with character and token positions
    want_operand = True
    for i, (tok, pos) in enumerate(tokens):
        if want_operand:
            if tok in ("True", "False"):
                values.append(builder.const(tok == "True", i))
                want_operand = False
            elif tok in ("not", "("):
                ops.append((tok, pos, i))
            else:
                raise DataError(f"unexpected {tok!r} at position {pos}: expected an operand")
        elif tok in ("and", "or"):
            _reduce(ops, values, _PREC[tok], builder)  # >= : and/or are left-associative
            ops.append((tok, pos, i))
            want_operand = True
        elif tok == ")":
            _reduce(ops, values, 0, builder)
            if not ops:
                raise DataError(f"unexpected ')' at position {pos}: no matching '('")
            ops.pop()
        else:
            raise DataError(f"unexpected {tok!r} at position {pos}: expected 'and', 'or' or ')'")
    if want_operand:
        raise DataError(f"missing operand at position {len(expr)}: expression ends after {tokens[-1][0]!r}")
    _reduce(ops, values, 0, builder)
    if ops:
        raise DataError(f"unclosed '(' at position {ops[-1][1]}")
    return values[0]


def _reduce(ops: list[tuple[str, int, int]], values: list[Any], min_prec: int, builder: Builder) -> None:
    """Apply pending operators binding at least as tightly as ``min_prec``, down to a ``(``."""
    while ops and ops[-1][0] != "(" and _PREC[ops[-1][0]] >= min_prec:
        op, _, at = ops.pop()
        if op == "not":
            values.append(builder.neg(values.pop(), at))
        else:
            right = values.pop()
            values.append(builder.binop(op, values.pop(), right, at))


class OperatorValues(Builder):
    """Evaluates while parsing and records, at each ``not``/``and``/``or`` token, the value of the
    subexpression that operator applies (the labels of the every-node loss)."""

    def __init__(self, n_tokens: int):
        self.at: list[bool | None] = [None] * n_tokens

    def const(self, value: bool, at: int) -> bool:
        return value

    def neg(self, child: bool, at: int) -> bool:
        self.at[at] = not child
        return not child

    def binop(self, op: str, left: bool, right: bool, at: int) -> bool:
        self.at[at] = (left and right) if op == "and" else (left or right)
        return self.at[at]


def operator_values(expr: str) -> list[bool | None]:
    """Per token of ``expr``: the value of the subexpression its operator applies, None on
    constants and parentheses. ``not ( True and False )`` -> ``[True, None, None, False, None, None]``."""
    builder = OperatorValues(len(_scan(expr)))
    parse(expr, builder)
    return builder.at


# ---- tree functions (iterative post-order folds) ------------------------------------------------


def fold(tree: Node, const: Callable[[bool], T], neg: Callable[[T], T], binop: Callable[[str, T, T], T]) -> T:
    """Bottom-up fold without recursion: ``const`` at leaves, ``neg`` at ``not``, ``binop`` at and/or."""
    out: list[T] = []
    stack: list[tuple[Node, bool]] = [(tree, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, Const):
            out.append(const(node.value))
        elif children_done:
            if isinstance(node, Not):
                out.append(neg(out.pop()))
            else:
                right = out.pop()
                out.append(binop(node.op, out.pop(), right))
        else:
            stack.append((node, True))
            if isinstance(node, Not):
                stack.append((node.child, False))
            else:  # right pushed first so the left child is finished first
                stack.append((node.right, False))
                stack.append((node.left, False))
    return out[0]


def evaluate(tree: Node) -> bool:
    return fold(tree, lambda v: v, lambda v: not v, lambda op, a, b: (a and b) if op == "and" else (a or b))


def depth(tree: Node) -> int:
    """Height counting only and/or nodes (see the module docstring)."""
    return fold(tree, lambda _: 0, lambda d: d, lambda _, a, b: 1 + max(a, b))


def to_tokens(tree: Node, rng: random.Random | None = None, paren_prob: float = 0.0, full_parens: bool = False) -> list[str]:
    """Tokens of ``tree`` with the parentheses precedence needs (so it parses back to ``tree``),
    plus, when ``rng`` is given, redundant ones around each subexpression with ``paren_prob``.
    ``full_parens``: every and/or subexpression below the top is parenthesised."""

    Part = tuple[list[str], int]  # tokens and how tightly the fragment binds

    def paren(part: Part, need: bool) -> Part:
        return (["(", *part[0], ")"], _ATOM) if need else part

    def maybe(part: Part) -> Part:  # each subexpression gets one chance of redundant parentheses
        return paren(part, rng is not None and rng.random() < paren_prob)

    def leaf(value: bool) -> Part:
        return maybe((["True" if value else "False"], _ATOM))

    def neg(child: Part) -> Part:
        return maybe((["not", *paren(child, child[1] < _PREC["not"])[0]], _PREC["not"]))

    def binop(op: str, left: Part, right: Part) -> Part:
        p = _PREC[op]  # the right operand needs parens at equal precedence: left-associativity
        need_left = left[1] < p or (full_parens and left[1] <= _PREC["and"])  # an and/or operand
        need_right = right[1] <= p or (full_parens and right[1] <= _PREC["and"])
        return maybe(([*paren(left, need_left)[0], op, *paren(right, need_right)[0]], p))

    return fold(tree, leaf, neg, binop)[0]


def to_string(tree: Node) -> str:
    """Canonical form: minimal parentheses, tokens separated by single spaces."""
    return " ".join(to_tokens(tree))


# ---- generation ---------------------------------------------------------------------------------


def random_tree(depth: int, rng: random.Random, side_depth: int = 1, negate_prob: float = 0.3, pass_prob: float | None = None) -> Node:
    """A tree of exactly ``depth``: a spine built bottom-up, one level per step; at each level the
    spine is joined by a random and/or to a side tree of depth ``<= side_depth`` (random order),
    and each new node is negated with ``negate_prob``. Length is linear in ``depth``.

    ``pass_prob``: chance that a level's operator *passes* the spine's value through (``and`` with a
    true side, ``or`` with a false one) instead of letting the side decide it; None = operator
    drawn independently of the side (so each level decides with chance 1/2)."""
    return _valued_tree(depth, rng, side_depth, negate_prob, pass_prob)[0]


def _valued_tree(depth: int, rng: random.Random, side_depth: int, negate_prob: float, pass_prob: float | None = None) -> tuple[Node, bool]:
    """:func:`random_tree` and its value, computed on the way (saves an evaluation pass)."""
    value = rng.random() < 0.5
    node: Node = Const(value)
    if rng.random() < negate_prob:
        node, value = Not(node), not value
    for level in range(1, depth + 1):
        side_d = int(rng.random() * (min(level - 1, side_depth) + 1))
        side, side_value = _valued_tree(side_d, rng, side_depth, negate_prob, pass_prob)
        if pass_prob is None:
            op = "and" if rng.random() < 0.5 else "or"
        else:  # True and x = x, False or x = x: pick the operator that passes (or decides)
            op = "and" if side_value == (rng.random() < pass_prob) else "or"
        left, right = (node, side) if rng.random() < 0.5 else (side, node)
        node = BinOp(op, left, right)
        value = (value and side_value) if op == "and" else (value or side_value)
        if rng.random() < negate_prob:
            node, value = Not(node), not value
    return node, value


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
            from loopthink.tasks import logic_forms  # imported here: it builds on this module's trees

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
            from loopthink.tasks.logic_forms import check_forms

            try:
                check_forms(options["forms"])
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
    ids[:, 0] = _TOKEN_ID["<cls>"]
    for i, toks in enumerate(tokens):
        ids[i, 1 : 1 + len(toks)] = [_TOKEN_ID[t] for t in toks]
        group[i, : 1 + len(toks)], inner[i, : 1 + len(toks)] = paren_groups(toks)
        value[i, 1 : 1 + len(toks)] = [0 if v is None else 1 + v for v in operator_values(" ".join(toks))]
    ids_t = torch.from_numpy(ids)
    labels = torch.tensor([int(rec["label"]) for rec in records], dtype=torch.long)
    inputs = {
        "tokens": ids_t,
        "mask": ids_t != _TOKEN_ID["<pad>"],
        "group": torch.from_numpy(group),
        "inner": torch.from_numpy(inner),
        "value": torch.from_numpy(value),
    }
    return Batch(inputs, labels, torch.tensor(difficulty, dtype=torch.long))


def node_targets(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, L, 2): the class each operator token's state should read as, for the every-node
    loss — the value of the subexpression it applies; none on constants, parentheses, ``<cls>``."""
    value = inputs["value"]
    return torch.stack([value == 1, value == 2], dim=-1)
