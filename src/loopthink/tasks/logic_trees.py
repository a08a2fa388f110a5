"""Boolean expression trees: the grammar, an iterative parser, folds over trees, and the spine
trees the logic generator draws. :mod:`loopthink.tasks.logic` is the task built on them;
:mod:`loopthink.tasks.logic_forms` prints the same trees in other written forms.

Grammar: the constants ``True``/``False``, ``not``, ``and``, ``or`` and parentheses, with Python's
precedence (``not`` > ``and`` > ``or``) and left-associative ``and``/``or``. Whitespace is free
(``not(True and False)or False`` is the same expression).

**Depth** is the height of the parse tree counting only the binary operators ``and``/``or``: a lone
constant has depth 0, ``not`` does not add a level, parentheses do not count, and
``depth(a and b) = 1 + max(depth(a), depth(b))``. ``not ( True and False ) or False`` has depth 2:
``or(not(and(True, False)), False)``. ``a and b and c`` parses as ``(a and b) and c``: depth 2.

Parse errors are :class:`DataError` naming the 0-based character position, e.g.
``unexpected ')' at position 14``. The parser, evaluator and printer are iterative, so very deep
expressions (hundreds of levels) do not hit Python's recursion limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from loopthink.tasks.base import DataError

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


class Structure(Builder):
    """Evaluates while parsing and records, per token, the value of the subexpression its operator
    applies (the labels of the every-node loss) and its parent in the parse tree (the token index
    of the operator it is an operand of). Parentheses are in no node: they have neither."""

    def __init__(self, n_tokens: int):
        self.value: list[bool | None] = [None] * n_tokens
        self.parent: list[int | None] = [None] * n_tokens

    def const(self, value: bool, at: int) -> tuple[bool, int]:
        return value, at

    def neg(self, child: tuple[bool, int], at: int) -> tuple[bool, int]:
        self.parent[child[1]] = at
        self.value[at] = not child[0]
        return not child[0], at

    def binop(self, op: str, left: tuple[bool, int], right: tuple[bool, int], at: int) -> tuple[bool, int]:
        self.parent[left[1]] = self.parent[right[1]] = at
        self.value[at] = (left[0] and right[0]) if op == "and" else (left[0] or right[0])
        return self.value[at], at


def parse_structure(expr: str) -> tuple[list[bool | None], list[int | None]]:
    """Per token of ``expr``: the value its operator computes (None on constants and parentheses)
    and its parent's token index (-1 for the root, None on parentheses).
    ``not ( True )`` -> ``([False, None, None, None], [-1, None, 0, None])``."""
    builder = Structure(len(_scan(expr)))
    _, root = parse(expr, builder)
    builder.parent[root] = -1
    return builder.value, builder.parent


def operator_values(expr: str) -> list[bool | None]:
    """Per token of ``expr``: the value of the subexpression its operator applies, None on
    constants and parentheses. ``not ( True and False )`` -> ``[True, None, None, False, None, None]``."""
    return parse_structure(expr)[0]


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
