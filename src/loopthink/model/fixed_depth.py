"""The ``transformer`` baseline: a fixed-depth transformer with untied layers.

Standard pre-norm transformer with **untied** layers (the same :class:`Block`, the same task
interface and readout), state starts at the encoded input, no input re-injection, no gate.
Settings: ``layers`` (default ``train.steps.max``: depth matched to the recurrent model's
training budget); ``match: params`` shrinks/grows the width so the parameter count matches
the recurrent model of the same config (``baselines.match_width``). ``steps`` does not change
the computation; ``step_logits[t]`` is the readout after layer ``min(t + 1, layers)``, so a
frontier plot shows it stops at its depth. ``bptt``, ``h0`` and ``generator`` are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from loopthink.model.config import ModelConfig
from loopthink.model.core import LoopOutput, SteppedModel, init_weights, select_steps
from loopthink.model.depth_attention import DepthMemory
from loopthink.model.interfaces import Context, build_interface
from loopthink.model.layers import Block


class FixedDepthTransformer(SteppedModel):
    """``layers`` untied pre-norm blocks over the task interface's input; see the module docstring."""

    def __init__(
        self, cfg: ModelConfig, interface: str, num_classes: int, vocab_size: int = 0, layers: int = 16, per_position: bool = False
    ):
        super().__init__()
        self.cfg, self.depth, self.per_position = cfg, layers, per_position
        d = cfg.d_model
        self.interface = build_interface(interface, cfg, vocab_size)
        self.layers = nn.ModuleList(Block(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.layerscale) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)
        init_weights(self, cfg.init_std)

    def init_state(self, ctx: Context, generator: torch.Generator | None = None) -> torch.Tensor:
        """The state entering layer 1 is the encoded input itself."""
        return ctx.x

    def step(
        self, h: torch.Tensor, ctx: Context, t: int, frozen: torch.Tensor | None = None, memory: DepthMemory | None = None
    ) -> torch.Tensor:
        """Layer ``t + 1``; past the last layer a step is the identity (no Depth-Attention: ``memory`` is None)."""
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
        keep_steps: Sequence[int] | None = None,
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
            select_steps(torch.stack(step_logits), steps, keep_steps) if return_step_logits else None,
            torch.stack(states) if return_states else None,
            s.h,
        )
