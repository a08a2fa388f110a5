"""The recurrent model's contract, on hand-made inputs (no training)."""

import numpy as np
import pytest
import torch

from loopthink.config import ModelConfig
from loopthink.model.core import LoopModel
from loopthink.model.interfaces import RelationBias
from loopthink.model.layers import apply_rotary, attend, rotary_tables


def chain_graph(B: int = 3, N: int = 7) -> dict[str, torch.Tensor]:
    """Path 0 -> 1 -> ... -> N-1; adj[b, v, u] = edge u -> v."""
    adj = torch.zeros(B, N, N, dtype=torch.bool)
    for u in range(N - 1):
        adj[:, u + 1, u] = True
    return dict(
        adj=adj, node_mask=torch.ones(B, N, dtype=torch.bool), source=torch.zeros(B, dtype=torch.long), target=torch.full((B,), N - 1)
    )


def model(**kw) -> LoopModel:
    torch.manual_seed(0)
    return LoopModel(ModelConfig(**kw), "nodes", 2).eval()


def test_steps_are_free_and_parameters_do_not_depend_on_them():
    m = model()
    inp = chain_graph()
    for T in (1, 8, 64, 200):
        assert m(inp, T).logits.shape == (3, 2)
    assert m(inp, 5, return_step_logits=True).step_logits.shape == (5, 3, 2)
    assert m(inp, 5, return_states="pooled").states.shape == (6, 3, 64)
    assert m(inp, 5, return_states="full").states.shape == (6, 3, 7, 64)


def test_one_step_moves_information_one_hop():
    """The target's state after t steps cannot depend on a source more than t hops upstream."""
    m = model(layerscale=1.0, init_state="zeros")
    with torch.no_grad():  # large weights, so a 6-hop influence is far above float noise
        for p in m.blocks.parameters():
            p.mul_(20.0)
    inp = chain_graph(B=1, N=7)  # source 0 is 6 hops from target 6
    moved = dict(inp, source=torch.tensor([1]))  # now 5 hops away
    for T in range(1, 5):
        assert torch.allclose(m(inp, T).logits, m(moved, T).logits), T
    assert (m(inp, 6).logits - m(moved, 6).logits).abs().max() > 1e-4


def test_start_from_given_state_and_seeded_random_init():
    m = model()
    inp = chain_graph()
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(m(inp, 4, generator=g1).logits, m(inp, 4, generator=g2).logits)
    h0 = torch.zeros(3, 7, 64)
    a = m(inp, 4, h0=h0).logits
    assert torch.equal(a, m(inp, 4, h0=h0.clone()).logits)


def test_frozen_examples_keep_their_state():
    m = model(layerscale=1.0)
    inp = chain_graph()
    h0 = torch.randn(3, 7, 64)
    frozen = torch.tensor([True, False, True])
    h = m(inp, 5, h0=h0, frozen=frozen).final_state
    assert torch.equal(h[0], h0[0]) and torch.equal(h[2], h0[2])
    assert not torch.equal(h[1], h0[1])


def test_step_starts_near_identity():
    """LayerScale + the gate make an untrained step almost the identity map (the gradient highway)."""
    inp = chain_graph()
    h0 = torch.randn(3, 7, 64)
    near = model()
    h1 = near.step(h0, near.encode(inp), 0)
    assert (h1 - h0).norm() / h0.norm() < 1e-3
    plain = model(layerscale=None, gate=False)
    h1 = plain.step(h0, plain.encode(inp), 0)
    assert (h1 - h0).norm() / h0.norm() > 1e-2


def test_truncated_backprop_keeps_values_and_cuts_gradients():
    m = model(layerscale=1.0).train()
    m.cfg.dropout = 0.0
    inp = chain_graph()
    h0 = torch.randn(3, 7, 64, requires_grad=True)
    full = m(inp, 10, h0=h0).logits
    cut = m(inp, 10, h0=h0, bptt=3).logits
    assert torch.allclose(full, cut, atol=1e-6)
    cut.sum().backward()
    assert h0.grad is None  # no graph reaches the initial state
    assert all(p.grad is not None for p in m.blocks.parameters())


