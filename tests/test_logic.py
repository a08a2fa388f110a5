"""Boolean-expression task: labels checked with Python's own ``eval``, depth with the ``ast`` module."""

from __future__ import annotations

import ast
import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loopthink.tasks import DataError, get_task
from loopthink.tasks.logic import LOGIC_VOCAB, LogicTask, node_targets, paren_groups
from loopthink.tasks.logic_trees import BinOp, Const, Node, Not, depth, evaluate, operator_values, parse, to_string, tokenize


def py_value(expr: str) -> bool:
    # Test-only oracle: every generated string is made of True/False/not/and/or/parens.
    return eval(" ".join(expr.split()), {"__builtins__": {}})  # noqa: S307


def ast_depth(expr: str) -> int:
    """Independent depth: ast flattens ``a and b and c`` into one BoolOp; as a left-assoc chain it
    is ``(a and b) and c``, so fold the values left to right, one level per operator."""

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            return 0
        if isinstance(node, ast.UnaryOp):
            return walk(node.operand)
        assert isinstance(node, ast.BoolOp)
        d = walk(node.values[0])
        for v in node.values[1:]:
            d = 1 + max(d, walk(v))
        return d

    return walk(ast.parse(" ".join(expr.split()), mode="eval").body)


def ast_operator_values(expr: str) -> dict[int, bool]:
    """Independent labels: character offset of each not/and/or -> the value of what it applies,
    from Python's ast (``not`` starts its UnaryOp; the i-th operator of a flattened BoolOp follows
    ``values[i - 1]`` and applies to the left-assoc prefix ``values[:i + 1]``)."""
    expr = " ".join(expr.split())
    out: dict[int, bool] = {}
    for node in ast.walk(ast.parse(expr, mode="eval")):
        if isinstance(node, ast.UnaryOp):
            out[node.col_offset] = py_value(ast.get_source_segment(expr, node))
        elif isinstance(node, ast.BoolOp):
            values = [py_value(ast.get_source_segment(expr, v)) for v in node.values]
            for i in range(1, len(values)):
                at = re.compile(r"\b(and|or)\b").search(expr, node.values[i - 1].end_col_offset).start()
                out[at] = all(values[: i + 1]) if isinstance(node.op, ast.And) else any(values[: i + 1])
    return out


@pytest.mark.parametrize("options", [{}, {"full_parens": True, "pass_prob": 0.9}, {"forms": {"bushy": 1, "negated": 1, "chain": 1}}])
def test_operator_values_agree_with_python(options):
    for rec in LogicTask().generate(200, seed=4, difficulty=(0, 9), **options):
        expr = rec["expression"]
        starts = [m.start() for m in re.finditer(r"\S+", expr)]  # generated: one space between tokens
        ours = {starts[i]: v for i, v in enumerate(operator_values(expr)) if v is not None}
        assert ours == ast_operator_values(expr), expr


def test_value_input_and_node_targets():
    records = LogicTask().generate(20, seed=2, difficulty=(1, 6), full_parens=True)
    for batch in (LogicTask().encode(records), get_task("logic", full_parens=True).sample_batch(20, np.random.default_rng(2), (1, 6))):
        inp = batch.inputs
        for i in range(len(batch)):
            n = int(inp["mask"][i].sum())
            toks = [LOGIC_VOCAB[t] for t in inp["tokens"][i, 1:n].tolist()]
            want = [0] + [0 if v is None else 1 + v for v in operator_values(" ".join(toks))]
            assert inp["value"][i, :n].tolist() == want
            assert (inp["value"][i, n:] == 0).all()
        allowed = node_targets(inp)
        is_op = (inp["tokens"] >= LOGIC_VOCAB.index("not")) & (inp["tokens"] <= LOGIC_VOCAB.index("or"))
        assert torch.equal(allowed.sum(-1), is_op.long())
        assert torch.equal(allowed[..., 1], inp["value"] == 2)


