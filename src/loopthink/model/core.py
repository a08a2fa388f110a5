"""The depth-recurrent transformer: input interface -> one shared core iterated T times -> readout.

One recurrence step (see docs/architecture.md for the formulas)::

    r      = h_t                                   # residual stream = the latent state
    r      = r + LS_a * Attn(LN(r + x))            # x: encoded input, re-injected every step
    r      = r + LS_m * MLP(LN(r + x))
    z      = sigmoid(W_g [r; h_t] + b_g)           # identity-biased gate, b_g = -2 at init
    h      = z * r + (1 - z) * h_t
    h      = h_t + k_t * (h - h_t)                 # latch (optional): openness k_0 = 1, only falls
    h      = mean of h over each person's tokens   # entity_state (optional, text)
    h      = h + E p(h),  p = softmax(readout(h))  # readout_feedback (optional; hard: one-hot p)
    h      = h + state_noise * N(0, 1)             # state_noise (optional, training only)
    h_t+1  = RMSNorm(h)                            # state_norm (optional)
    h_t+1  = h_t for a random share of tokens      # update_dropout (optional; training, or update_dropout_eval)
    k_t+1  = k_t * (1 - sigmoid(w . h_t+1 + b))    # latch

T is an argument of ``forward``; nothing in the parameters depends on it (unless the paper's
depth embedding is switched on, which caps T at its table size). :meth:`SteppedModel.iterate` is
the only loop over the steps; everything that runs a model step by step is built on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from loopthink.config import MAX_STEPS, ModelConfig
from loopthink.model.hub import HubMixin
from loopthink.model.interfaces import Context, build_interface
from loopthink.model.layers import Block


@dataclass
class LoopOutput:
    logits: torch.Tensor  # (B, C) readout after the last step
    step_logits: torch.Tensor | None = None  # (T, B, C) readout after every step ("logit lens")
    states: torch.Tensor | None = None  # (T+1, B, d) pooled states, or (T+1, B, L, d) full
    final_state: torch.Tensor | None = None  # (B, L, d)
    aux_loss: torch.Tensor | None = None  # extra training loss (ACT ponder cost, PonderNet KL, the latch's cost)
    halt_steps: torch.Tensor | None = None  # (B,) steps a model with built-in halting used


def init_weights(model: nn.Module, std: float | None) -> None:
    """Linear weights N(0, std^2) (``None``: std = 1/sqrt(fan_in)), zero biases, embeddings N(0, 1)."""
    # 0.02 is GPT-2's std for d = 768. At d = 64 it shrinks every linear map about 6x, so a signal
    # that must cross several attention hops (text: name -> fact -> name) starts thousands of times
    # too weak to learn from; ``init_std: null`` keeps the variance instead.
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std or m.in_features**-0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=1.0)


class Gate(nn.Module):
    """``z = sigmoid(W [h_new; h_old] + b)`` with b initialised negative: a step starts near identity."""

    def __init__(self, d_model: int, bias: float):
        super().__init__()
        self.lin = nn.Linear(2 * d_model, d_model)
        self.bias_init = bias
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.lin.weight)
        nn.init.constant_(self.lin.bias, self.bias_init)

    def forward(self, h_new: torch.Tensor, h_old: torch.Tensor) -> torch.Tensor:
        z = torch.sigmoid(self.lin(torch.cat([h_new, h_old], dim=-1)))
        return z * h_new + (1 - z) * h_old


@dataclass
class StepState:
    """The rollout as :meth:`SteppedModel.iterate` hands it out, after ``t`` steps (t = 0: the
    initial state). A consumer may replace ``h`` (the next step starts from it) or drop rows with
    :meth:`keep`; the loop reads the state back, so one object is handed out at every step."""

    t: int
    h: torch.Tensor  # (B, L, d) state after step t
    ctx: Context
    prev: torch.Tensor | None = None  # (B, L, d) state before step t (None at t = 0)
    logits: torch.Tensor | None = None  # (B, C) readout of h, when iterated with readout=True (t >= 1)
    grad: bool = False  # step t ran with autograd (bptt leaves the leading steps without)
    frozen: torch.Tensor | None = None  # bool (B,) rows whose state the steps leave as it is

    def keep(self, idx: torch.Tensor) -> None:
        """Keep only rows ``idx`` from here on (halting shrinks the batch as examples exit)."""
        self.h, self.ctx = self.h[idx], self.ctx.index(idx)
        self.prev = None if self.prev is None else self.prev[idx]
        self.logits = None if self.logits is None else self.logits[idx]
        self.frozen = None if self.frozen is None else self.frozen[idx]


class SteppedModel(nn.Module):
    """A model run as steps over a latent state: ``encode -> init_state -> step x T -> readout``.

    :meth:`iterate` is the one loop over the steps: ``forward``, ``trajectory.rollout``,
    ``halting.halt`` and the baselines are built on it. Analysis code takes any subclass (the
    recurrent model, ACT, PonderNet, the fixed-depth transformer, whose step t is layer t)."""

    cfg: ModelConfig
    interface: nn.Module
    norm: nn.LayerNorm
    head: nn.Linear

    def encode(self, inputs: dict[str, torch.Tensor]) -> Context:
        return self.interface(inputs)

    def init_state(self, ctx: Context, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def step(self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def pool(self, h: torch.Tensor, ctx: Context) -> torch.Tensor:
        """The state the readout reads: (B, d)."""
        return h[torch.arange(h.shape[0], device=h.device), ctx.readout_index]

    def readout(self, h: torch.Tensor, ctx: Context) -> torch.Tensor:
        return self.classify(self.pool(h, ctx))

    def classify(self, states: torch.Tensor) -> torch.Tensor:
        """Logits of any states (..., d): the readout's norm and head, on the pooled token or on all."""
        return self.head(self.norm(states))

    def deterministic_init(self) -> bool:
        """True when an evaluation rollout draws no randomness (:meth:`init_state` draws none and no
        token sits a step out, ``update_dropout_eval``), so repeated runs coincide."""
        fixed_start = self.cfg.init_state == "zeros" or self.cfg.init_scale == 0
        return fixed_start and not self.cfg.update_dropout_eval

    def iterate(
        self,
        inputs: dict[str, torch.Tensor],
        steps: int,
        *,
        bptt: int | None = None,
        h0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        frozen: torch.Tensor | None = None,
        readout: bool = False,
        hidden: torch.Tensor | None = None,
    ) -> Iterator[StepState]:
        """Yield the :class:`StepState` after 0, 1, ..., ``steps`` steps.

        bptt: gradients flow through only the last ``bptt`` steps (earlier ones run without a
            graph), so memory stays flat as ``steps`` grows.
        h0: start from this state instead of :meth:`init_state`.
        frozen: bool (B,) examples whose state must not change (already halted).
        readout: compute ``logits`` (the readout) after every step, with the step's autograd mode.
        hidden: bool (B, L) tokens no other token can read in this rollout (``Context.blind``).
        """
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be in 1..{MAX_STEPS}, got {steps}")
        ctx = self.encode(inputs)
        if hidden is not None:
            ctx = ctx.blind(hidden)
        h = self.init_state(ctx, generator) if h0 is None else h0
        if self.cfg.update_dropout_eval and not self.training:  # asynchronous evaluation, reproducible
            ctx.draws = generator if generator is not None else torch.Generator(h.device).manual_seed(EVAL_SEED)
        no_grad_steps = steps - bptt if bptt is not None and bptt < steps else 0
        state = StepState(0, h, ctx, grad=torch.is_grad_enabled(), frozen=frozen)
        yield state
        for t in range(steps):
            state.grad = torch.is_grad_enabled() and t >= no_grad_steps
            with torch.set_grad_enabled(state.grad):
                state.prev, state.h = state.h, self.step(state.h, state.ctx, t, state.frozen)
                state.logits = self.readout(state.h, state.ctx) if readout else None
            state.t = t + 1
            yield state

    def keep_state(self, h: torch.Tensor, ctx: Context, how: str) -> torch.Tensor:
        """What ``return_states`` keeps of a state: "pooled" (readout token) or "full" (every token),
        detached; "live": every token, still in the graph (for a loss on every step's state)."""
        if how == "pooled":
            return self.pool(h, ctx).detach()
        if how == "full":
            return h.detach()
        if how == "live":
            return h
        raise ValueError(f"return_states must be None, 'pooled', 'full' or 'live', got {how!r}")