def test_rotary_scores_depend_only_on_relative_position():
    cos, sin = rotary_tables(40, 16, torch.device("cpu"))
    q, k = torch.randn(16), torch.randn(16)

    def score(i: int, j: int) -> torch.Tensor:
        qi = apply_rotary(q.view(1, 1, 1, 16), cos[i : i + 1], sin[i : i + 1])
        kj = apply_rotary(k.view(1, 1, 1, 16), cos[j : j + 1], sin[j : j + 1])
        return (qi * kj).sum()

    assert torch.allclose(score(3, 1), score(30, 28), atol=1e-4)
    assert torch.allclose(score(0, 7), score(12, 19), atol=1e-4)


def test_init_std_null_preserves_variance():
    torch.manual_seed(0)
    small, kept = LoopModel(ModelConfig(d_model=64), "nodes", 2), LoopModel(ModelConfig(d_model=64, init_std=None), "nodes", 2)
    w_small, w_kept = small.blocks[0].mlp[0].weight, kept.blocks[0].mlp[0].weight
    assert abs(w_small.std().item() - 0.02) < 0.002
    assert abs(w_kept.std().item() - 64**-0.5) < 0.01
    assert torch.equal(kept.gate.lin.weight, torch.zeros_like(kept.gate.lin.weight))  # the gate keeps its own init


def test_text_interface_links_facts_through_names_and_reads_a():
    from loopthink.tasks import get_task

    task = get_task("text")
    rec = {"text": "Ann is the sister of Tom. Tom's daughter is Liv.", "question": "How is Ann related to Liv?", "answer": "aunt"}
    inputs = task.encode([rec]).inputs
    m = LoopModel(ModelConfig(), "prose", len(task.classes), len(task.vocab)).eval()
    ctx = m.encode(inputs)
    words = ["<cls>", "Ann", "is", "the", "sister", "of", "Tom", ".", "Tom", "'s", "daughter", "is", "Liv", ".", "how", "is", "Ann"]
    assert ctx.readout_index.tolist() == [words.index("Ann", 2)]  # A's name in the question
    bias = ctx.mask[0]  # (H, L, L): even heads favour the same sentence, odd heads the same name
    tom1, tom2, sister, daughter = 6, 8, 4, 10
    assert bias[1, tom1, tom2] > 5 and bias[1, tom1, sister] == 0  # co-reference across facts
    assert bias[0, tom1, sister] > 5 and bias[0, tom1, tom2] == 0  # words of one fact
    assert bias[0, tom2, daughter] > 5


def test_logic_interface_relates_tokens_through_parentheses():
    from loopthink.tasks import get_task

    task = get_task("logic")
    inputs = task.encode([{"expression": "not ( True or False ) and True", "label": False}]).inputs
    # <cls> not ( True or False ) and True
    #   0    1  2  3    4   5    6  7   8
    ctx = LoopModel(ModelConfig(), "expression", 2, len(task.vocab)).encode(inputs)
    bias = ctx.mask[0]  # (H, L, L): even heads favour the same group, odd heads the group link
    assert bias[0, 1, 7] > 5 and bias[0, 1, 3] == 0  # 'not' and 'and' share the top level
    assert bias[0, 3, 5] > 5  # True, False inside the parentheses
    assert bias[1, 2, 4] > 5 and bias[1, 4, 6] > 5 and bias[1, 4, 2] > 5  # '(' ')' <-> their contents
    assert bias[1, 1, 3] == 0
    plain = LoopModel(ModelConfig(relation_bias=None), "expression", 2, len(task.vocab)).encode(inputs)
    assert plain.mask.dtype == torch.bool and plain.mask.shape == (1, 1, 1, 9)


