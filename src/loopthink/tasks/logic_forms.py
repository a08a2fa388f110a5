"""The written forms of boolean expressions that the logic generator mixes (``task.options.forms``).

Each form draws a tree of an exact and/or depth and prints it as tokens; the label and depth are
the tree's own (:func:`~loopthink.tasks.logic_trees.evaluate`, :func:`~loopthink.tasks.logic_trees.depth`),
and the printed tokens parse back to the same tree, so a record's label is its string's value.

* ``canonical``: the spine trees of :func:`~loopthink.tasks.logic_trees.random_tree`, minimal parentheses
  plus ``paren_prob`` redundant ones (``full_parens`` obeyed): the generator's form without ``forms``.
* ``full``: every and/or operand parenthesised, ``not`` before constants and groups, the whole
  expression in parentheses half the time.
* ``bushy``: both operands of a node may be deep (a random shape, not a spine), at most
  :data:`MAX_LEAVES` constants; minimal, redundant or full parentheses at random.
* ``chain``: flat chains such as ``a and not b or c and d or e`` that rely on precedence alone.
* ``negated``: ``not`` on most nodes, double negations (``not not a``), and half the time a
  top-level ``not ( A ) and ( B )`` / ``not ( A ) or not ( B )``.
* ``redundant``: parentheses around many subexpressions, ``( ( a ) )`` and ``( not a )``.
"""

from __future__ import annotations

import random

from loopthink.tasks.logic_trees import BinOp, Const, Node, Not, _valued_tree, depth, evaluate, to_tokens

FORMS = ("canonical", "full", "bushy", "chain", "negated", "redundant")
MAX_LEAVES = 16  # bounds bushy trees: long tails in a batch cost padding and O(L^2) attention


def check_forms(forms: str | dict[str, float] | None) -> dict[str, float] | None:
    """``forms`` as weights by name (a lone name is weight 1), or a one-line ValueError."""
    if forms is None:
        return None
    weights = {forms: 1.0} if isinstance(forms, str) else dict(forms)
    unknown = [k for k in weights if k not in FORMS]
    if unknown:
        raise ValueError(f"unknown logic form {unknown[0]!r}; known: {', '.join(FORMS)}")
    if any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"logic form weights must be >= 0 with a positive sum, got {weights}")
    return {k: float(w) for k, w in weights.items()}


def pick_form(weights: dict[str, float], rng: random.Random) -> str:
    u, acc = rng.random() * sum(weights.values()), 0.0
    for name, w in weights.items():
        acc += w
        if u < acc:
            return name
    return next(reversed(weights))


def _negate(node: Node, rng: random.Random, p: float, double: float) -> Node:
    if rng.random() < p:
        node = Not(node)
        if rng.random() < double:
            node = Not(node)
    return node


def _leaf_count(node: Node) -> int:
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Const):
            count += 1
        elif isinstance(n, Not):
            stack.append(n.child)
        else:
            stack += [n.left, n.right]
    return count


def bushy_tree(d: int, rng: random.Random, negate_prob: float, double: float = 0.0, budget: int = MAX_LEAVES) -> Node:
    """Exact depth ``d``: one operand of depth ``d - 1``, the other uniform in ``0..d-1`` (shrunk
    to fit the leaf budget), sides and operator at random."""
    if d == 0:
        return _negate(Const(rng.random() < 0.5), rng, negate_prob, double)
    deep = bushy_tree(d - 1, rng, negate_prob, double, budget - 1)
    other = int(rng.random() * d)
    while other > 0 and 2**other > budget - _leaf_count(deep):
        other -= 1
    side = bushy_tree(other, rng, negate_prob, double, budget)
    left, right = (deep, side) if rng.random() < 0.5 else (side, deep)
    return _negate(BinOp("and" if rng.random() < 0.5 else "or", left, right), rng, negate_prob, double)