# ---- parser -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "True",
        "not not False",
        "not True and False",
        "True or False and False",
        "not(True and False)or False",
        "((True))and(((False)))",
        "  True\tand\nnot   False  ",
        "False and True or not False and True",
        "not (True or False) or not (False and (True or not False))",
    ],
)
def test_parse_matches_python(expr):
    tree = parse(expr)
    assert evaluate(tree) == py_value(expr)
    assert depth(tree) == ast_depth(expr)
    assert parse(to_string(tree)) == tree


def test_depth_definition_example():
    tree = parse("not ( True and False ) or False")
    assert tree == BinOp("or", Not(BinOp("and", Const(True), Const(False))), Const(False))
    assert depth(tree) == 2
    assert depth(parse("True and True and True")) == 2  # left-assoc: (T and T) and T
    assert depth(parse("not not True")) == 0


def test_tokenize():
    assert tokenize("not(True and False)or False") == ["not", "(", "True", "and", "False", ")", "or", "False"]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("True and False)", "unexpected ')' at position 14"),
        ("not ( True and False ) or False )", "unexpected ')' at position 32"),
        ("( True and False", "unclosed '(' at position 0"),
        ("True and", "missing operand at position 8"),
        ("True and or False", "unexpected 'or' at position 9"),
        ("True False", "unexpected 'False' at position 5"),
        ("True and maybe", "unknown word 'maybe' at position 9"),
        ("true", "unknown word 'true' at position 0"),
        ("True && False", "unexpected character '&' at position 5"),
        ("()", "unexpected ')' at position 1"),
        ("", "empty expression"),
        ("   ", "empty expression"),
    ],
)
def test_parse_rejects_with_position(expr, message):
    with pytest.raises(DataError, match=re.escape(message)):
        parse(expr)


def test_deep_expressions_do_not_recurse():
    n = 3000
    nested = "( " * n + "True" + " )" * n
    assert evaluate(parse(nested)) is True
    assert evaluate(parse("not " * n + "False")) is False  # even count of nots
    chain = "True"
    for _ in range(300):
        chain = f"not ( False or {chain} )"
    tree = parse(chain)
    assert depth(tree) == 300 and evaluate(tree) is True
    text = to_string(tree)  # compare as text: dataclass == itself recurses
    assert text == " ".join(chain.split()) and to_string(parse(text)) == text


# ---- property tests -----------------------------------------------------------------------------

trees = st.recursive(
    st.booleans().map(Const),
    lambda kids: st.one_of(kids.map(Not), st.builds(BinOp, st.sampled_from(["and", "or"]), kids, kids)),
    max_leaves=25,
)


@st.composite
def printed(draw, tree: Node) -> str:
    """An independent printer: fully parenthesised, random redundant parens, random whitespace."""

    def show(node: Node) -> list[str]:
        if isinstance(node, Const):
            toks = ["True" if node.value else "False"]
        elif isinstance(node, Not):
            toks = ["not", "(", *show(node.child), ")"]
        else:
            toks = ["(", *show(node.left), ")", node.op, "(", *show(node.right), ")"]
        return ["(", *toks, ")"] if draw(st.booleans()) and draw(st.booleans()) else toks

    toks = show(tree)
    out = toks[0]
    for prev, tok in zip(toks, toks[1:]):
        glued_ok = prev in "()" or tok in "()"  # words may not touch each other
        out += draw(st.sampled_from(["", " ", "  ", "\t"] if glued_ok else [" ", "  ", "\t"])) + tok
    return out


@settings(max_examples=150, deadline=None)
@given(st.data(), trees)
def test_roundtrip_random_trees(data, tree):
    expr = data.draw(printed(tree))
    parsed = parse(expr)
    assert parsed == tree
    assert evaluate(parsed) == py_value(expr)
    assert depth(parsed) == ast_depth(expr)
    canonical = to_string(tree)
    assert parse(canonical) == tree and canonical == " ".join(canonical.split())


def test_paren_groups_example():
    assert paren_groups("not ( True )".split()) == ([1, 1, 1, 2, 1], [0, 0, 2, 0, 2])


