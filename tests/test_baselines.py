"""Baselines (model/baselines.py, fixed_depth.py, act.py, ponder.py): the same forward contract as
LoopModel, halting behaviour, config validation, and a very short training run each that reloads from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from loopthink.config import ConfigError, load_config
from loopthink.model import build_model
from loopthink.model.baselines import count_params
from loopthink.model.ponder import PonderNetModel
from loopthink.tasks import get_task
from loopthink.training.rundir import load_run
from tests.conftest import tiny_config

ARCHS = ["transformer", "act", "ponder"]
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def make(arch: str, **baseline):
    cfg = tiny_config()
    cfg.arch = arch
    cfg.baseline = baseline
    torch.manual_seed(0)
    task = get_task("graph")
    return cfg, build_model(cfg, task).eval(), task


def batch(task, n: int = 6, hops: tuple[int, int] = (1, 5), seed: int = 0):
    return task.sample_batch(n, np.random.default_rng(seed), hops)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_contract_for_any_steps(arch):
    cfg, m, task = make(arch)
    b = batch(task)
    B, N = b.inputs["node_mask"].shape
    for T in (1, 3, cfg.train.steps.max, 20):  # 20 > anything seen in training
        out = m(b.inputs, T, return_step_logits=True, return_states="pooled")
        assert out.logits.shape == (B, 2)
        assert out.step_logits.shape == (T, B, 2)
        assert out.states.shape == (T + 1, B, cfg.model.d_model)
        assert out.final_state.shape == (B, N, cfg.model.d_model)
        assert m(b.inputs, T, return_states="full").states.shape == (T + 1, B, N, cfg.model.d_model)
        ctx = m.encode(b.inputs)
        assert m.readout(out.final_state, ctx).shape == (B, 2) and m.pool(out.final_state, ctx).shape == (B, cfg.model.d_model)
    with pytest.raises(ValueError):
        m(b.inputs, 0)


@pytest.mark.parametrize("arch", ARCHS)
def test_step_logits_read_every_budget_from_one_rollout(arch):
    """step_logits[t] of a long rollout == logits of a rollout allowed t+1 steps (what eval relies on).
    Not for the transformer, whose logits always come from its full depth."""
    cfg, m, task = make(arch, **({"halt_bias": -1.0} if arch == "act" else {}))
    b = batch(task)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    long = m(b.inputs, 12, generator=g(), return_step_logits=True).step_logits
    for T in (1, 2, 5, 12):
        out = m(b.inputs, T, generator=g(), return_step_logits=True)
        assert torch.allclose(out.step_logits[-1], out.logits, atol=1e-6)
        if arch != "transformer":
            assert torch.allclose(long[T - 1], out.logits, atol=1e-5), T


@pytest.mark.parametrize("arch", ["recurrent", *ARCHS])
def test_keep_steps_selects_readouts_in_order(arch):
    """keep_steps keeps the readouts after those step counts, in the order asked (evaluation keeps
    only its budgets of a long rollout); a count outside 1..steps is an error."""
    _, m, task = make(arch)
    b = batch(task)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    every = m(b.inputs, 9, generator=g(), return_step_logits=True)
    some = m(b.inputs, 9, generator=g(), return_step_logits=True, keep_steps=[9, 2, 5])
    assert torch.allclose(some.step_logits, every.step_logits[[8, 1, 4]], atol=1e-6)
    assert torch.allclose(some.logits, every.logits, atol=1e-6)
    with pytest.raises(ValueError, match="keep_steps"):
        m(b.inputs, 4, return_step_logits=True, keep_steps=[5])


@pytest.mark.parametrize("arch", ARCHS)
def test_accepts_every_loopmodel_argument(arch):
    cfg, m, task = make(arch)
    b = batch(task)
    B, N = b.inputs["node_mask"].shape
    frozen = torch.tensor([True] + [False] * (B - 1))
    h0 = torch.randn(B, N, cfg.model.d_model)
    out = m.train()(b.inputs, 5, bptt=2, h0=h0, generator=torch.Generator().manual_seed(0), frozen=frozen)
    loss = m.training_loss(out, b.labels) if hasattr(m, "training_loss") else out.logits.sum() + (out.aux_loss or 0)
    loss.backward()
    # the trajectory diagnostics drive init_state/step/readout directly
    from loopthink.analysis.trajectory import rollout

    assert rollout(m.eval(), b.inputs, 6).step_logits.shape == (6, B, 2)


def test_transformer_is_fixed_depth():
    cfg, m, task = make("transformer", layers=4)
    assert len(m.layers) == 4
    b = batch(task)
    ref = m(b.inputs, 4, return_step_logits=True)
    for T in (1, 2, 7, 30):
        out = m(b.inputs, T, return_step_logits=True)
        assert torch.equal(out.logits, ref.logits)  # steps never change the computation
        assert torch.equal(out.step_logits[: min(T, 4)], ref.step_logits[: min(T, 4)])
    long = m(b.inputs, 9, return_step_logits=True, return_states="pooled")
    assert all(torch.equal(long.step_logits[t], ref.logits) for t in range(3, 9))  # stops at its depth
    assert all(torch.equal(long.states[t], long.states[4]) for t in range(4, 10))
    assert not torch.equal(long.step_logits[0], long.step_logits[3])
    # untied: one parameter set per layer
    assert m.layers[0].attn.qkv.weight.data_ptr() != m.layers[1].attn.qkv.weight.data_ptr()


def test_transformer_depth_defaults_to_training_budget_and_params_match():
    cfg, m, task = make("transformer")
    assert len(m.layers) == cfg.train.steps.max
    cfg = load_config(CONFIGS / "graph.yaml")
    task = get_task("graph")
    rec = count_params(build_model(cfg, task))
    cfg.arch, cfg.baseline = "transformer", {"match": "params"}
    m = build_model(cfg, task)
    assert len(m.layers) == cfg.train.steps.max
    assert m.cfg.d_model % (2 * m.cfg.n_heads) == 0 and m.cfg.d_model < cfg.model.d_model
    # the closest width: its neighbours on the grid of valid widths are further off
    step = 2 * cfg.model.n_heads
    err = abs(count_params(m) - rec)
    for d in (m.cfg.d_model - step, m.cfg.d_model + step):
        if d > 0:
            cfg.model.d_model, cfg.model.d_ff = d, 2 * d
            cfg.baseline = {}
            assert abs(count_params(build_model(cfg, task)) - rec) >= err


def test_act_halting():
    cfg, m, task = make("act")
    b = batch(task)
    for T in (1, 2, 6, 25):
        out = m(b.inputs, T)
        assert out.halt_steps.shape == (len(b),)
        assert ((out.halt_steps >= 1) & (out.halt_steps <= T)).all()
        assert out.aux_loss is not None and out.aux_loss.ndim == 0 and out.aux_loss > 0
    # halting bias 1.0: sigmoid(1) = 0.73, so every position halts by itself at step 2
    assert (m(b.inputs, 25).halt_steps == 2).all()
    # a very negative bias: nobody halts by itself, the budget forces it: N + R = T + 1
    cfg, m, task = make("act", halt_bias=-30.0, tau=1.0)
    out = m(b.inputs, 7)
    assert (out.halt_steps == 7).all()
    assert abs(out.aux_loss.item() - 8.0) < 1e-3


def test_act_ponder_cost_has_gradient_and_copy_vs_continue():
    cfg, m, task = make("act", halt_bias=-1.0)
    m.train()
    b = batch(task)
    out = m(b.inputs, 6)
    out.aux_loss.backward()
    assert m.halt.weight.grad is not None and m.halt.weight.grad.abs().sum() > 0
    cfg, cont, _ = make("act", halt_bias=-1.0, halted="continue")
    cont.load_state_dict(m.state_dict())
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a, c = m.eval()(b.inputs, 6, generator=g(), return_states="full"), cont(b.inputs, 6, generator=g(), return_states="full")
    assert not torch.allclose(a.states[-1], c.states[-1])


def test_ponder_distribution_and_halting():
    cfg, m, task = make("ponder")
    b = batch(task)
    for T in (1, 2, 6, 25):
        out = m(b.inputs, T, return_step_logits=True)
        assert out.halt_probs.shape == (T, len(b))
        assert torch.allclose(out.halt_probs.sum(0), torch.ones(len(b)), atol=1e-5)
        assert (out.halt_probs >= 0).all()
        assert ((out.halt_steps >= 1) & (out.halt_steps <= T)).all()
        cdf = out.halt_probs.cumsum(0)
        for i, n in enumerate(out.halt_steps.tolist()):  # first step past the median
            assert n == T or cdf[n - 1, i] > 0.5
            assert n == 1 or cdf[n - 2, i] <= 0.5
            assert torch.equal(out.logits[i], out.ponder_logits[n - 1, i])
    prior = m.prior(6)
    assert torch.allclose(prior.sum(), torch.tensor(1.0)) and abs(float(prior[0]) - 0.2) < 1e-6


def test_ponder_training_loss():
    cfg, m, task = make("ponder", beta=0.0)
    m.train()
    b = batch(task)
    out = m(b.inputs, 5)
    loss = m.training_loss(out, b.labels)
    ce = torch.stack([torch.nn.functional.cross_entropy(lg, b.labels, reduction="none") for lg in out.ponder_logits])
    assert torch.allclose(loss, (out.halt_probs * ce).sum(0).mean())
    loss.backward()
    assert m.halt.weight.grad.abs().sum() > 0
    # KL vanishes when p equals the prior
    lam = torch.full((5, 3), 0.2)
    p = PonderNetModel.halting_distribution(lam)
    assert torch.allclose(p[:, 0], m.prior(5))


@pytest.mark.parametrize(
    "arch, baseline, message",
    [
        ("transformer", {"layers": 0}, "baseline.layers: must be >= 1"),
        ("transformer", {"layers": 2.5}, "baseline.layers: expected int"),
        ("transformer", {"match": "flops"}, "baseline.match: must be 'none' or 'params'"),
        ("transformer", {"tau": 0.1}, "baseline.tau: unknown key for arch=transformer"),
        ("act", {"tau": -1}, "baseline.tau: must be >= 0"),
        ("act", {"eps": 1.0}, "baseline.eps: must be in (0, 1)"),
        ("act", {"halted": "freeze"}, "baseline.halted: must be 'copy' or 'continue'"),
        ("ponder", {"lambda_p": 0}, "baseline.lambda_p: must be in (0, 1)"),
        ("ponder", {"beta": "big"}, "baseline.beta: expected float"),
        ("ponder", {"layers": 3}, "baseline.layers: unknown key for arch=ponder"),
    ],
)
def test_bad_baseline_settings_name_the_key(arch, baseline, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(arch, **baseline)


def test_loss_mode_must_suit_the_baseline():
    for arch in ("act", "ponder"):
        cfg = tiny_config(train={"loss": "every"})
        cfg.arch = arch
        with pytest.raises(ConfigError, match="train.loss: must be 'final' for arch="):
            build_model(cfg, get_task("graph"))
    cfg = tiny_config(train={"loss": "progressive"})
    cfg.arch = "transformer"
    with pytest.raises(ConfigError, match="train.loss: 'progressive' is for arch=recurrent"):
        build_model(cfg, get_task("graph"))


def test_config_files_build():
    task = get_task("graph")
    for path in sorted((CONFIGS / "baselines").glob("*.yaml")):
        cfg = load_config(path)
        assert build_model(cfg, task) is not None, path


@pytest.mark.parametrize("arch", ARCHS)
def test_short_training_run_and_reload(arch, tmp_path):
    from loopthink.training.loop import train

    cfg = tiny_config(
        model={"d_model": 16, "n_heads": 2, "d_ff": 32},
        train={"iters": 20, "batch_size": 16, "eval_every": 20, "eval_n": 8, "checkpoint_every": 10, "threads": 1},
    )
    cfg.arch = arch
    result = train(cfg, tmp_path / arch, progress=False)
    assert result["iter"] == 20 and np.isfinite(result["last"]["loss"])
    cfg2, model, task = load_run(tmp_path / arch)
    assert cfg2.arch == arch and type(model).__name__ != "LoopModel"
    b = batch(task, n=4)
    with torch.no_grad():
        out = model(b.inputs, 9, return_step_logits=True)
    assert out.step_logits.shape == (9, 4, 2)