def test_relation_mask_attends_only_along_relations():
    """relation_mask: keys outside every relation are -inf (the query itself stays), padding too."""
    import pytest

    from loopthink.tasks import get_task

    task = get_task("logic")
    inputs = task.encode(
        [
            {"expression": "not ( True or False ) and True", "label": False},
            {"expression": "True", "label": True},
        ]
    ).inputs
    model = LoopModel(ModelConfig(relation_mask=True, init_state="zeros"), "expression", 2, len(task.vocab))
    bias = model.encode(inputs).mask  # (B, H, L, L)
    # 'True' inside the parentheses (3) sees its group (3, 4, 5) and the parentheses (2, 6) only
    assert torch.isfinite(bias[0, :, 3]).nonzero()[:, 1].unique().tolist() == [2, 3, 4, 5, 6]
    assert torch.isinf(bias[0, :, 3, [0, 1, 7, 8]]).all()  # not '<cls>', 'not', 'and', the last 'True'
    assert torch.isfinite(bias[1, :, 5, 5]).all() and torch.isinf(bias[1, :, 5, :5]).all()  # padding: itself only
    out = model(inputs, 6, return_step_logits=True)
    assert torch.isfinite(out.step_logits).all()
    with pytest.raises(ValueError, match="relation_mask"):
        ModelConfig(relation_mask=True, relation_bias=None)


def test_group_positions_count_within_each_parenthesis_group():
    from loopthink.model.interfaces import position_in_group
    from loopthink.tasks import get_task

    task = get_task("logic")
    inputs = task.encode([{"expression": "not ( True or False ) and True", "label": False}]).inputs
    # <cls> not ( True or False ) and True  -> groups 1 1 1 2 2 2 1 1 1
    assert position_in_group(inputs["group"])[0].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5]
    model = LoopModel(ModelConfig(rotary_positions="group", relation_mask=True), "expression", 2, len(task.vocab))
    deep = "not ( " * 30 + "True" + " )" * 30  # 30 levels deeper than any group is long
    batch = task.encode([{"expression": deep, "label": True}, {"expression": "True and False", "label": False}])
    cos, _ = model.encode(batch.inputs).rotary
    real = batch.inputs["mask"]
    assert cos.shape[:2] == (2, 1) and int(position_in_group(batch.inputs["group"])[real].max()) == 3
    out = model(batch.inputs, 4)
    assert torch.isfinite(out.logits).all()
    sub = model.encode(batch.inputs).index(torch.tensor([1]))  # halting shrinks the batch: tables follow
    assert sub.rotary[0].shape[0] == 1


def test_iterate_is_the_loop_forward_reads():
    """iterate yields steps 0..T; a state a consumer replaces is where the next step starts, and a
    row dropped with keep() leaves the others' trajectories as they were."""
    m = model(layerscale=1.0)
    inp = chain_graph()
    h0 = torch.randn(3, 7, 64)
    seen = list((s.t, s.logits is None) for s in m.iterate(inp, 3, h0=h0))
    assert seen == [(0, True), (1, True), (2, True), (3, True)]
    out = m(inp, 3, h0=h0, return_step_logits=True)
    with torch.no_grad():
        states = [(s.h, s.logits) for s in m.iterate(inp, 3, h0=h0, readout=True) if s.t]
    assert torch.equal(states[-1][0], out.final_state)
    assert torch.equal(torch.stack([lg for _, lg in states]), out.step_logits)
    with torch.no_grad():
        for s in m.iterate(inp, 3, h0=h0, readout=True):
            if s.t == 1:
                s.h = h0  # restart from h0: steps 2, 3 now equal steps 1, 2
                s.keep(torch.tensor([0, 2]))
            last = s
    want = m(inp, 2, h0=h0).logits.detach()[[0, 2]]
    assert torch.allclose(last.logits, want, atol=1e-6)  # a smaller batch may differ in the last bits


def test_state_norm_keeps_every_state_at_unit_rms():
    """model.state_norm: each step's state is RMS-normalised, so a long rollout cannot grow it."""
    from loopthink.tasks import get_task

    task = get_task("text")
    batch = task.sample_batch(4, np.random.default_rng(0), (1, 2))
    torch.manual_seed(0)
    m = LoopModel(
        ModelConfig(d_model=32, n_heads=2, d_ff=64, state_norm=True, init_state="zeros", init_std=None, layerscale=None),
        task.interface,
        task.num_classes,
        len(task.vocab),
    )
    m.eval()
    with torch.no_grad():
        out = m(batch.inputs, 64, return_states="full")
    rms = out.states[1:].pow(2).mean(-1).sqrt()[:, batch.inputs["mask"]]  # real tokens (padding stays ~0)
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-3)
    plain = LoopModel(
        ModelConfig(d_model=32, n_heads=2, d_ff=64, init_state="zeros", init_std=None, layerscale=None),
        task.interface,
        task.num_classes,
        len(task.vocab),
    )
    plain.load_state_dict(m.state_dict())  # same weights: the option adds no parameters
    assert not torch.equal(plain(batch.inputs, 4).logits, m(batch.inputs, 4).logits)


