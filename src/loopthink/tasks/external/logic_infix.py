"""Boolean expressions written the ways people write them, built without loopthink's logic generator.

Each family maps ``(n, seed, difficulty)`` to ``n`` records in the logic JSONL format
(docs/formats.md): ``{"task": "logic", "expression": ..., "label": bool, "depth": int}``, half
true, depth uniform in ``difficulty``. Labels come from Python's own ``eval`` of the string and
depth from Python's ``ast`` (and/or height with ``a and b and c`` counted as ``(a and b) and c``;
``not`` and parentheses add nothing), so nothing here shares code with ``loopthink.tasks.logic``.

Families (``FAMILIES``):

* ``fully_parenthesised``: every and/or in parentheses, ``not`` before constants and groups, the
  outermost parentheses dropped half the time.
* ``minimal_parens``: only the parentheses precedence (``not`` > ``and`` > ``or``) needs.
* ``not_groups``: ``not`` before most groups, a top-level ``not ( ... )`` joined to another
  group, double negations.
* ``redundant_parens``: ``((a))``, ``(not a)``, parentheses around random subexpressions.
* ``flat_chains``: long chains like ``a and not b or c and d or e`` relying on precedence, with an
  occasional parenthesised operand.
* ``random_ast``: random tree shapes (both operands deep), each node printed with or without
  optional parentheses, spaces sometimes dropped next to parentheses.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable

Tree = tuple  # ("c", bool) | ("not", Tree) | (op, Tree, Tree) with op "and"/"or"
_BIND = {"or": 1, "and": 2, "not": 3, "c": 4}
MAX_LEAVES = 48  # keeps depth-10 trees to expressions of at most a few hundred tokens


# ---- independent reference: Python's evaluator and parser --------------------------------------


def python_depth(expr: str) -> int:
    """and/or height of ``expr`` per Python's ``ast`` (n-ary BoolOps folded left-associatively)."""

    def height(node: ast.AST) -> int:
        if isinstance(node, ast.BoolOp):
            d = height(node.values[0])
            for v in node.values[1:]:
                d = 1 + max(d, height(v))
            return d
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return height(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return 0
        raise ValueError(f"not a boolean expression node: {ast.dump(node)}")

    return height(ast.parse(expr, mode="eval").body)


def python_value(expr: str) -> bool:
    value = eval(compile(ast.parse(expr, mode="eval"), "<logic>", "eval"), {"__builtins__": {}})
    if not isinstance(value, bool):
        raise ValueError(f"{expr!r} does not evaluate to a bool")
    return value


def _record(expr: str) -> dict:
    return {"task": "logic", "expression": expr, "label": python_value(expr), "depth": python_depth(expr)}


# ---- trees -------------------------------------------------------------------------------------


def _leaves(t: Tree) -> int:
    if t[0] == "c":
        return 1
    return _leaves(t[1]) if t[0] == "not" else _leaves(t[1]) + _leaves(t[2])


def _maybe_not(t: Tree, rng: random.Random, p: float, double: float = 0.0) -> Tree:
    if rng.random() < p:
        t = ("not", t)
        if rng.random() < double:
            t = ("not", t)
    return t


def tree_of_depth(d: int, rng: random.Random, other: Callable[[int], int], p_not: float, double: float = 0.0) -> Tree:
    """A tree of exactly and/or height ``d``: one operand of height ``d - 1``, the other of height
    ``other(d)`` (< d), sides and operator at random, ``not`` on each node with ``p_not``."""
    if d == 0:
        return _maybe_not(("c", rng.random() < 0.5), rng, p_not, double)
    deep = tree_of_depth(d - 1, rng, other, p_not, double)
    budget = MAX_LEAVES - _leaves(deep)
    k = other(d)
    while k > 0 and 2**k > budget:  # bound the size of the shallow side
        k -= 1
    side = tree_of_depth(k, rng, other, p_not, double)
    left, right = (deep, side) if rng.random() < 0.5 else (side, deep)
    return _maybe_not((rng.choice(("and", "or")), left, right), rng, p_not, double)


# ---- printing ----------------------------------------------------------------------------------


def show(t: Tree, rng: random.Random, full: bool = False, extra: float = 0.0) -> str:
    """``t`` as Python source: parentheses where precedence needs them, around every and/or
    operand when ``full``, and around any subexpression with chance ``extra``."""
    kind = t[0]
    if kind == "c":
        s = "True" if t[1] else "False"
    elif kind == "not":
        child = show(t[1], rng, full, extra)
        s = f"not ( {child} )" if _BIND[t[1][0]] < _BIND["not"] or (full and t[1][0] in ("and", "or")) else f"not {child}"
    else:
        op, a, b = t
        sa, sb = show(a, rng, full, extra), show(b, rng, full, extra)
        # left-associative: a left operand of equal binding needs none, a right one does
        if _BIND[a[0]] < _BIND[op] or (full and a[0] in ("and", "or")):
            sa = f"( {sa} )"
        if _BIND[b[0]] <= _BIND[op] or (full and b[0] in ("and", "or")):
            sb = f"( {sb} )"
        s = f"{sa} {op} {sb}"
    return f"( {s} )" if rng.random() < extra else s


def _squeeze(expr: str, rng: random.Random) -> str:
    """Spaces next to parentheses dropped at random (``not(True)or False`` is the same input)."""
    out = expr
    for a, b in (("( ", "("), (" )", ")")):
        parts = out.split(a)
        out = parts[0] + "".join((b if rng.random() < 0.5 else a) + p for p in parts[1:])
    return out


# ---- families ----------------------------------------------------------------------------------


def _family(make: Callable[[int, random.Random], str]) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    def generate(n: int, seed: int, difficulty: tuple[int, int] = (1, 6)) -> list[dict]:
        lo, hi = int(difficulty[0]), int(difficulty[1])
        if not 0 <= lo <= hi:
            raise ValueError(f"difficulty must satisfy 0 <= lo <= hi, got {difficulty}")
        rng = random.Random(seed)
        records: list[dict] = []
        for i in range(n):
            d, want = rng.randint(lo, hi), i % 2 == 0
            for _ in range(10_000):  # rejection on label (and, for chains, on depth)
                rec = _record(make(d, rng))
                if rec["label"] == want and rec["depth"] == d:
                    break
            else:
                raise RuntimeError(f"no expression of depth {d} with label {want} found")
            records.append(rec)
        rng.shuffle(records)
        return records

    return generate


def _fully_parenthesised(d: int, rng: random.Random) -> str:
    t = tree_of_depth(d, rng, lambda k: rng.randint(0, min(k - 1, 2)), p_not=0.3)
    s = show(t, rng, full=True)
    return f"( {s} )" if t[0] in ("and", "or") and rng.random() < 0.5 else s


def _minimal_parens(d: int, rng: random.Random) -> str:
    return show(tree_of_depth(d, rng, lambda k: rng.randint(0, min(k - 1, 2)), p_not=0.3), rng)


def _not_groups(d: int, rng: random.Random) -> str:
    if d >= 1 and rng.random() < 0.5:  # not ( A ) op ( B ), the shape people negate a clause in
        a = tree_of_depth(d - 1, rng, lambda k: rng.randint(0, min(k - 1, 2)), p_not=0.5, double=0.2)
        b = tree_of_depth(rng.randint(0, d - 1), rng, lambda k: rng.randint(0, min(k - 1, 1)), p_not=0.5, double=0.2)
        if rng.random() < 0.5:
            a, b = b, a
        sa, sb = show(a, rng, full=True), show(b, rng, full=True)
        return f"not ( {sa} ) {rng.choice(('and', 'or'))} {rng.choice(('', 'not '))}( {sb} )"
    t = tree_of_depth(d, rng, lambda k: rng.randint(0, min(k - 1, 2)), p_not=0.6, double=0.3)
    return show(t, rng, full=rng.random() < 0.5)


def _redundant_parens(d: int, rng: random.Random) -> str:
    t = tree_of_depth(d, rng, lambda k: rng.randint(0, min(k - 1, 2)), p_not=0.3, double=0.1)
    return show(t, rng, full=rng.random() < 0.3, extra=rng.choice((0.2, 0.4)))


def _chain_run_lengths(d: int, rng: random.Random) -> list[int]:
    """Operands per ``and``-run of an ``or``-chain of depth ``d``: run ``i`` of ``m`` (0-based)
    reaches depth ``len - 1 + (m - 1 - i) + (i > 0)``; one run reaches ``d``, none exceeds it."""
    m = rng.randint(1, d + 1)
    cap = [d - (m - 1 - i) - (i > 0) for i in range(m)]
    pivot = rng.choice([i for i in range(m) if cap[i] >= 0])
    return [cap[i] + 1 if i == pivot else rng.randint(0, max(cap[i], 0)) + 1 for i in range(m)]


def _flat_chains(d: int, rng: random.Random) -> str:
    ops = []
    for run in _chain_run_lengths(d, rng):
        ops += ["or"] + ["and"] * (run - 1)
    words = []
    for i, op in enumerate(ops):
        if i:
            words.append(op)
        operand = rng.choice(("True", "False"))
        if rng.random() < 0.15:
            inner = f"{rng.choice(('True', 'False'))} {rng.choice(('and', 'or'))} {rng.choice(('True', 'False'))}"
            operand = f"( {inner} )"
        words.append(("not " if rng.random() < 0.3 else "") + operand)
    return " ".join(words)


def _random_ast(d: int, rng: random.Random) -> str:
    t = tree_of_depth(d, rng, lambda k: rng.randint(0, k - 1), p_not=0.3, double=0.1)
    s = show(t, rng, full=rng.random() < 0.3, extra=rng.choice((0.0, 0.1, 0.3)))
    return _squeeze(s, rng) if rng.random() < 0.3 else s


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {
    "fully_parenthesised": _family(_fully_parenthesised),
    "minimal_parens": _family(_minimal_parens),
    "not_groups": _family(_not_groups),
    "redundant_parens": _family(_redundant_parens),
    "flat_chains": _family(_flat_chains),
    "random_ast": _family(_random_ast),
}
