"""The depth-recurrent transformer: input interface -> one shared core iterated T times -> readout.

One recurrence step (see docs/architecture.md for the formulas)::

    r      = h_t                                   # residual stream = the latent state
    r      = r + LS_a * Attn(LN(r + x))            # x: encoded input, re-injected every step
    r      = r + LS_m * MLP(LN(r + x))
    z      = sigmoid(W_g [r; h_t] + b_g)           # identity-biased gate, b_g = -2 at init
    h_t+1  = z * r + (1 - z) * h_t
    h_t+1  = RMSNorm(h_t+1)                        # state_norm (optional)
    h_t+1  = h_t for a random share of tokens      # update_dropout (optional, training only)

T is an argument of ``forward``; nothing in the parameters depends on it (unless the paper's
depth embedding is switched on, which caps T at its table size). :meth:`SteppedModel.iterate` is
the only loop over the steps; everything that runs a model step by step is built on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from loopthink.model.config import MAX_STEPS, ModelConfig
from loopthink.model.depth_attention import DepthMemory
from loopthink.model.hub import HubMixin
from loopthink.model.interfaces import Context, build_interface
from loopthink.model.layers import Block


@dataclass
class LoopOutput:
    logits: torch.Tensor  # (B, C) readout after the last step; (B, L, C) for a per-position task
    step_logits: torch.Tensor | None = None  # (T, B, C) or (T, B, L, C) readout after every step ("logit lens")
    states: torch.Tensor | None = None  # (T+1, B, d) pooled states, or (T+1, B, L, d) full
    final_state: torch.Tensor | None = None  # (B, L, d)
    aux_loss: torch.Tensor | None = None  # extra training loss (ACT ponder cost, PonderNet KL)
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
    """``z = sigmoid(W [h_new; h_old] + b)`` with b initialised negative: a step starts near identity
    (the seed paper's identity-biased recurrence)."""

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


class NoGate(nn.Module):
    """``model.gate: false``: the new state replaces the old one."""

    def forward(self, h_new: torch.Tensor, h_old: torch.Tensor) -> torch.Tensor:
        return h_new


class UpdateDropout(nn.Module):
    """Asynchronous updates, as neural cellular automata are trained (Mordvintsev et al. 2020): in
    training each token keeps its old state with probability ``p`` at every step; evaluation
    updates every token."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, h_old: torch.Tensor, h_new: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return h_new
        return torch.where(torch.rand(h_old.shape[:-1] + (1,), device=h_old.device) < self.p, h_old, h_new)


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
    memory: DepthMemory | None = None  # Depth-Attention's past keys and values (model.depth_attention)

    def keep(self, idx: torch.Tensor) -> None:
        """Keep only rows ``idx`` from here on (halting shrinks the batch as examples exit)."""
        self.h, self.ctx = self.h[idx], self.ctx.index(idx)
        self.memory = None if self.memory is None else self.memory.index(idx)
        self.prev = None if self.prev is None else self.prev[idx]
        self.logits = None if self.logits is None else self.logits[idx]
        self.frozen = None if self.frozen is None else self.frozen[idx]


def kept_steps(steps: int, keep_steps: Sequence[int] | None) -> list[int]:
    """The step counts whose readouts a forward's ``step_logits`` holds: ``keep_steps`` (each in
    1..steps, in its order), or every one of 1..steps."""
    if keep_steps is None:
        return list(range(1, steps + 1))
    if any(not 1 <= t <= steps for t in keep_steps):
        raise ValueError(f"keep_steps must lie in 1..{steps}, got {list(keep_steps)}")
    return list(keep_steps)


def select_steps(step_logits: torch.Tensor, steps: int, keep_steps: Sequence[int] | None) -> torch.Tensor:
    """``step_logits`` (steps, ...) of every step 1..steps, cut down to :func:`kept_steps`' entries:
    for a forward that computes every step's readout anyway (the baselines)."""
    return step_logits[[t - 1 for t in kept_steps(steps, keep_steps)]]


