"""Attention along edges (model/edges.py) against the dense path: values, gradients, halting's
``Context.index``, Depth-Attention, and which path the density rule picks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import loopthink.model.edges as edges_mod
from loopthink.config import load_config
from loopthink.model.config import ModelConfig
from loopthink.model.core import LoopModel
from loopthink.model.edges import Edges, edge_attend, prefer_edges
from loopthink.model.interfaces import RelationBias
from loopthink.model.layers import attend
from loopthink.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


def random_mask(B: int, L: int, degree: float, generator: torch.Generator, hub: bool = False, pad: bool = False) -> torch.Tensor:
    """bool (B, L, L) with the diagonal set: random in-edges, optionally a hub every other token
    points to, optionally a padded tail (keys there masked, as the interfaces mask them)."""
    allowed = torch.rand(B, L, L, generator=generator) < degree / L
    if hub:
        allowed[:, 0, 1::2] = True
    if pad:
        real = torch.arange(L) < L - 3
        allowed &= real[None, None, :]
    return allowed | torch.eye(L, dtype=torch.bool)


def dense_reference(q, k, v, allowed, bias=None):
    mask = allowed[:, None] if bias is None else bias.masked_fill(~allowed[:, None], float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@pytest.mark.parametrize("hub,pad,biased", [(False, False, False), (True, False, False), (False, True, True), (True, True, True)])
def test_edge_attention_matches_dense_values_and_gradients(hub, pad, biased):
    g = torch.Generator().manual_seed(1)
    B, H, L, Dh = 3, 4, 24, 8
    allowed = random_mask(B, L, 2.0, g, hub=hub, pad=pad)
    qkv = [torch.randn(B, H, L, Dh, generator=g, requires_grad=True) for _ in range(3)]
    rel = torch.rand(B, 2, L, L, generator=g) < 0.5
    weight = torch.randn(2, H, generator=g, requires_grad=True)
    edges = Edges.from_mask(allowed, rel, weight) if biased else Edges.from_mask(allowed)
    dense_bias = torch.einsum("brij,rh->bhij", rel.float(), weight) if biased else None
    upstream = torch.randn(B, H, L, Dh, generator=g)
    leaves = [*qkv, weight] if biased else qkv

    got = edge_attend(*qkv, edges, 0.0)
    got_grads = torch.autograd.grad((got * upstream).sum(), leaves)
    want = dense_reference(*qkv, allowed, dense_bias)
    want_grads = torch.autograd.grad((want * upstream).sum(), leaves)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_attend_dispatches_edges_and_dense_is_their_mask():
    g = torch.Generator().manual_seed(2)
    allowed = random_mask(2, 16, 3.0, g)
    edges = Edges.from_mask(allowed)
    assert torch.equal(edges.dense(), allowed[:, None])
    q, k, v = (torch.randn(2, 2, 16, 4, generator=g) for _ in range(3))
    torch.testing.assert_close(attend(q, k, v, edges, 0.0), attend(q, k, v, edges.dense(), 0.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("idx", [[2, 0], [1], [0, 1, 2, 3], [True, False, True, True]])
def test_index_renumbers_edges_as_the_dense_mask_is_indexed(idx):
    g = torch.Generator().manual_seed(3)
    allowed = random_mask(4, 10, 2.0, g, hub=True)
    weight = torch.randn(2, 3, generator=g)
    edges = Edges.from_mask(allowed, torch.rand(4, 2, 10, 10, generator=g) < 0.3, weight)
    idx = torch.tensor(idx)
    kept = edges.index(idx)
    assert kept.batch == (int(idx.sum()) if idx.dtype == torch.bool else len(idx))
    assert torch.equal(kept.dense(), edges.dense()[idx])


def graph_inputs(B: int, N: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random graphs of mean out-degree 2 with padded tails of different lengths."""
    adj = (torch.rand(B, N, N, generator=generator) < 2.0 / N) & ~torch.eye(N, dtype=torch.bool)
    sizes = torch.randint(N // 2, N + 1, (B,), generator=generator)
    node_mask = torch.arange(N)[None] < sizes[:, None]
    adj &= node_mask[:, :, None] & node_mask[:, None, :]
    return {"adj": adj, "node_mask": node_mask, "source": torch.zeros(B, dtype=torch.long), "target": sizes - 1}


def run_both(model, inputs, steps=3):
    """(final state, parameter gradients) with the dense path forced, then the edge path forced
    (the same initial state: a generator seeded alike for each)."""
    out = []
    for density in (0.0, math.inf):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(edges_mod, "EDGE_DENSITY", density)
            model.zero_grad()
            res = model(inputs, steps, generator=torch.Generator().manual_seed(0))
            res.final_state.square().sum().backward()
            out.append((res.final_state.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    return out


def test_graph_model_same_state_and_gradients_on_edges():
    torch.manual_seed(0)
    model = LoopModel(ModelConfig(layerscale=1.0), "nodes", 2).train()
    (hd, gd), (he, ge) = run_both(model, graph_inputs(4, 20, torch.Generator().manual_seed(4)))
    torch.testing.assert_close(he, hd, rtol=1e-4, atol=1e-5)
    assert gd.keys() == ge.keys()
    for name in gd:
        torch.testing.assert_close(ge[name], gd[name], rtol=1e-3, atol=1e-5, msg=name)


def test_hard_relation_biases_same_on_edges_and_their_weights_learn_alike():
    """logic with relation_mask: the relation biases travel on the edges, gradient included."""
    cfg = load_config(ROOT / "configs" / "logic.yaml", ["model.relation_mask=true", "model.layerscale=1.0"])
    task = get_task("logic")
    torch.manual_seed(0)
    model = LoopModel(cfg.model, task.interface, task.num_classes, len(task.vocab)).train()
    batch = task.sample_batch(6, np.random.default_rng(0), (3, 5))
    (hd, gd), (he, ge) = run_both(model, batch.inputs)
    torch.testing.assert_close(he, hd, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ge["interface.relations.weight"], gd["interface.relations.weight"], rtol=1e-3, atol=1e-5)


def test_halting_keeps_rows_of_an_edge_context():
    torch.manual_seed(0)
    model = LoopModel(ModelConfig(), "nodes", 2).eval()
    inputs = graph_inputs(5, 16, torch.Generator().manual_seed(5))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(edges_mod, "EDGE_DENSITY", math.inf)
        ctx = model.encode(inputs)
        assert isinstance(ctx.mask, Edges)
        kept = ctx.index(torch.tensor([4, 1]))
        h = torch.randn(5, 16, 64)
        got = model.step(h[[4, 1]], kept, 0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(edges_mod, "EDGE_DENSITY", 0.0)
        want = model.step(h[[4, 1]], model.encode(inputs).index(torch.tensor([4, 1])), 0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_depth_attention_meets_edges_as_their_dense_mask():
    torch.manual_seed(0)
    model = LoopModel(ModelConfig(depth_attention=True, layerscale=1.0), "nodes", 2).eval()
    (hd, _), (he, _) = run_both(model, graph_inputs(3, 12, torch.Generator().manual_seed(6)))
    torch.testing.assert_close(he, hd, rtol=1e-5, atol=1e-5)


def test_density_rule_keeps_shipped_graph_training_dense_and_large_graphs_on_edges():
    cfg = load_config(ROOT / "configs" / "graph.yaml")
    task = get_task("graph", **cfg.task.options)
    model = LoopModel(cfg.model, "nodes", 2)
    batch = task.sample_batch(cfg.train.batch_size, np.random.default_rng(0), tuple(cfg.task.train_difficulty))
    assert isinstance(model.encode(batch.inputs).mask, torch.Tensor)
    assert isinstance(model.encode(graph_inputs(2, 512, torch.Generator().manual_seed(7))).mask, Edges)
    assert prefer_edges(3 * 1024, 1, 1024) and not prefer_edges(3 * 32 * 128, 128, 32)


def test_relation_bias_chooses_by_density():
    bias = RelationBias(2, 4, 10.0, hard=True)
    rel = torch.zeros(2, 2, 200, 200, dtype=torch.bool)
    rel[:, 0, torch.arange(1, 200), torch.arange(199)] = True  # left neighbour only: sparse
    assert isinstance(bias(rel, torch.ones(2, 200, dtype=torch.bool)), Edges)
    assert isinstance(bias(rel[:, :, :8, :8], torch.ones(2, 8, dtype=torch.bool)), torch.Tensor)
    assert isinstance(RelationBias(2, 4, 10.0)(rel, torch.ones(2, 200, dtype=torch.bool)), torch.Tensor)  # soft: dense