@settings(max_examples=100, deadline=None)
@given(st.data(), trees)
def test_paren_groups_match_nesting_levels(data, tree):
    """Independent check: two tokens share a group iff they sit at the same nesting level and the
    level never drops below it between them; a paren's ``inner`` is the group of its contents."""
    toks = ["<cls>", *tokenize(data.draw(printed(tree)))]
    group, inner = paren_groups(toks[1:])
    level, lv = [], 0
    for t in toks:  # a paren counts at the level around it
        lv -= t == ")"
        level.append(lv)
        lv += t == "("
    for i in range(len(toks)):
        for j in range(i, len(toks)):
            same = level[i] == level[j] and min(level[i : j + 1]) >= level[i]
            assert (group[i] == group[j]) == same, (toks, i, j)
    for i, t in enumerate(toks):
        if t == "(":
            assert inner[i] == group[i + 1] != group[i]
        elif t == ")":
            assert inner[i] == group[i - 1] != group[i]
        else:
            assert inner[i] == 0


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_malformed_reports_position(tree, data):
    toks = tokenize(to_string(tree))
    i = data.draw(st.integers(0, len(toks)))
    stray = data.draw(st.sampled_from(["(", ")", "and", "or", "not", "True", "xor", "&", ""]))
    mutated = " ".join(toks[:i] + ([stray] if stray else []) + toks[i + 1 :])
    try:
        tree2 = parse(mutated)
    except DataError as e:
        m = re.search(r"position (\d+)", str(e))
        assert m or "empty" in str(e), str(e)
        if m:
            assert 0 <= int(m.group(1)) <= len(mutated)
        return
    assert evaluate(tree2) == py_value(mutated)  # still well formed: must agree with Python


# ---- generator ----------------------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", [(0, 0), (1, 1), (1, 6), (7, 10)])
def test_generate_labels_and_depth(difficulty):
    task = LogicTask()
    records = task.generate(300, seed=11, difficulty=difficulty)
    lo, hi = difficulty
    for rec in records:
        task.validate(rec)
        expr = rec["expression"]
        assert expr == " ".join(expr.split())  # canonical spacing
        assert rec["label"] == py_value(expr)
        assert rec["depth"] == ast_depth(expr) == task.difficulty_of({**rec, "depth": None})
        assert lo <= rec["depth"] <= hi
        assert len(expr.split()) <= 12 * rec["depth"] + 10
    assert sum(r["label"] for r in records) == 150
    if hi > lo:
        assert {r["depth"] for r in records} == set(range(lo, hi + 1))


def test_same_seed_same_output():
    task = LogicTask()
    a = json.dumps(task.generate(100, seed=5, difficulty=(1, 6)))
    assert a == json.dumps(task.generate(100, seed=5, difficulty=(1, 6)))
    assert a != json.dumps(task.generate(100, seed=6, difficulty=(1, 6)))


def test_options():
    task = LogicTask()
    plain = task.generate(50, seed=0, difficulty=(3, 3), paren_prob=0.0, negate_prob=0.0)
    assert all("not" not in r["expression"] for r in plain)
    assert all(r["expression"] == to_string(parse(r["expression"])) for r in plain)
    assert set(LogicTask.option_names()) == {"side_depth", "negate_prob", "paren_prob", "full_parens", "pass_prob", "forms"}


def test_full_parens_make_depth_nesting():
    """With every and/or operand parenthesised, parentheses nest depth - 1 deep (depth when the
    whole expression is a negation), counted independently of the generator's printer."""
    records = LogicTask().generate(400, seed=3, difficulty=(1, 12), paren_prob=0.0, full_parens=True)
    for rec in records:
        expr = rec["expression"]
        level = np.cumsum([(t == "(") - (t == ")") for t in expr.split()])
        top_not = isinstance(ast.parse(expr, mode="eval").body, ast.UnaryOp)
        assert level.max(initial=0) == rec["depth"] - 1 + (top_not and rec["depth"] > 0)
        assert rec["label"] == py_value(expr) and rec["depth"] == ast_depth(expr)