class SteppedModel(nn.Module):
    """A model run as steps over a latent state: ``encode -> init_state -> step x T -> readout``.

    :meth:`iterate` is the one loop over the steps: ``forward``, ``trajectory.rollout``,
    ``halting.halt`` and the baselines are built on it. Analysis code takes any subclass (the
    recurrent model, ACT, PonderNet, the fixed-depth transformer, whose step t is layer t)."""

    cfg: ModelConfig
    interface: nn.Module
    norm: nn.LayerNorm
    head: nn.Linear
    per_position: bool = False  # the task answers at every position (Task.per_position)

    def encode(self, inputs: dict[str, torch.Tensor]) -> Context:
        return self.interface(inputs)

    def init_state(self, ctx: Context, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def step(
        self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None, memory: DepthMemory | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def new_memory(self) -> DepthMemory | None:
        """What a rollout carries from step to step besides the state (Depth-Attention's past); None: nothing."""
        return None

    def pool(self, h: torch.Tensor, ctx: Context) -> torch.Tensor:
        """One state per instance (B, d): the token the readout reads; for a per-position task, the
        mean over its real tokens (what the dynamics diagnostics and halting features follow)."""
        if self.per_position:
            real = ctx.token_mask[..., None].to(h.dtype)
            return (h * real).sum(1) / real.sum(1).clamp(min=1)
        return h[torch.arange(h.shape[0], device=h.device), ctx.readout_index]

    def readout(self, h: torch.Tensor, ctx: Context) -> torch.Tensor:
        """Logits (B, C) of the readout token, or (B, L, C) of every token for a per-position task."""
        return self.classify(h if self.per_position else self.pool(h, ctx))

    def classify(self, states: torch.Tensor) -> torch.Tensor:
        """Logits of any states (..., d): the readout's norm and head, on the pooled token or on all."""
        return self.head(self.norm(states))

    def deterministic_init(self) -> bool:
        """True when an evaluation rollout draws no randomness (:meth:`init_state` draws none), so
        repeated runs coincide."""
        return self.cfg.init_state == "zeros" or self.cfg.init_scale == 0

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
    ) -> Iterator[StepState]:
        """Yield the :class:`StepState` after 0, 1, ..., ``steps`` steps.

        bptt: gradients flow through only the last ``bptt`` steps (earlier ones run without a
            graph), so memory stays flat as ``steps`` grows.
        h0: start from this state instead of :meth:`init_state`.
        frozen: bool (B,) examples whose state must not change (already halted).
        readout: compute ``logits`` (the readout) after every step, with the step's autograd mode.
        """
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be in 1..{MAX_STEPS}, got {steps}")
        ctx = self.encode(inputs)
        h = self.init_state(ctx, generator) if h0 is None else h0
        no_grad_steps = steps - bptt if bptt is not None and bptt < steps else 0
        state = StepState(0, h, ctx, grad=torch.is_grad_enabled(), frozen=frozen, memory=self.new_memory())
        yield state
        for t in range(steps):
            state.grad = torch.is_grad_enabled() and t >= no_grad_steps
            with torch.set_grad_enabled(state.grad):
                state.prev, state.h = state.h, self.step(state.h, state.ctx, t, state.frozen, state.memory)
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

    def __init__(self, cfg: ModelConfig, interface: str, num_classes: int, vocab_size: int = 0, per_position: bool = False):
        super().__init__()
        self.cfg = cfg if isinstance(cfg, ModelConfig) else ModelConfig.model_validate(cfg)
        cfg, self.interface_kind, self.per_position = self.cfg, interface, per_position
        d = cfg.d_model
        self.interface = build_interface(interface, cfg, vocab_size)
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.layerscale) for _ in range(cfg.blocks_per_step))
        self.inject = nn.Linear(2 * d, d) if cfg.injection == "concat" else None
        self.gate = Gate(d, cfg.gate_bias) if cfg.gate else NoGate()
        self.state_norm = nn.RMSNorm(d, elementwise_affine=False) if cfg.state_norm else nn.Identity()
        self.update_dropout = UpdateDropout(cfg.update_dropout)
        self.depth = nn.Embedding(cfg.depth_embedding, d) if cfg.depth_embedding else None
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)
        init_weights(self, cfg.init_std)
        if cfg.gate:  # after the generic init: the gate's own init is the point of it
            self.gate.reset_parameters()

    def new_memory(self) -> DepthMemory | None:
        return DepthMemory(len(self.blocks)) if self.cfg.depth_attention else None

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

    def step(
        self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None, memory: DepthMemory | None = None
    ) -> torch.Tensor:
        """One recurrence step ``h_t -> h_{t+1}``; rows where ``frozen`` is True keep their state."""
        r, x = self.enter(h, ctx, t)
        pasts = memory.past if memory is not None else [None] * len(self.blocks)
        for block, past in zip(self.blocks, pasts):
            r = block(r, x, ctx.mask, ctx.rotary, past)
        h_next = self.update_dropout(h, self.state_norm(self.gate(r, h)))
        if frozen is not None:
            h_next = torch.where(frozen[:, None, None], h, h_next)
        return h_next

    def enter(self, h: torch.Tensor, ctx: Context, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the stream the blocks start from, the input their branches re-read). ``injection: add``
        re-reads ``x`` inside every block; ``concat`` (Huginn, Geiping et al. 2025) projects
        ``[h; x]`` once per step; the seed paper's depth embedding adds step ``t``'s row."""
        r = h if self.inject is None else self.inject(torch.cat([h, ctx.x], dim=-1))
        if self.depth is not None:
            if t >= self.depth.num_embeddings:
                raise ValueError(f"depth embedding has {self.depth.num_embeddings} entries; cannot run step {t + 1}")
            r = r + self.depth.weight[t]
        return r, (ctx.x if self.cfg.injection == "add" else None)

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
        keep_steps: Sequence[int] | None = None,
    ) -> LoopOutput:
        """Run ``steps`` recurrence steps (arguments as :meth:`iterate`'s).

        return_states: None, "pooled" (readout token per step), "full" (every token per step) or
            "live" (as "full", not detached); the first entry is the initial state.
        keep_steps: with ``return_step_logits``, keep only the readouts after these step counts
            (1-based, in this order): a per-position rollout of thousands of steps would otherwise
            hold (T, B, L, C).
        """
        order = kept_steps(steps, keep_steps)
        wanted = set(order) if return_step_logits else set()
        kept, states = {}, []
        for s in self.iterate(inputs, steps, bptt=bptt, h0=h0, generator=generator, frozen=frozen):
            if s.t in wanted:
                with torch.set_grad_enabled(s.grad):
                    kept[s.t] = self.readout(s.h, s.ctx)
            if return_states:
                states.append(self.keep_state(s.h, s.ctx, return_states))
        logits = kept[steps] if steps in kept else self.readout(s.h, s.ctx)
        return LoopOutput(
            logits,
            torch.stack([kept[t] for t in order]) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            s.h,
        )