@pytest.mark.parametrize("head_dim", [8, 16])
def test_written_out_attention_is_bit_identical_to_sdpa(head_dim):
    # attend() replaces SDPA's math kernel for learned float biases; training numbers rely on its
    # values and gradients being the same bits, padding keys (-inf) and a hard mask included
    torch.manual_seed(0)
    B, H, L = 3, 4, 9
    qkv = [torch.randn(B, H, L, head_dim, requires_grad=True) for _ in range(3)]
    rel = torch.rand(B, 2, L, L) < 0.3
    key_mask = torch.ones(B, L, dtype=torch.bool)
    key_mask[0, 6:] = False
    for hard in (False, True):
        relations = RelationBias(2, H, 1.0, hard)
        results = []
        for fn in (attend, lambda q, k, v, m, p: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)):
            bias = relations(rel, key_mask)
            assert bias.requires_grad and torch.isinf(bias).any()
            y = fn(*qkv, bias, 0.0)
            grads = torch.autograd.grad(y.square().sum(), [*qkv, relations.weight])
            results.append((y, *grads))
        for mine, theirs in zip(*results):
            assert torch.equal(mine, theirs)


def test_update_dropout_holds_a_random_share_of_tokens_in_training_only():
    """model.update_dropout: in training each token keeps its old state at a step with that chance;
    in evaluation it changes nothing."""
    plain = model(layerscale=1.0)
    held = model(layerscale=1.0, update_dropout=0.3)
    inp, h0 = chain_graph(B=64), torch.randn(64, 7, 64)
    with torch.no_grad():
        assert torch.equal(held(inp, 4, h0=h0).logits, plain(inp, 4, h0=h0).logits)
        held.train()
        torch.manual_seed(1)
        states = held(inp, 4, h0=h0, return_states="full").states
    same = (states[1:] == states[:-1]).all(-1)  # (T, B, N): the token sat the step out
    assert abs(same.float().mean().item() - 0.3) < 0.03  # 1,792 token-steps


def test_depth_attention_reads_only_each_tokens_own_past():
    """model.depth_attention: step 1 has no past (the plain model's output); from step 2 a token also
    attends to its own earlier keys, never another token's or another example's; keep() shrinks it."""
    plain, deep = model(layerscale=1.0), model(layerscale=1.0, depth_attention=True)
    deep.load_state_dict(plain.state_dict())  # no parameters of its own
    inp = chain_graph()
    h0 = torch.randn(3, 7, 64)
    with torch.no_grad():
        assert torch.allclose(deep(inp, 1, h0=h0).logits, plain(inp, 1, h0=h0).logits, atol=1e-6)
        assert not torch.allclose(deep(inp, 3, h0=h0).logits, plain(inp, 3, h0=h0).logits, atol=1e-4)
        # a graph node attends only to its in-neighbours: with the source's past also read only by the
        # source, the target 6 hops downstream still cannot see it in 5 steps
        moved = dict(inp, source=torch.tensor([1, 1, 1]))
        assert torch.allclose(deep(inp, 5, h0=h0).logits, deep(moved, 5, h0=h0).logits, atol=1e-6)
        for s in deep.iterate(inp, 3, h0=h0, readout=True):
            if s.t == 1:
                s.keep(torch.tensor([0, 2]))
            last = s
        alone = deep(chain_graph(B=2), 3, h0=h0[[0, 2]]).logits
    assert torch.allclose(last.logits, alone, atol=1e-5)
    deep.train()
    deep(inp, 3).logits.sum().backward()  # the past carries gradients like the state does
    assert deep.blocks[0].attn.qkv.weight.grad is not None
