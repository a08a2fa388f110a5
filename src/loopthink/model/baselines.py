"""Baselines trained with the same data, budget, loop and evaluation as the recurrent model.

``RunConfig.arch`` picks one; ``RunConfig.baseline`` holds its settings (validated here, errors
name the key: ``baseline.layers: must be >= 1``). Every baseline is a :class:`SteppedModel` with
LoopModel's ``forward(inputs, steps, *, bptt, h0, generator, frozen, return_step_logits,
return_states)`` -> :class:`LoopOutput`, built on the same ``iterate`` loop, so training,
``loopthink eval`` and the trajectory diagnostics run unchanged.

One convention holds for every arch: ``step_logits[t]`` is what the model answers when allowed
``t + 1`` steps (so evaluation can read all step budgets from one rollout):

``transformer`` -- :class:`FixedDepthTransformer`
    Standard pre-norm transformer with **untied** layers (the same :class:`Block`, the same task
    interface and readout), state starts at the encoded input, no input re-injection, no gate.
    Settings: ``layers`` (default ``train.steps.max``: depth matched to the recurrent model's
    training budget); ``match: params`` shrinks/grows the width so the parameter count matches
    the recurrent model of the same config (see :func:`match_width`). ``steps`` does not change
    the computation; ``step_logits[t]`` is the readout after layer ``min(t + 1, layers)``, so a
    frontier plot shows it stops at its depth. ``bptt``, ``h0`` and ``generator`` are ignored.

``act`` -- :class:`ACTModel`, Universal Transformer + Adaptive Computation Time
    (Graves 2016; Dehghani et al. 2019). The recurrent core exactly as ``model:`` configures it
    (shared block, input injection, LayerScale, gate) plus a per-position halting unit
    ``p_n = sigmoid(w . LN(h_n) + b)``. A position runs until its accumulated ``p`` reaches
    ``1 - eps`` or the budget ``steps`` ends; its last step gets the remainder ``R``; the readout
    reads the halting-weighted state ``sum_n p_n h_n``. Ponder cost ``tau * (N + R)`` (mean over
    real tokens, then over the batch) is ``aux_loss``; ``halt_steps`` = N of the readout token.
    Settings: ``tau`` (0.01), ``eps`` (0.01), ``halt_bias`` (1.0, the UT reference code's init),
    ``halted``: ``copy`` (default; UT paper: a halted position's state is copied forward, others
    still attend to it) or ``continue`` (tensor2tensor's implementation: halted positions keep
    being transformed, only their output weight is fixed). With a budget the accumulated output
    after ``t`` steps is exactly ``acc_{t-1} + (1 - cum_{t-1}) h_t`` for still-running positions,
    which is what ``step_logits[t-1]`` reads. The rollout stops early once every position halted.

``ponder`` -- :class:`PonderNetModel` (Banino et al. 2021)
    The same recurrent core plus a per-example halting unit on the readout token:
    ``lambda_n = sigmoid(w . LN(pool(h_n)) + b)``, ``p_n = lambda_n prod_{j<n} (1 - lambda_j)``,
    the last step takes the remaining mass. :meth:`PonderNetModel.training_loss` =
    ``sum_n p_n CE(y_n, y) + beta KL(p || truncated geometric(lambda_p))`` (the prior's last step
    also takes its remaining mass). Prediction: the readout of the first step whose cumulative
    halting probability exceeds 0.5 (``halt_steps``), in training and evaluation alike.
    Settings: ``beta`` (0.01), ``lambda_p`` (0.2); ``b`` starts at ``logit(lambda_p)``.

``act`` and ``ponder`` need ``train.loss: final`` (they bring their own objective), and no
baseline supports ``train.loss: progressive`` (its restart from a detached state is specific to
the recurrent model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from loopthink.config import ConfigError, ModelConfig, RunConfig
from loopthink.model.core import LoopModel, LoopOutput, SteppedModel, init_weights
from loopthink.model.interfaces import Context, build_interface
from loopthink.model.layers import Block

# ---- settings ------------------------------------------------------------------------------
# key -> (type, default, check, description of the check)
_Spec = tuple[type, Any, Any, str]
SETTINGS: dict[str, dict[str, _Spec]] = {
    "transformer": {
        "layers": (int, None, lambda v: v >= 1, "must be >= 1"),
        "match": (str, "none", lambda v: v in ("none", "params"), "must be 'none' or 'params'"),
    },
    "act": {
        "tau": (float, 0.01, lambda v: v >= 0, "must be >= 0"),
        "eps": (float, 0.01, lambda v: 0 < v < 1, "must be in (0, 1)"),
        "halt_bias": (float, 1.0, lambda v: math.isfinite(v), "must be finite"),
        "halted": (str, "copy", lambda v: v in ("copy", "continue"), "must be 'copy' or 'continue'"),
    },
    "ponder": {
        "beta": (float, 0.01, lambda v: v >= 0, "must be >= 0"),
        "lambda_p": (float, 0.2, lambda v: 0 < v < 1, "must be in (0, 1)"),
    },
}


def baseline_settings(cfg: RunConfig) -> dict[str, Any]:
    """``cfg.baseline`` checked against ``cfg.arch``, with defaults filled in."""
    arch = cfg.arch
    if arch not in SETTINGS:
        raise ConfigError(f"arch: {arch!r} is not a baseline (one of {', '.join(SETTINGS)})")
    spec = SETTINGS[arch]
    for key in cfg.baseline:
        if key not in spec:
            raise ConfigError(f"baseline.{key}: unknown key for arch={arch} (known: {', '.join(spec)})")
    out: dict[str, Any] = {}
    for key, (typ, default, check, what) in spec.items():
        v = cfg.baseline.get(key, default)
        if v is None and default is None:
            out[key] = None
            continue
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or isinstance(v, bool):
            raise ConfigError(f"baseline.{key}: expected {typ.__name__}, got {v!r}")
        if not check(v):
            raise ConfigError(f"baseline.{key}: {what}, got {v!r}")
        out[key] = v
    loss = cfg.train.loss
    if loss == "progressive":
        raise ConfigError(f"train.loss: 'progressive' is for arch=recurrent only, not arch={arch}")
    if arch in ("act", "ponder") and loss != "final":
        raise ConfigError(f"train.loss: must be 'final' for arch={arch} (it brings its own objective), got {loss!r}")
    return out


def build_baseline(cfg: RunConfig, task: Any, vocab_size: int = 0) -> nn.Module:
    """The baseline model ``cfg.arch`` describes (``cfg.baseline`` holds its settings)."""
    s = baseline_settings(cfg)
    if cfg.arch == "transformer":
        layers = s["layers"] if s["layers"] is not None else cfg.train.steps.max
        mcfg = cfg.model
        if s["match"] == "params":
            target = count_params(LoopModel(cfg.model, task.interface, task.num_classes, vocab_size))
            mcfg = match_width(cfg.model, task.interface, task.num_classes, vocab_size, layers, target)
        return FixedDepthTransformer(mcfg, task.interface, task.num_classes, vocab_size, layers)
    if cfg.arch == "act":
        return ACTModel(cfg.model, task.interface, task.num_classes, vocab_size, **s)
    return PonderNetModel(cfg.model, task.interface, task.num_classes, vocab_size, **s)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def match_width(mcfg: ModelConfig, interface: str, num_classes: int, vocab_size: int, layers: int, target: int) -> ModelConfig:
    """Width for a ``layers``-deep transformer with about ``target`` parameters.

    Depth is kept (the hop tasks need one layer per hop, so trading depth for width would make a
    strawman); ``n_heads`` and the ratio ``d_ff / d_model`` are kept; ``d_model`` runs over the
    multiples of ``2 * n_heads`` (heads divide it, head dim even) and the one whose exact
    parameter count is closest to ``target`` wins.
    """
    step = 2 * mcfg.n_heads
    ratio = mcfg.d_ff / mcfg.d_model

    def dims(d: int) -> tuple[int, int]:
        return d, max(1, round(d * ratio))

    def count(d: int) -> int:
        d, ff = dims(d)
        iface = count_params(build_interface(interface, mcfg, vocab_size, d))
        block = count_params(Block(d, mcfg.n_heads, ff, 0.0, mcfg.layerscale))
        return iface + layers * block + 2 * d + (d + 1) * num_classes  # + final LayerNorm + head

    best, d = None, step
    while True:
        c = count(d)
        if best is None or abs(c - target) < abs(best[1] - target):
            best = (d, c)
        if c >= target:
            break
        d += step
    d, ff = dims(best[0])
    return mcfg.model_copy(update={"d_model": d, "d_ff": ff})


# ---- fixed-depth transformer ---------------------------------------------------------------
class FixedDepthTransformer(SteppedModel):
    """``layers`` untied pre-norm blocks over the task interface's input; see the module docstring."""

    def __init__(self, cfg: ModelConfig, interface: str, num_classes: int, vocab_size: int = 0, layers: int = 16):
        super().__init__()
        self.cfg, self.depth = cfg, layers
        d = cfg.d_model
        self.interface = build_interface(interface, cfg, vocab_size)
        self.layers = nn.ModuleList(Block(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.layerscale) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)
        init_weights(self, cfg.init_std)

    def init_state(self, ctx: Context, generator: torch.Generator | None = None) -> torch.Tensor:
        """The state entering layer 1 is the encoded input itself."""
        return ctx.x

    def step(self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None) -> torch.Tensor:
        """Layer ``t + 1``; past the last layer a step is the identity."""
        if t >= self.depth:
            return h
        h_next = self.layers[t](h, None, ctx.mask, ctx.rotary)
        if frozen is not None:
            h_next = torch.where(frozen[:, None, None], h, h_next)
        return h_next

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        steps: int,
        *,
        bptt: int | None = None,
        h0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        frozen: torch.Tensor | None = None,
        return_step_logits: bool = False,
        return_states: str | None = None,
    ) -> LoopOutput:
        """All ``layers`` layers, whatever ``steps`` is. ``steps`` only sets how many entries
        ``step_logits`` (readout after layer ``min(t+1, layers)``) and ``states`` (after layer
        ``min(t, layers)``, t = 0..steps) have. ``bptt``, ``h0``, ``generator`` are ignored."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        states, step_logits = [], []
        for s in self.iterate(inputs, self.depth, frozen=frozen):
            if return_step_logits and 1 <= s.t <= steps:
                step_logits.append(self.readout(s.h, s.ctx))
            if return_states and s.t <= steps:
                states.append(self.keep_state(s.h, s.ctx, return_states))
        logits = self.readout(s.h, s.ctx)
        if return_step_logits:
            step_logits += [logits] * (steps - len(step_logits))
        if return_states:
            states += [states[-1]] * (steps + 1 - len(states))
        return LoopOutput(
            logits,
            torch.stack(step_logits) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            s.h,
        )


# ---- Universal Transformer + ACT -----------------------------------------------------------
class ACTModel(LoopModel):
    """The recurrent core with per-position Adaptive Computation Time; see the module docstring.

    ``encode / init_state / step / pool / readout`` are LoopModel's (``step`` is the raw shared
    block, without halting); ``forward`` adds the halting. ``final_state`` is the
    halting-weighted state the readout reads; ``states`` are the raw per-step states.
    ``frozen`` rows keep their raw state, as in LoopModel.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        interface: str,
        num_classes: int,
        vocab_size: int = 0,
        *,
        tau: float = 0.01,
        eps: float = 0.01,
        halt_bias: float = 1.0,
        halted: str = "copy",
    ):
        super().__init__(cfg, interface, num_classes, vocab_size)
        self.tau, self.eps, self.halted = tau, eps, halted
        self.halt_norm = nn.LayerNorm(cfg.d_model)
        self.halt = nn.Linear(cfg.d_model, 1)
        nn.init.normal_(self.halt.weight, std=0.02)
        nn.init.constant_(self.halt.bias, halt_bias)

    def halting_probability(self, h: torch.Tensor) -> torch.Tensor:
        """(B, L) per-position halting probability of state ``h``."""
        return torch.sigmoid(self.halt(self.halt_norm(h)).squeeze(-1).float())

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        steps: int,
        *,
        bptt: int | None = None,
        h0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        frozen: torch.Tensor | None = None,
        return_step_logits: bool = False,
        return_states: str | None = None,
    ) -> LoopOutput:
        """At most ``steps`` steps; each position halts by itself (all are forced at ``steps``)."""
        loop = self.iterate(inputs, steps, bptt=bptt, h0=h0, generator=generator, frozen=frozen)
        s = next(loop)
        ctx, real = s.ctx, s.ctx.token_mask
        B, L = real.shape
        running = real.clone()  # padding never runs
        cum = s.h.new_zeros(B, L, dtype=torch.float32)  # accumulated p of running positions
        n_upd = torch.zeros_like(cum)  # N: steps each position ran
        rem = torch.zeros_like(cum)  # R: remainder at its halting step
        acc = torch.zeros_like(s.h)  # sum_n w_n h_n
        step_logits = []
        states = [self.keep_state(s.h, ctx, return_states)] if return_states else []
        for s in loop:
            with torch.set_grad_enabled(s.grad):
                if self.halted == "copy":  # a halted position's state is copied forward
                    s.h = torch.where(running[..., None], s.h, s.prev)
                h = s.h
                p = self.halting_probability(h)
                if return_step_logits:  # the output had the budget ended here
                    capped = acc + (running * (1 - cum)).to(h.dtype)[..., None] * h
                    step_logits.append(self.readout(capped, ctx))
                halt_now = running & ((cum + p >= 1 - self.eps) | (s.t == steps))
                still = running & ~halt_now
                w = torch.where(still, p, torch.where(halt_now, 1 - cum, torch.zeros_like(p)))
                acc = acc + w.to(h.dtype)[..., None] * h
                n_upd = n_upd + running.float()
                rem = torch.where(halt_now, 1 - cum, rem)
                cum = cum + torch.where(still, p, torch.zeros_like(p))
                running = still
            if return_states:
                states.append(self.keep_state(h, ctx, return_states))
            if not running.any():  # every position halted: nothing changes any more
                break
        if return_step_logits:
            step_logits += [step_logits[-1]] * (steps - len(step_logits))
        if return_states:
            states += [states[-1]] * (steps + 1 - len(states))
        realf = real.float()
        ponder = ((n_upd + rem) * realf).sum(1) / realf.sum(1).clamp(min=1)
        rows = torch.arange(B, device=acc.device)
        return LoopOutput(
            self.readout(acc, ctx),
            torch.stack(step_logits) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            acc,
            aux_loss=self.tau * ponder.mean(),
            halt_steps=n_upd[rows, ctx.readout_index].long(),
        )


