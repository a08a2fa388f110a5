"""The ``act`` baseline: Universal Transformer + Adaptive Computation Time (Graves 2016;
Dehghani et al. 2019).

The recurrent core exactly as ``model:`` configures it (shared block, input injection,
LayerScale, gate) plus a per-position halting unit ``p_n = sigmoid(w . LN(h_n) + b)``. A position runs until its accumulated ``p`` reaches
``1 - eps`` or the budget ``steps`` ends; its last step gets the remainder ``R``; the readout
reads the halting-weighted state ``sum_n p_n h_n``. Ponder cost ``tau * (N + R)`` (mean over
real tokens, then over the batch) is ``aux_loss``; ``halt_steps`` = N of the readout token.
Settings: ``tau`` (0.01), ``eps`` (0.01), ``halt_bias`` (1.0, the UT reference code's init),
``halted``: ``copy`` (default; UT paper: a halted position's state is copied forward, others
still attend to it) or ``continue`` (tensor2tensor's implementation: halted positions keep
being transformed, only their output weight is fixed). With a budget the accumulated output
after ``t`` steps is exactly ``acc_{t-1} + (1 - cum_{t-1}) h_t`` for still-running positions,
which is what ``step_logits[t-1]`` reads. The rollout stops early once every position halted.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from loopthink.model.config import ModelConfig
from loopthink.model.core import LoopModel, LoopOutput, select_steps


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
        per_position: bool = False,
        *,
        tau: float = 0.01,
        eps: float = 0.01,
        halt_bias: float = 1.0,
        halted: str = "copy",
    ):
        super().__init__(cfg, interface, num_classes, vocab_size, per_position)
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
        keep_steps: Sequence[int] | None = None,
    ) -> LoopOutput:
        """At most ``steps`` steps; each position halts by itself (all are forced at ``steps``)."""
        loop = self.iterate(inputs, steps, bptt=bptt, h0=h0, generator=generator, frozen=frozen)
        s = next(loop)
        ctx, real = s.ctx, s.ctx.token_mask
        halting = _Halting(s.h, real)
        step_logits = []
        states = [self.keep_state(s.h, ctx, return_states)] if return_states else []
        for s in loop:
            with torch.set_grad_enabled(s.grad):
                if self.halted == "copy":  # a halted position's state is copied forward
                    s.h = torch.where(halting.running[..., None], s.h, s.prev)
                p = self.halting_probability(s.h)
                if return_step_logits:  # the output had the budget ended here
                    step_logits.append(self.readout(halting.capped(s.h), ctx))
                halting.update(s.h, p, self.eps, last=s.t == steps)
            if return_states:
                states.append(self.keep_state(s.h, ctx, return_states))
            if not halting.running.any():  # every position halted: nothing changes any more
                break
        if return_step_logits:
            step_logits += [step_logits[-1]] * (steps - len(step_logits))
        if return_states:
            states += [states[-1]] * (steps + 1 - len(states))
        realf = real.float()
        ponder = ((halting.n_upd + halting.rem) * realf).sum(1) / realf.sum(1).clamp(min=1)
        rows = torch.arange(real.shape[0], device=halting.acc.device)
        return LoopOutput(
            self.readout(halting.acc, ctx),
            select_steps(torch.stack(step_logits), steps, keep_steps) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            halting.acc,
            aux_loss=self.tau * ponder.mean(),
            halt_steps=halting.n_upd[rows, ctx.readout_index].long(),
        )


class _Halting:
    """ACT's per-position bookkeeping over one rollout (B, L): who still runs, the accumulated
    halting probability, steps run (N), remainder (R) and the halting-weighted output."""

    def __init__(self, h0: torch.Tensor, real: torch.Tensor) -> None:
        self.running = real.clone()  # padding never runs
        self.cum = h0.new_zeros(real.shape, dtype=torch.float32)  # accumulated p of running positions
        self.n_upd = torch.zeros_like(self.cum)  # N: steps each position ran
        self.rem = torch.zeros_like(self.cum)  # R: remainder at its halting step
        self.acc = torch.zeros_like(h0)  # sum_n w_n h_n

    def capped(self, h: torch.Tensor) -> torch.Tensor:
        """The output if the budget ended with state ``h``: running positions take what is left."""
        return self.acc + (self.running * (1 - self.cum)).to(h.dtype)[..., None] * h

    def update(self, h: torch.Tensor, p: torch.Tensor, eps: float, last: bool) -> None:
        """One step with state ``h`` and halting probabilities ``p``; ``last``: the budget's last step."""
        halt_now = self.running & ((self.cum + p >= 1 - eps) | last)
        still = self.running & ~halt_now
        w = torch.where(still, p, torch.where(halt_now, 1 - self.cum, torch.zeros_like(p)))
        self.acc = self.acc + w.to(h.dtype)[..., None] * h
        self.n_upd = self.n_upd + self.running.float()
        self.rem = torch.where(halt_now, 1 - self.cum, self.rem)
        self.cum = self.cum + torch.where(still, p, torch.zeros_like(p))
        self.running = still
