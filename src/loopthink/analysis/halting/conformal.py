"""The learned exit rule: a probe of "the answer will not change any more", its threshold chosen by
conformal risk control (see :mod:`loopthink.analysis.halting`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from loopthink.analysis.answers_over_steps import differ
from loopthink.analysis.halting.features import StepFeatures, concat, record
from loopthink.analysis.halting.rules import ConformalRule, LogisticProbe, num
from loopthink.analysis.halting.runtime import check_steps
from loopthink.analysis.trajectory import decision_step
from loopthink.model.core import SteppedModel

DEFAULT_ALPHA = 0.05
# Conformal thresholds live on the probe's logit scale; the grid is fixed (data-independent).
LAMBDA_GRID = torch.linspace(-20.0, 20.0, 2001, dtype=torch.float64)
PROBE_SEED_OFFSET = 100_003
CALIB_SEED_OFFSET = 200_006


def stable_targets(predictions: torch.Tensor) -> torch.Tensor:
    """(T, B) bool: after step t the prediction (per position: the whole answer) never changes
    again within T."""
    dec = decision_step(predictions)
    steps = torch.arange(1, predictions.shape[0] + 1, device=predictions.device)[:, None]
    return steps >= dec[None, :]


def fit_probe(feats: StepFeatures, min_steps: int = 1, l2: float = 1e-4) -> LogisticProbe:
    """Fit the probe on recorded features: target = "the answer will not change any more"."""
    y = stable_targets(feats.prediction)[min_steps - 1 :]
    x = feats.matrix()[min_steps - 1 :]
    return LogisticProbe.fit(x.reshape(-1, x.shape[-1]), y.reshape(-1), l2=l2)


def premature_losses(scores: torch.Tensor, predictions: torch.Tensor, lams: torch.Tensor, min_steps: int = 1) -> torch.Tensor:
    """Monotonised premature-exit loss L_i(lambda), (B, G) bool, for scores (T, B) and predictions
    (T, B), or per position (T, B, L).

    tau_i(lambda) = first step >= min_steps with score >= lambda (else T); the raw loss is
    1[pred_i(tau) != pred_i(T)] (per position: the answer differs at any position);
    L_i(lambda) = max over lambda' >= lambda (non-increasing in lambda).
    """
    T, _ = scores.shape
    check_steps(T, min_steps)
    s = scores.double().t().clone()  # (B, T)
    s[:, : min_steps - 1] = -math.inf
    s[:, T - 1] = math.inf  # every example stops at T
    running = torch.cummax(s, dim=1).values  # tau(lambda) = first t with running max >= lambda
    lam = lams.double().to(s.device)[None, :].expand(s.shape[0], -1).contiguous()
    tau = torch.searchsorted(running.contiguous(), lam, side="left").clamp(max=T - 1)  # (B, G) 0-based
    moved = differ(predictions, predictions[T - 1 : T], 2).t()  # (B, T): the answer at t is not the final one
    raw = moved.gather(1, tau)
    return raw.flip(1).cummax(1).values.flip(1)


@dataclass
class CRCResult:
    lam: float  # chosen threshold (+inf: no lambda on the grid meets alpha)
    alpha: float
    n: int
    empirical_risk: float  # mean monotonised loss on the calibration set at lam
    bound: float  # (n * risk + 1) / (n + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"lambda": num(self.lam), "alpha": self.alpha, "n": self.n, "empirical_risk": self.empirical_risk, "bound": self.bound}


def conformal_threshold(
    scores: torch.Tensor, predictions: torch.Tensor, alpha: float, min_steps: int = 1, lams: torch.Tensor | None = None
) -> CRCResult:
    """Smallest lambda (on ``lams``, default :data:`LAMBDA_GRID`, then +inf) with
    (n * R_hat(lambda) + 1) / (n + 1) <= alpha, R_hat the mean monotonised premature-exit loss."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    grid = torch.cat(
        [
            (LAMBDA_GRID if lams is None else torch.as_tensor(lams, dtype=torch.float64)).sort().values,
            torch.tensor([math.inf], dtype=torch.float64),
        ]
    )
    n = scores.shape[1]
    risk = premature_losses(scores, predictions, grid, min_steps).double().mean(0)  # (G,), non-increasing
    bound = (n * risk + 1) / (n + 1)
    ok = (bound <= alpha + 1e-12).nonzero()
    if len(ok) == 0:  # even never exiting early is not certifiable with n examples: (1/(n+1)) > alpha
        return CRCResult(math.inf, alpha, n, 0.0, 1 / (n + 1))
    i = int(ok[0])
    return CRCResult(round(float(grid[i]), 9), alpha, n, float(risk[i]), float(bound[i]))


def calibrate_conformal(
    probe: LogisticProbe, calib: StepFeatures, alpha: float = DEFAULT_ALPHA, min_steps: int = 1, lams: torch.Tensor | None = None
) -> ConformalRule:
    """The :class:`ConformalRule` of ``probe`` whose threshold controls P(premature exit) <= alpha,
    chosen on recorded calibration rollouts ``calib`` (from :func:`record`; disjoint from the probe's
    training data and from test data)."""
    res = conformal_threshold(probe.logit(calib), calib.prediction, alpha, min_steps, lams)
    return ConformalRule(probe, res.lam, alpha, res.to_dict())


def record_batches(model: SteppedModel, batches: Iterable[dict[str, torch.Tensor]], max_steps: int, seed: int = 0) -> StepFeatures:
    """:func:`record` over several batches (batch i's initial state from generator seed ``seed + i``)."""
    parts = [record(model, inp, max_steps, torch.Generator().manual_seed(seed + i)) for i, inp in enumerate(batches)]
    return concat(parts)


def learn_conformal_rule(
    model: SteppedModel,
    train_inputs: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]],
    calib_inputs: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]],
    max_steps: int,
    alpha: float = DEFAULT_ALPHA,
    min_steps: int = 1,
    seed: int = 0,
) -> ConformalRule:
    """Fit the probe on ``train_inputs`` and calibrate it on ``calib_inputs`` (two disjoint splits)."""
    as_list = lambda x: [x] if isinstance(x, dict) else list(x)  # noqa: E731
    probe = fit_probe(record_batches(model, as_list(train_inputs), max_steps, seed), min_steps)
    calib = record_batches(model, as_list(calib_inputs), max_steps, seed + 10_007)
    return calibrate_conformal(probe, calib, alpha, min_steps)
