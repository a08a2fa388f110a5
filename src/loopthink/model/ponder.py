"""The ``ponder`` baseline: PonderNet (Banino et al. 2021).

The same recurrent core plus a per-example halting unit on the readout token:
``lambda_n = sigmoid(w . LN(pool(h_n)) + b)``, ``p_n = lambda_n prod_{j<n} (1 - lambda_j)``,
the last step takes the remaining mass. :meth:`PonderNetModel.training_loss` =
``sum_n p_n CE(y_n, y) + beta KL(p || truncated geometric(lambda_p))`` (the prior's last step
also takes its remaining mass). Prediction: the readout of the first step whose cumulative
halting probability exceeds 0.5 (``halt_steps``), in training and evaluation alike.
Settings: ``beta`` (0.01), ``lambda_p`` (0.2); ``b`` starts at ``logit(lambda_p)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from loopthink.model.answers import instance_cross_entropy
from loopthink.model.config import ModelConfig
from loopthink.model.core import LoopModel, LoopOutput, select_steps


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
        per_position: bool = False,
        *,
        beta: float = 0.01,
        lambda_p: float = 0.2,
    ):
        super().__init__(cfg, interface, num_classes, vocab_size, per_position)
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
        keep_steps: Sequence[int] | None = None,
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
            step_logits = select_steps(raw_logits[t_idx, rows[None, :]], steps, keep_steps)
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
        T = logits.shape[0]
        ce = torch.stack([instance_cross_entropy(logits[t], labels) for t in range(T)])  # (T, B)
        rec = (p * ce).sum(0).mean()
        prior = self.prior(T, p.device)[:, None]
        kl = (p * (p.clamp(min=1e-12).log() - prior.log())).sum(0).mean()
        return rec + self.beta * kl
