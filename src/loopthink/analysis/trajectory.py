"""One rollout with everything the diagnostics and exit rules read: per-step readouts, pooled
states and per-step convergence signals. Shared by ``dynamics`` and ``halting``. For a task
answered at every position the readouts are (T, B, L, C) and ``position_mask`` says where the
answer is; answers and per-instance signals are read through :mod:`.answers_over_steps`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from loopthink.analysis.answers_over_steps import answer_of, differ, positions_of, worst_max
from loopthink.model.core import SteppedModel


@dataclass
class Trajectory:
    step_logits: torch.Tensor  # (T, B, C) readout after steps 1..T; per position (T, B, L, C)
    pooled: torch.Tensor  # (T+1, B, d) readout-token state at steps 0..T
    rel_change: torch.Tensor  # (T, B) ||h_t - h_{t-1}|| / ||h_{t-1}|| over real tokens, t = 1..T
    mean_state: torch.Tensor  # (T+1, B, d) state averaged over real tokens at steps 0..T
    max_token_change: torch.Tensor | None = None  # (T, B) largest per-token relative change, t = 1..T
    position_mask: torch.Tensor | None = None  # (B, L) real tokens of a per-position readout; None: once per instance

    @property
    def predictions(self) -> torch.Tensor:  # (T, B), or per position (T, B, L) with IGNORE off the real tokens
        return answer_of(self.step_logits, self.position_mask)


@torch.no_grad()
def rollout(
    model: SteppedModel,
    inputs: dict[str, torch.Tensor],
    steps: int,
    generator: torch.Generator | None = None,
    h0: torch.Tensor | None = None,
) -> Trajectory:
    """Run ``steps`` steps and keep compact per-step summaries (never the full (T, B, L, d) tensor)."""
    logits, pooled, change, mean, token = [], [], [], [], []
    for s in model.iterate(inputs, steps, h0=h0, generator=generator, readout=True):
        if s.t == 0:
            tok = s.ctx.token_mask[..., None].to(s.h.dtype)
            count = tok.sum(1).clamp(min=1)
        else:
            change.append(relative_change(s.h, s.prev, tok))
            token.append(max_token_change(s.h, s.prev, tok))
            logits.append(s.logits)
        pooled.append(model.pool(s.h, s.ctx))
        mean.append((s.h * tok).sum(1) / count)
    positions = positions_of(logits[0], s.ctx.token_mask)
    return Trajectory(torch.stack(logits), torch.stack(pooled), torch.stack(change), torch.stack(mean), torch.stack(token), positions)


def relative_change(h_next: torch.Tensor, h: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
    """||h_next - h|| / ||h|| over the real tokens (``tok``: (B, L, 1) 0/1 weights), (B,)."""
    num = ((h_next - h) * tok).flatten(1).norm(dim=1)
    den = (h * tok).flatten(1).norm(dim=1).clamp(min=1e-12)
    return num / den


def max_token_change(h_next: torch.Tensor, h: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
    """max over real tokens of ||h_next_i - h_i|| / ||h_i||, (B,): is anything still moving anywhere?"""
    num = ((h_next - h) * tok).norm(dim=-1)
    den = (h * tok).norm(dim=-1).clamp(min=1e-12)
    return (num / den).max(dim=1).values


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Readout log-probabilities in float32, (..., C)."""
    return F.log_softmax(logits.float(), dim=-1)


def uniform_log_probs(logp: torch.Tensor) -> torch.Tensor:
    """The uniform readout ("before thinking") shaped like ``logp``."""
    return torch.full_like(logp, -torch.log(torch.tensor(float(logp.shape[-1]))))


def kl_step(logp: torch.Tensor, prev_logp: torch.Tensor) -> torch.Tensor:
    """KL(p || p_prev) from log-probabilities, over the last dim (one step of :func:`successive_kl`)."""
    return (logp.exp() * (logp - prev_logp)).sum(-1).clamp(min=0)


def entropy_of(logp: torch.Tensor) -> torch.Tensor:
    """Entropy in nats from log-probabilities, over the last dim."""
    return -(logp.exp() * logp).sum(-1)


def successive_kl(step_logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """KL(p_t || p_{t-1}) between successive readouts, (T, B); step 1 compares with the uniform
    distribution (the readout "before thinking"). Per position (``mask`` (B, L) the answer
    positions): the max over them."""
    logp = log_probs(step_logits)
    prev = torch.cat([uniform_log_probs(logp[:1]), logp[:-1]])
    return worst_max(kl_step(logp, prev), mask)


def entropy(step_logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Readout entropy in nats, (T, B); per position, the max over the answer positions ``mask``."""
    return worst_max(entropy_of(log_probs(step_logits)), mask)


def decision_step(predictions: torch.Tensor) -> torch.Tensor:
    """First step (1-based) after which the prediction (T, B) never changes again within T, (B,);
    per position (T, B, L), the whole answer (a change at any position counts)."""
    T = predictions.shape[0]
    changed = differ(predictions[1:], predictions[:-1], 2)  # (T-1, B): change between t and t+1
    steps = torch.arange(2, T + 1, device=predictions.device)[:, None].expand_as(changed)
    last_change = (
        torch.where(changed, steps, torch.ones_like(steps)).max(0).values if T > 1 else torch.ones(predictions.shape[1], dtype=torch.long)
    )
    return last_change