EVAL_SEED = 0  # seed of the random initial state of an eval-mode forward without a generator


class LoopModel(SteppedModel, HubMixin):
    """The depth-recurrent model; ``interface`` is the task's interface kind (``Task.interface``).
    ``cfg`` may be a dict of ModelConfig keys; ``save_pretrained`` / ``from_pretrained`` /
    ``push_to_hub`` come from :mod:`loopthink.model.hub`."""

    def __init__(self, cfg: ModelConfig, interface: str, num_classes: int, vocab_size: int = 0):
        super().__init__()
        self.cfg = cfg if isinstance(cfg, ModelConfig) else ModelConfig.model_validate(cfg)
        cfg, self.interface_kind = self.cfg, interface
        d = cfg.d_model
        self.interface = build_interface(interface, cfg, vocab_size)
        self.blocks = nn.ModuleList(
            Block(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.layerscale, cfg.null_key) for _ in range(cfg.blocks_per_step)
        )
        self.inject = nn.Linear(2 * d, d) if cfg.injection == "concat" else None
        self.gate = Gate(d, cfg.gate_bias) if cfg.gate else None
        self.latch = nn.Linear(d, 1) if cfg.latch else None
        self.depth = nn.Embedding(cfg.depth_embedding, d) if cfg.depth_embedding else None
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)
        self.feedback = nn.Linear(num_classes, d, bias=False) if cfg.readout_feedback != "off" else None
        init_weights(self, cfg.init_std)
        if self.feedback is not None:  # a step starts as it would without the feedback
            nn.init.zeros_(self.feedback.weight)
        if self.gate is not None:  # after the generic init: the gate's own init is the point of it
            self.gate.reset_parameters()
        if self.latch is not None:  # every token starts open, whatever its state
            nn.init.zeros_(self.latch.weight)
            nn.init.constant_(self.latch.bias, cfg.latch_bias)

    def encode(self, inputs: dict[str, torch.Tensor]) -> Context:
        ctx = super().encode(inputs)
        if self.cfg.depth_attention:  # each rollout starts with an empty past
            ctx.memory = [[] for _ in self.blocks]
        if self.latch is not None:  # and with every token open
            ctx.openness = torch.ones_like(ctx.x[..., :1])
        return ctx

    def init_state(self, ctx: Context, generator: torch.Generator | None = None) -> torch.Tensor:
        """h_0: zeros or N(0, init_scale^2); without input injection the state starts at the input.

        In eval mode without a ``generator`` the noise comes from one seeded with ``EVAL_SEED``, so an
        eval-mode forward is deterministic and h_0 keeps the distribution the model was trained on
        (zeros would not). The noise is drawn for the whole (B, L, d) batch, so a row's h_0 depends on
        its place in the batch; pass a ``generator`` to choose it."""
        shape = ctx.x.shape
        h = torch.zeros(shape, device=ctx.x.device, dtype=ctx.x.dtype)
        if self.cfg.init_state == "random" and self.cfg.init_scale > 0:
            if generator is None and not self.training:
                generator = torch.Generator(h.device).manual_seed(EVAL_SEED)
            gen_device = generator.device if generator is not None else h.device
            noise = torch.randn(shape, generator=generator, device=gen_device)
            h = h + self.cfg.init_scale * noise.to(device=h.device, dtype=h.dtype)
        if self.cfg.injection == "none":
            h = h + ctx.x
        return h

    def step(self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None) -> torch.Tensor:
        """One recurrence step ``h_t -> h_{t+1}``; rows where ``frozen`` is True keep their state."""
        r = h
        inject = ctx.x if self.cfg.injection == "add" else None
        if self.inject is not None:
            r = self.inject(torch.cat([h, ctx.x], dim=-1))
        if self.depth is not None:
            if t >= self.depth.num_embeddings:
                raise ValueError(f"depth embedding has {self.depth.num_embeddings} entries; cannot run step {t + 1}")
            r = r + self.depth.weight[t]
        for i, block in enumerate(self.blocks):
            r = block(r, inject, ctx.mask, ctx.rotary, None if ctx.memory is None else ctx.memory[i])
        h_next = self.gate(r, h) if self.gate is not None else r
        if ctx.openness is not None:
            h_next = h + ctx.openness * (h_next - h)
        if ctx.entity is not None:
            h_next = entity_mean(h_next, ctx.entity)
        if self.feedback is not None:
            h_next = h_next + self.feedback(self._read_classes(h_next))
        if self.training and self.cfg.state_noise > 0:
            h_next = h_next + self.cfg.state_noise * torch.randn_like(h_next)
        if self.cfg.state_norm:
            h_next = F.rms_norm(h_next, h_next.shape[-1:])
        if self.cfg.update_dropout > 0 and (self.training or ctx.draws is not None):  # asynchronous:
            # some tokens sit this step out (in evaluation only with update_dropout_eval)
            shape = h.shape[:-1] + (1,)
            if ctx.draws is None:
                u = torch.rand(shape, device=h.device)
            else:
                u = torch.rand(shape, generator=ctx.draws, device=ctx.draws.device).to(h.device)
            h_next = torch.where(u < self.cfg.update_dropout, h, h_next)
        if ctx.openness is not None:
            self._settle(h_next, ctx, frozen)
        if frozen is not None:
            h_next = torch.where(frozen[:, None, None], h, h_next)
        return h_next

    def _read_classes(self, h: torch.Tensor) -> torch.Tensor:
        """readout_feedback: every token's class distribution under the readout (B, L, C); "hard"
        is the one-hot top class forward with the soft distribution's gradient (straight-through), so
        the state is pulled to one class's embedding and a drift that does not flip the class is
        undone at the next step."""
        p = torch.softmax(self.classify(h).float(), dim=-1).to(h.dtype)
        if self.cfg.readout_feedback == "soft":
            return p
        hard = F.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
        return hard + p - p.detach()

    def _settle(self, h: torch.Tensor, ctx: Context, frozen: torch.Tensor | None) -> None:
        """The latch after a step: each token closes by its settling probability given its new state
        ``h``. Openness only falls, so a settled token's state stays put (a one-way front: the people
        beyond it, whose states training never constrained, cannot pull it back)."""
        openness = ctx.openness * (1 - torch.sigmoid(self.latch(h)))
        if frozen is not None:
            openness = torch.where(frozen[:, None, None], ctx.openness, openness)
        ctx.openness = openness

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
        """Run ``steps`` recurrence steps (arguments as :meth:`iterate`'s).

        return_states: None, "pooled" (readout token per step), "full" (every token per step) or
        "live" (as "full", not detached); the first entry is the initial state.
        """
        step_logits, states, openness = [], [], []
        latch_cost = self.latch is not None and self.cfg.latch_cost > 0
        for s in self.iterate(inputs, steps, bptt=bptt, h0=h0, generator=generator, frozen=frozen, readout=return_step_logits):
            if s.logits is not None:
                step_logits.append(s.logits)
            if return_states:
                states.append(self.keep_state(s.h, s.ctx, return_states))
            if latch_cost and s.t > 0:  # per example, the mean openness of its real tokens after step t
                real = s.ctx.token_mask.to(s.ctx.openness.dtype)
                openness.append((s.ctx.openness.squeeze(-1) * real).sum(1) / real.sum(1).clamp(min=1))
        logits = step_logits[-1] if return_step_logits else self.readout(s.h, s.ctx)
        aux = self.cfg.latch_cost * torch.stack(openness).mean() if latch_cost else None  # over steps and examples
        return LoopOutput(
            logits,
            torch.stack(step_logits) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            s.h,
            aux_loss=aux,
        )


def entity_mean(h: torch.Tensor, entity: torch.Tensor) -> torch.Tensor:
    """``h`` (B, L, d) with every token of entity e > 0 (``entity`` long (B, L)) replaced by the mean
    state of the tokens of e in its instance; tokens of entity 0 keep their own."""
    B, L, d = h.shape
    index = entity[..., None].expand(B, L, d)
    sums = h.new_zeros(B, int(entity.max()) + 1, d).scatter_add(1, index, h)
    counts = h.new_zeros(sums.shape[:2]).scatter_add(1, entity, torch.ones_like(h[..., 0]))
    means = sums / counts.clamp(min=1)[..., None]
    return torch.where((entity > 0)[..., None], means.gather(1, index), h)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels)