def chain_tree(d: int, rng: random.Random, negate_prob: float) -> Node:
    """An ``or`` of ``and``-runs, left-associative, that prints without parentheses (bar the odd
    two-constant group): run ``i`` of ``m`` reaches depth ``len - 1 + (m - 1 - i) + (i > 0)``, so
    one run is sized to reach ``d`` and the others stay at or under it."""
    m = 1 + int(rng.random() * (d + 1))
    caps = [d - (m - 1 - i) - (i > 0) for i in range(m)]
    pivot = rng.choice([i for i, c in enumerate(caps) if c >= 0])

    def operand() -> Node:
        if rng.random() < 0.1:  # a parenthesised pair inside the chain
            return BinOp("or" if rng.random() < 0.5 else "and", Const(rng.random() < 0.5), Const(rng.random() < 0.5))
        return _negate(Const(rng.random() < 0.5), rng, negate_prob, 0.0)

    tree: Node | None = None
    for i, cap in enumerate(caps):
        length = cap + 1 if i == pivot else 1 + int(rng.random() * (max(cap, 0) + 1))
        run = operand()
        for _ in range(length - 1):
            run = BinOp("and", run, operand())
        tree = run if tree is None else BinOp("or", tree, run)
    assert tree is not None
    return tree


def _wrap_constants(tokens: list[str], rng: random.Random, p: float) -> list[str]:
    """``( a )`` or ``( ( a ) )`` around constants with chance ``p``."""
    out: list[str] = []
    for tok in tokens:
        k = (1 + (rng.random() < 0.4)) if tok in ("True", "False") and rng.random() < p else 0
        out += ["("] * k + [tok] + [")"] * k
    return out


def _outer(tokens: list[str], rng: random.Random, p: float) -> list[str]:
    return ["(", *tokens, ")"] if rng.random() < p else tokens


def draw(form: str, d: int, rng: random.Random, opts: dict) -> tuple[list[str], Node]:
    """Tokens and tree of one expression of depth ``d`` (wanted, for ``chain``) in ``form``;
    ``opts``: the generator's side_depth, negate_prob, paren_prob, full_parens, pass_prob."""
    if form == "canonical":
        tree, _ = _valued_tree(d, rng, opts["side_depth"], opts["negate_prob"], opts["pass_prob"])
        return to_tokens(tree, rng, opts["paren_prob"], opts["full_parens"]), tree
    if form == "full":
        tree = bushy_tree(d, rng, 0.3) if rng.random() < 0.5 else _valued_tree(d, rng, 2, 0.3, opts["pass_prob"])[0]
        return _outer(to_tokens(tree, rng, 0.05, full_parens=True), rng, 0.5 * isinstance(tree, BinOp)), tree
    if form == "bushy":
        tree = bushy_tree(d, rng, opts["negate_prob"], 0.1)
        return to_tokens(tree, rng, rng.choice((0.0, 0.1, 0.3)), full_parens=rng.random() < 0.3), tree
    if form == "chain":
        tree = chain_tree(d, rng, opts["negate_prob"])
        return to_tokens(tree), tree
    if form == "negated":
        if d >= 1 and rng.random() < 0.5:
            a, b = bushy_tree(d - 1, rng, 0.5, 0.2, MAX_LEAVES // 2), bushy_tree(int(rng.random() * d), rng, 0.5, 0.2, MAX_LEAVES // 2)
            a, b = (a, b) if rng.random() < 0.5 else (b, a)
            tree = BinOp("and" if rng.random() < 0.5 else "or", Not(a), _negate(b, rng, 0.5, 0.0))
            return to_tokens(tree, rng, 0.05, full_parens=True), tree
        tree = bushy_tree(d, rng, 0.6, 0.3)
        return to_tokens(tree, rng, 0.1, full_parens=rng.random() < 0.5), tree
    if form == "redundant":
        tree = bushy_tree(d, rng, 0.3, 0.1) if rng.random() < 0.5 else _valued_tree(d, rng, 2, 0.3, opts["pass_prob"])[0]
        tokens = to_tokens(tree, rng, rng.choice((0.1, 0.25)), full_parens=rng.random() < 0.3)
        return _wrap_constants(tokens, rng, 0.2), tree
    raise ValueError(f"unknown logic form {form!r}; known: {', '.join(FORMS)}")


def draw_record(form: str, d: int, label: bool, rng: random.Random, opts: dict) -> dict:
    """A record of ``form`` with the given depth and label (rejection keeps each form's trees'
    distribution given the label)."""
    while True:
        tokens, tree = draw(form, d, rng, opts)
        if evaluate(tree) == label and depth(tree) == d:
            return {"task": "logic", "expression": " ".join(tokens), "label": label, "depth": d}
