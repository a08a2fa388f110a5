"""The logic generator's written forms, and the external infix families: labels checked with
Python's own ``eval``, depth with the ``ast`` module, each side against the other's parser."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from loopthink.tasks import DataError, get_task
from loopthink.tasks.external import logic_infix
from loopthink.tasks.external.logic_infix import FAMILIES, python_depth, python_value
from loopthink.tasks.logic import LogicTask
from loopthink.tasks.logic_forms import FORMS, check_forms
from loopthink.tasks.logic_trees import depth, evaluate, parse
from tests.test_logic import ast_depth, py_value

ALL_FORMS = {name: 1.0 for name in FORMS}


@pytest.mark.parametrize("form", FORMS)
def test_each_form_agrees_with_python(form):
    records = LogicTask().generate(120, seed=5, difficulty=(0, 10), forms=form)
    assert sum(r["label"] for r in records) == 60
    assert {r["depth"] for r in records} >= set(range(1, 10))
    for rec in records:
        expr = rec["expression"]
        assert py_value(expr) is rec["label"], expr
        assert ast_depth(expr) == rec["depth"], expr


def _max_nesting(expr: str) -> int:
    level = top = 0
    for ch in expr:
        level += ch == "("
        level -= ch == ")"
        top = max(top, level)
    return top


def test_forms_have_their_shapes():
    """Each form shows what it is for, counted on the strings (not on the generator's trees)."""

    def gen(form: str, lo: int = 4, hi: int = 8) -> list[str]:
        return [r["expression"] for r in LogicTask().generate(200, seed=1, difficulty=(lo, hi), forms=form)]

    chains = gen("chain")
    # precedence alone: any parentheses hold one two-constant pair, never a nested group
    assert all(_max_nesting(e) <= 1 for e in chains)
    assert sum("(" not in e and " and " in e and " or " in e for e in chains) > 60
    # every and/or operand parenthesised: a depth-d expression nests at least d - 1 deep
    recs = LogicTask().generate(200, seed=1, difficulty=(4, 8), forms="full")
    assert all(_max_nesting(r["expression"]) >= r["depth"] - 1 for r in recs)
    negated = gen("negated")
    assert sum(" not not " in f" {e}" for e in negated) > 20
    assert sum(re.match(r"not \(.*\) (and|or) (not )?\(", e) is not None for e in negated) > 50
    redundant = gen("redundant", 1, 3)
    assert sum("( ( True ) )" in e or "( ( False ) )" in e for e in redundant) > 10
    assert sum(re.search(r"\( not (True|False) \)", e) is not None for e in redundant) > 5
    bushy = LogicTask().generate(200, seed=1, difficulty=(6, 6), forms="bushy")
    both_deep = 0
    for rec in bushy:  # both operands of the top and/or at depth >= 2
        node = ast.parse(rec["expression"], mode="eval").body
        while isinstance(node, ast.UnaryOp):
            node = node.operand
        both_deep += min(python_depth(ast.unparse(v)) for v in node.values) >= 2
    assert both_deep > 40


def test_forms_mixture_option():
    task = get_task("logic", forms=ALL_FORMS)
    batch = task.sample_batch(64, np.random.default_rng(0), (1, 6))
    assert batch.labels.sum().item() == 32 and batch.difficulty.min() >= 1 and batch.difficulty.max() <= 6
    a = LogicTask().generate(30, seed=3, difficulty=(1, 6), forms={"chain": 1, "bushy": 2})
    assert a == LogicTask().generate(30, seed=3, difficulty=(1, 6), forms={"chain": 1, "bushy": 2})
    assert check_forms("chain") == {"chain": 1.0}
    with pytest.raises(ValueError, match="unknown logic form 'flat'"):
        check_forms({"flat": 1})
    with pytest.raises(ValueError, match="positive sum"):
        check_forms({"chain": 0})
    with pytest.raises(DataError, match="unknown logic form 'flat'"):
        get_task("logic", forms="flat")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_external_family_agrees_with_loopthink(family):
    records = FAMILIES[family](120, 11, (1, 10))
    assert len(records) == 120 and sum(r["label"] for r in records) == 60
    assert {r["depth"] for r in records} == set(range(1, 11))
    assert records == FAMILIES[family](120, 11, (1, 10))
    task = LogicTask()
    for rec in records:
        task.validate(rec)
        tree = parse(rec["expression"])
        assert evaluate(tree) is rec["label"] and depth(tree) == rec["depth"], rec["expression"]


def test_external_reference_on_known_cases():
    assert python_depth("True") == 0 and python_depth("not ( True )") == 0
    assert python_depth("True and False and True") == 2
    assert python_depth("True or False and True") == 2 and python_depth("( True or False ) and True") == 2
    assert python_depth("not ( True and False ) or False") == 2
    assert python_value("not(True and False)or False") is True and python_value("not not False") is False
    with pytest.raises(ValueError):
        FAMILIES["flat_chains"](1, 0, (3, 2))


def test_external_families_do_not_use_loopthink_logic():
    source = Path(logic_infix.__file__).read_text()
    assert "loopthink" not in "".join(re.findall(r"^\s*(?:from|import) .*$", source, re.M))
