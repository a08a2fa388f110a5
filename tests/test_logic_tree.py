"""Logic read through its parse tree (``model.expression_relations: tree``): the parent links are a
correct parse (checked against Python's evaluator on every external family), every written form of
one tree gives the same relations, and attention runs only along them."""

from __future__ import annotations

import pytest
import torch

from loopthink.config import ModelConfig
from loopthink.model import LoopModel
from loopthink.tasks import get_task
from loopthink.tasks.external.logic_infix import FAMILIES, python_value
from loopthink.tasks.logic_trees import parse_structure, tokenize


def value_along_parents(expr: str) -> bool:
    """Evaluate ``expr`` from its tokens and parent links alone (children before parents)."""
    tokens = tokenize(expr)
    _, parents = parse_structure(expr)
    children: dict[int, list[int]] = {i: [] for i in range(len(tokens))}
    for i, p in enumerate(parents):
        if p is not None and p >= 0:
            children[p].append(i)
    (root,) = [i for i, p in enumerate(parents) if p == -1]
    done: dict[int, bool] = {}
    stack = [root]
    while stack:  # iterative post-order: deep expressions stay off Python's recursion limit
        i = stack[-1]
        todo = [c for c in children[i] if c not in done]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        kids = [done[c] for c in children[i]]
        tok = tokens[i]
        if tok in ("True", "False"):
            assert not kids
            done[i] = tok == "True"
        elif tok == "not":
            assert len(kids) == 1
            done[i] = not kids[0]
        else:
            assert tok in ("and", "or") and len(kids) == 2
            done[i] = all(kids) if tok == "and" else any(kids)
    assert all(parents[i] is None for i, tok in enumerate(tokens) if tok in "()")  # parentheses are no node
    return done[root]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_parent_links_evaluate_like_python_on_every_external_family(family):
    for rec in FAMILIES[family](60, 11, (1, 8)):
        assert value_along_parents(rec["expression"]) == python_value(rec["expression"]) == rec["label"], rec["expression"]


def tree_model(**kw) -> tuple[LoopModel, object]:
    task = get_task("logic")
    cfg = ModelConfig(expression_relations="tree", init_state="zeros", **kw)
    return LoopModel(cfg, task.interface, 2, len(task.vocab)), task


def test_every_written_form_of_one_tree_gives_the_same_relations():
    model, task = tree_model()
    forms = ["True and False or not True", "( True and False ) or ( not True )", "( ( ( True and False ) ) or not ( True ) )"]
    batch = task.encode([{"expression": e, "label": False} for e in forms])
    ctx = model.encode(batch.inputs)
    assert ctx.rotary is None  # the tree alone: no positions
    relations = []
    for b, expr in enumerate(forms):
        keep = [0] + [1 + i for i, tok in enumerate(tokenize(expr)) if tok not in "()"]
        relations.append(ctx.mask[b][:, keep][:, :, keep])
    assert torch.equal(relations[0], relations[1]) and torch.equal(relations[0], relations[2])


def test_relation_mask_along_the_tree_keeps_itself_operands_and_operator():
    model, task = tree_model(relation_mask=True)
    # <cls> True and False or not True:  'or' (4) has operands 'and' (2) and 'not' (5); its operator is <cls>
    inputs = task.encode([{"expression": "True and False or not True", "label": False}]).inputs
    assert inputs["parent"][0].tolist() == [-1, 2, 4, 2, 0, 4, 5]
    bias = model.encode(inputs).mask[0]
    assert torch.isfinite(bias[:, 4]).nonzero()[:, 1].unique().tolist() == [0, 2, 4, 5]
    assert torch.isfinite(bias[:, 1]).nonzero()[:, 1].unique().tolist() == [1, 2]
    out = model(inputs, 5)
    assert torch.isfinite(out.logits).all()
    with pytest.raises(ValueError, match="expression_relations"):
        ModelConfig(expression_relations="tree", relation_bias=None)
