"""Per-step features of a rollout, as an exit rule sees them (:class:`StepFeatures`), computed
step by step by one :class:`FeatureTracker` for both the halted run and recorded full rollouts.

For a task answered at every position the features are still one per instance
(:mod:`loopthink.analysis.answers_over_steps`): the answer is the vector of per-position
predictions ("changed" = any position changed), KL and entropy are the max over the instance's
real positions, max_prob the min; the state changes are per instance already."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from loopthink.analysis.answers_over_steps import answer_of, cat_answers, differ, least_sure, positions_of, worst_max
from loopthink.analysis.trajectory import entropy_of, kl_step, log_probs, rollout, uniform_log_probs
from loopthink.model.core import SteppedModel

FEATURES = (
    "log_kl",  # log10 KL(p_t || p_{t-1}) (per position: the max over real positions)
    "log_rel_change",  # log10 ||h_t - h_{t-1}|| / ||h_{t-1}||
    "log_max_token_change",  # log10 of the largest per-token relative change
    "entropy",  # readout entropy (nats) (per position: the max)
    "max_prob",  # largest readout probability (per position: the min)
    "step_frac",  # t / max_steps
    "changed",  # prediction differs from step t-1 (per position: at any position)
    "log_stable",  # log(steps the current prediction has held)
    "steps_per_token",  # t / number of real input tokens (instance size)
)


@dataclass
class StepFeatures:
    """What an exit rule sees after step ``step`` (1-based). In :func:`halt` every tensor is (b,)
    for the still-active rows; from :func:`record` they are (T, B) (``step`` then (T, 1)).
    ``prediction`` has a position axis more for a per-position task ((b, L) or (T, B, L),
    :data:`~loopthink.tasks.IGNORE` off the real tokens)."""

    step: torch.Tensor
    max_steps: int
    kl: torch.Tensor
    rel_change: torch.Tensor
    max_token_change: torch.Tensor
    entropy: torch.Tensor
    max_prob: torch.Tensor
    prediction: torch.Tensor
    changed: torch.Tensor
    stable: torch.Tensor
    n_tokens: torch.Tensor

    def matrix(self) -> torch.Tensor:
        """The probe's input, (..., len(FEATURES)) float64, columns in :data:`FEATURES` order."""
        step = self.step.to(torch.float64)
        cols = [
            torch.log10(self.kl.double() + 1e-12),
            torch.log10(self.rel_change.double() + 1e-12),
            torch.log10(self.max_token_change.double() + 1e-12),
            self.entropy.double(),
            self.max_prob.double(),
            step / self.max_steps,
            self.changed.double(),
            torch.log(self.stable.double()),
            step / self.n_tokens.double().clamp(min=1),
        ]
        return torch.stack(torch.broadcast_tensors(*cols), dim=-1)

    @property
    def steps(self) -> int:
        return int(self.kl.shape[0])


class FeatureTracker:
    """Computes :class:`StepFeatures` step by step (state: previous readout, prediction, run length);
    the one implementation behind both :func:`halt` and :func:`record`. ``token_mask`` (B, L): the
    real tokens, where a per-position readout's answer is read (unused for one answer per instance)."""

    def __init__(self, n_tokens: torch.Tensor, max_steps: int, token_mask: torch.Tensor | None = None):
        self.n_tokens, self.max_steps, self.token_mask = n_tokens, max_steps, token_mask
        self.prev_logp: torch.Tensor | None = None
        self.prev_pred: torch.Tensor | None = None
        self.stable: torch.Tensor | None = None

    def update(self, t: int, logits: torch.Tensor, rel_change: torch.Tensor, token_change: torch.Tensor) -> StepFeatures:
        mask = positions_of(logits, self.token_mask)
        logp = log_probs(logits)
        prev = uniform_log_probs(logp) if self.prev_logp is None else self.prev_logp
        pred = answer_of(logits, mask)
        rows = pred.shape[:1]
        if self.prev_pred is None:
            changed = torch.ones(rows, dtype=torch.bool, device=pred.device)
            stable = torch.ones(rows, dtype=torch.long, device=pred.device)
        else:
            changed = differ(pred, self.prev_pred, 1)
            stable = torch.where(changed, torch.ones_like(self.stable), self.stable + 1)
        f = StepFeatures(
            torch.tensor(t, device=logits.device),
            self.max_steps,
            worst_max(kl_step(logp, prev), mask),
            rel_change,
            token_change,
            worst_max(entropy_of(logp), mask),
            least_sure(logp.exp().max(-1).values, mask),
            pred,
            changed,
            stable,
            self.n_tokens,
        )
        self.prev_logp, self.prev_pred, self.stable = logp, pred, stable
        return f

    def keep(self, idx: torch.Tensor) -> None:
        self.n_tokens = self.n_tokens[idx]
        for name in ("prev_logp", "prev_pred", "stable", "token_mask"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[idx])


def n_tokens(ctx: Any) -> torch.Tensor:
    return ctx.token_mask.sum(1).float()


@torch.no_grad()
def record(model: SteppedModel, inputs: dict[str, torch.Tensor], max_steps: int, generator: torch.Generator | None = None) -> StepFeatures:
    """Features of every step of a full ``max_steps`` rollout, tensors (T, B)."""
    traj = rollout(model, inputs, max_steps, generator=generator)
    tracker = FeatureTracker(n_tokens(model.encode(inputs)).to(traj.step_logits.device), max_steps, traj.position_mask)
    assert traj.max_token_change is not None
    per_step = [tracker.update(t + 1, traj.step_logits[t], traj.rel_change[t], traj.max_token_change[t]) for t in range(max_steps)]
    return _stack(per_step)


def _stack(items: list[StepFeatures]) -> StepFeatures:
    out = {f.name: getattr(items[0], f.name) for f in fields(StepFeatures)}
    for f in fields(StepFeatures):
        if f.name == "step":
            out["step"] = torch.arange(1, len(items) + 1, device=items[0].kl.device)[:, None]
        elif f.name == "n_tokens":
            out["n_tokens"] = items[0].n_tokens[None, :]
        elif f.name != "max_steps":
            out[f.name] = torch.stack([getattr(x, f.name) for x in items])
    return StepFeatures(**out)


def concat(parts: Sequence[StepFeatures]) -> StepFeatures:
    """Join recorded features of several batches along the example dimension (per-position
    predictions padded to the widest batch)."""
    out: dict[str, Any] = {"step": parts[0].step, "max_steps": parts[0].max_steps}
    for f in fields(StepFeatures):
        if f.name not in out:
            out[f.name] = cat_answers([getattr(p, f.name) for p in parts], dim=1)
    return StepFeatures(**out)


def select(feats: StepFeatures, idx: torch.Tensor | np.ndarray) -> StepFeatures:
    """Recorded features of a subset of examples."""
    idx = torch.as_tensor(idx)
    out: dict[str, Any] = {"step": feats.step, "max_steps": feats.max_steps}
    for f in fields(StepFeatures):
        if f.name not in out:
            out[f.name] = getattr(feats, f.name)[:, idx]
    return StepFeatures(**out)