# ---- PonderNet -----------------------------------------------------------------------------
@dataclass
class PonderOutput(LoopOutput):
    halt_probs: torch.Tensor | None = None  # (T, B) p_n, sums to 1 over n
    ponder_logits: torch.Tensor | None = None  # (T, B, C) raw readout after every step


class PonderNetModel(LoopModel):
    """The recurrent core with PonderNet's per-example halting; see the module docstring.

    ``encode / init_state / step / pool / readout`` are LoopModel's. ``final_state`` is the raw
    state after ``steps`` steps; ``frozen`` rows keep their state, as in LoopModel.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        interface: str,
        num_classes: int,
        vocab_size: int = 0,
        *,
        beta: float = 0.01,
        lambda_p: float = 0.2,
    ):
        super().__init__(cfg, interface, num_classes, vocab_size)
        self.beta, self.lambda_p = beta, lambda_p
        self.halt_norm = nn.LayerNorm(cfg.d_model)
        self.halt = nn.Linear(cfg.d_model, 1)
        nn.init.normal_(self.halt.weight, std=0.02)
        nn.init.constant_(self.halt.bias, math.log(lambda_p / (1 - lambda_p)))

    @staticmethod
    def halting_distribution(lam: torch.Tensor) -> torch.Tensor:
        """(T, B) lambdas -> p_n = lambda_n prod_{j<n}(1 - lambda_j); the last step takes the rest."""
        lam = torch.cat([lam[:-1], torch.ones_like(lam[-1:])])
        survive = torch.cumprod(torch.cat([torch.ones_like(lam[:1]), 1 - lam[:-1]]), dim=0)
        return lam * survive

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        steps: int,
        *,
        bptt: int | None = None,
        h0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        frozen: torch.Tensor | None = None,
        return_step_logits: bool = False,
        return_states: str | None = None,
    ) -> PonderOutput:
        """``steps`` steps; ``logits`` = readout at each example's halting step (``halt_steps``)."""
        raw, lams, states = [], [], []
        for s in self.iterate(inputs, steps, bptt=bptt, h0=h0, generator=generator, frozen=frozen, readout=True):
            if s.t:
                raw.append(s.logits)
                with torch.set_grad_enabled(s.grad):
                    lams.append(torch.sigmoid(self.halt(self.halt_norm(self.pool(s.h, s.ctx))).squeeze(-1).float()))
            if return_states:
                states.append(self.keep_state(s.h, s.ctx, return_states))
        raw_logits = torch.stack(raw)  # (T, B, C)
        p = self.halting_distribution(torch.stack(lams))  # (T, B)
        T, B = p.shape
        with torch.no_grad():
            past = torch.cumsum(p, 0) > 0.5
            past[-1] = True  # the last step holds all remaining mass
            halt_idx = past.float().argmax(0)  # first step past the median, (B,)
        rows = torch.arange(B, device=raw_logits.device)
        step_logits = None
        if return_step_logits:  # a budget of t+1 steps halts at min(halt, t+1)
            t_idx = torch.minimum(halt_idx[None, :], torch.arange(T, device=p.device)[:, None])
            step_logits = raw_logits[t_idx, rows[None, :]]
        return PonderOutput(
            raw_logits[halt_idx, rows],
            step_logits,
            torch.stack(states) if return_states else None,
            s.h,
            halt_steps=halt_idx + 1,
            halt_probs=p,
            ponder_logits=raw_logits,
        )

    def prior(self, steps: int, device: torch.device | None = None) -> torch.Tensor:
        """(T,) truncated geometric(lambda_p); the last step takes the remaining mass."""
        lam = torch.full((steps, 1), self.lambda_p, device=device)
        return self.halting_distribution(lam)[:, 0]

    def training_loss(self, out: PonderOutput, labels: torch.Tensor) -> torch.Tensor:
        """sum_n p_n CE(y_n, y) + beta KL(p || geometric(lambda_p)), averaged over the batch."""
        p, logits = out.halt_probs, out.ponder_logits
        T, B, C = logits.shape
        ce = F.cross_entropy(logits.float().reshape(T * B, C), labels.repeat(T), reduction="none").view(T, B)
        rec = (p * ce).sum(0).mean()
        prior = self.prior(T, p.device)[:, None]
        kl = (p * (p.clamp(min=1e-12).log() - prior.log())).sum(0).mean()
        return rec + self.beta * kl