# ---- encoding and validation --------------------------------------------------------------------


def test_encode_layout():
    task = get_task("logic")
    records = task.generate(16, seed=1, difficulty=(1, 4))
    records.append({"task": "logic", "expression": "not(" * 40 + "True" + ")" * 40, "label": False})
    batch = task.encode(records)
    tokens, mask = batch.inputs["tokens"], batch.inputs["mask"]
    assert tokens.dtype == torch.long and mask.dtype == torch.bool
    assert tokens.shape == (17, 1 + 40 * 3 + 1)
    assert (tokens[:, 0] == LOGIC_VOCAB.index("<cls>")).all()
    assert torch.equal(mask, tokens != 0)
    for row, rec in zip(tokens, records):
        n = 1 + len(tokenize(rec["expression"]))
        assert [LOGIC_VOCAB[i] for i in row[1:n].tolist()] == tokenize(rec["expression"])
        assert (row[n:] == 0).all()
    assert batch.labels.tolist() == [int(r["label"]) for r in records]
    assert batch.difficulty.tolist()[-1] == 0  # computed: nots only


def test_sample_batch():
    task = get_task("logic", paren_prob=0.0)
    batch = task.sample_batch(64, np.random.default_rng(0), (2, 5))
    assert batch.inputs["tokens"].shape[0] == 64 and int(batch.labels.sum()) == 32
    assert 2 <= int(batch.difficulty.min()) and int(batch.difficulty.max()) <= 5
    # the fast path skips re-parsing but must equal encode(generate(...)) with the same seed
    seed = int(np.random.default_rng(0).integers(2**62))
    enc = task.encode(task.generate(64, seed, (2, 5), paren_prob=0.0))
    for key in ("tokens", "mask"):
        assert torch.equal(batch.inputs[key], enc.inputs[key])
    assert torch.equal(batch.labels, enc.labels) and torch.equal(batch.difficulty, enc.difficulty)


GOOD = {"task": "logic", "expression": "True and not False", "label": True, "depth": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"expression": 3}, "'expression' must be a string"),
        ({"expression": "True and (False"}, r"does not parse: unclosed '\(' at position 9"),
        ({"expression": "True an False"}, "unknown word 'an' at position 5"),
        ({"label": "true"}, "'label' must be true or false"),
        ({"depth": -1}, "'depth' must be at least 0"),
        ({"depth": 1.0}, "'depth' must be an integer"),
        ({"task": "graph"}, "'task' must be 'logic'"),
    ],
)
def test_validate_rejects(change, message):
    with pytest.raises(DataError, match=message):
        LogicTask().validate({**GOOD, **change})


@pytest.mark.parametrize("key", ["expression", "label"])
def test_validate_missing_key(key):
    rec = dict(GOOD)
    del rec[key]
    with pytest.raises(DataError, match=f"missing key '{key}'"):
        LogicTask().validate(rec)


@pytest.mark.parametrize("pass_prob, passes", [(1.0, True), (0.0, False)])
def test_pass_prob_sets_which_operand_decides(pass_prob, passes):
    """Checked with Python's own evaluation of every and/or in the expression: at pass_prob 1 some
    operand is the identity (True for and, False for or), at 0 some operand is the deciding value."""
    records = LogicTask().generate(200, seed=4, difficulty=(1, 8), pass_prob=pass_prob, full_parens=True)
    for rec in records:
        tree = ast.parse(rec["expression"], mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.BoolOp):
                assert len(node.values) == 2  # full parentheses: one operator per group
                identity = isinstance(node.op, ast.And)
                values = [py_value(ast.unparse(v)) for v in node.values]
                assert (identity in values) if passes else ((not identity) in values)
        assert rec["label"] == py_value(rec["expression"])
    with pytest.raises(ValueError, match="pass_prob"):
        LogicTask().generate(1, seed=0, pass_prob=1.5)
