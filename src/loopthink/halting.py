"""Adaptive halting: per example, stop iterating once more steps would not change the answer.

Exit rules (each an :class:`ExitRule` whose ``should_stop(features)`` returns a bool per example):

* :class:`KLRule` -- stop when KL(p_t || p_{t-1}) between successive readouts < ``threshold``
  (default :data:`KL_THRESHOLD`);
* :class:`ConvergenceRule` -- stop when ||h_t - h_{t-1}|| / ||h_{t-1}|| < ``threshold``
  (default :data:`CONVERGENCE_THRESHOLD`);
* :class:`ConformalRule` -- a logistic probe on per-step features (:data:`FEATURES`) scores
  "the answer will not change any more"; exit at the first step whose score >= lambda, with lambda
  chosen on a calibration set by conformal risk control (Angelopoulos et al., 2022) so that
  P(premature exit) <= alpha. A premature exit is an exit whose prediction differs from the
  prediction after ``max_steps``.

:func:`halt` runs a batch with a rule: halted rows are removed from the batch (``Context.index``),
so later steps cost less, and their outputs are frozen at their exit step. No rule fires before
``min_steps``; every row stops at ``max_steps``.

Conformal risk control, as implemented by :func:`conformal_threshold`: for calibration example i
let tau_i(lambda) be the exit step (first t >= min_steps with score >= lambda, else max_steps) and
l_i(lambda) = 1[pred_i(tau_i(lambda)) != pred_i(max_steps)]. This loss need not be monotone in
lambda (a prediction can flip away and back), so it is monotonised, L_i(lambda) =
max_{lambda' >= lambda} l_i(lambda'), which bounds it from above. lambda-hat is the smallest value
on a fixed grid (:data:`LAMBDA_GRID`, probe logits, plus +inf = never exit early) with
(n * mean_i L_i(lambda) + 1) / (n + 1) <= alpha; then E[premature exit on a fresh exchangeable
example] <= alpha. The probe is fitted on a split disjoint from the calibration split.

CLI: ``loopthink halt RUN --rule {kl,convergence,conformal} ...`` (see :func:`add_arguments`).
Splits: test instances use ``--seed``; the probe's training split ``seed + PROBE_SEED_OFFSET`` and
the calibration split ``seed + CALIB_SEED_OFFSET``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from loopthink.evaluate import bucket_order, size_sorted_chunks
from loopthink.model.core import SteppedModel
from loopthink.probe import fit_logistic
from loopthink.tasks import DataError
from loopthink.trajectory import (
    decision_step,
    entropy_of,
    kl_step,
    log_probs,
    max_token_change,
    relative_change,
    rollout,
    uniform_log_probs,
)

# Defaults of the unlearned rules, measured on the default graph config (T_max=64, hops 1..16):
# * KL_THRESHOLD = 1e-6 nats: a readout that is still changing its mind moves by >1e-3 nats per
#   step, a settled one by <1e-7 (float32 noise). On graph reachability the KL rule exits too early
#   at ANY threshold (the readout stays confident while the search front is still travelling, so
#   successive KLs are tiny before the decision): it is a baseline, not a recommendation.
# * CONVERGENCE_THRESHOLD = 0.04: the latent state keeps drifting slowly after the decision
#   (relative change ~0.02 at step 64); 0.04 was the loosest value on the sweep that kept accuracy
#   within 0.5 points of T_max there (51% of the steps saved; 0.056 saved 60% but lost 1.2 points).
KL_THRESHOLD = 1e-6
CONVERGENCE_THRESHOLD = 0.04
DEFAULT_ALPHA = 0.05
ALPHA_SWEEP = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
KL_SWEEP = tuple(float(x) for x in np.logspace(-10, -1, 19))
CONVERGENCE_SWEEP = tuple(float(x) for x in np.logspace(-2.5, 0, 21))
# Conformal thresholds live on the probe's logit scale; the grid is fixed (data-independent).
LAMBDA_GRID = torch.linspace(-20.0, 20.0, 2001, dtype=torch.float64)
PROBE_SEED_OFFSET = 100_003
CALIB_SEED_OFFSET = 200_006
FEATURES = (
    "log_kl",  # log10 KL(p_t || p_{t-1})
    "log_rel_change",  # log10 ||h_t - h_{t-1}|| / ||h_{t-1}||
    "log_max_token_change",  # log10 of the largest per-token relative change
    "entropy",  # readout entropy (nats)
    "max_prob",  # largest readout probability
    "step_frac",  # t / max_steps
    "changed",  # prediction differs from step t-1
    "log_stable",  # log(steps the current prediction has held)
    "steps_per_token",  # t / number of real input tokens (instance size)
)


# ---- per-step features ----------------------------------------------------------------------
@dataclass
class StepFeatures:
    """What an exit rule sees after step ``step`` (1-based). In :func:`halt` every tensor is (b,)
    for the still-active rows; from :func:`record` they are (T, B) (``step`` then (T, 1))."""

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
    the one implementation behind both :func:`halt` and :func:`record`."""

    def __init__(self, n_tokens: torch.Tensor, max_steps: int):
        self.n_tokens, self.max_steps = n_tokens, max_steps
        self.prev_logp: torch.Tensor | None = None
        self.prev_pred: torch.Tensor | None = None
        self.stable: torch.Tensor | None = None

    def update(self, t: int, logits: torch.Tensor, rel_change: torch.Tensor, token_change: torch.Tensor) -> StepFeatures:
        logp = log_probs(logits)
        prev = uniform_log_probs(logp) if self.prev_logp is None else self.prev_logp
        pred = logits.argmax(-1)
        if self.prev_pred is None:
            changed = torch.ones_like(pred, dtype=torch.bool)
            stable = torch.ones_like(pred)
        else:
            changed = pred != self.prev_pred
            stable = torch.where(changed, torch.ones_like(pred), self.stable + 1)
        probs = logp.exp()
        f = StepFeatures(
            torch.tensor(t, device=logits.device), self.max_steps, kl_step(logp, prev), rel_change, token_change, entropy_of(logp),
            probs.max(-1).values, pred, changed, stable, self.n_tokens,
        )
        self.prev_logp, self.prev_pred, self.stable = logp, pred, stable
        return f

    def keep(self, idx: torch.Tensor) -> None:
        self.n_tokens = self.n_tokens[idx]
        for name in ("prev_logp", "prev_pred", "stable"):
            setattr(self, name, getattr(self, name)[idx])


def _n_tokens(ctx: Any) -> torch.Tensor:
    return ctx.token_mask.sum(1).float()


@torch.no_grad()
def record(
    model: nn.Module, inputs: dict[str, torch.Tensor], max_steps: int, generator: torch.Generator | None = None
) -> StepFeatures:
    """Features of every step of a full ``max_steps`` rollout, tensors (T, B)."""
    traj = rollout(model, inputs, max_steps, generator=generator)
    tracker = FeatureTracker(_n_tokens(model.encode(inputs)).to(traj.step_logits.device), max_steps)
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
    """Join recorded features of several batches along the example dimension."""
    out: dict[str, Any] = {"step": parts[0].step, "max_steps": parts[0].max_steps}
    for f in fields(StepFeatures):
        if f.name not in out:
            out[f.name] = torch.cat([getattr(p, f.name) for p in parts], dim=1)
    return StepFeatures(**out)


def select(feats: StepFeatures, idx: torch.Tensor | np.ndarray) -> StepFeatures:
    """Recorded features of a subset of examples."""
    idx = torch.as_tensor(idx)
    out: dict[str, Any] = {"step": feats.step, "max_steps": feats.max_steps}
    for f in fields(StepFeatures):
        if f.name not in out:
            out[f.name] = getattr(feats, f.name)[:, idx]
    return StepFeatures(**out)


# ---- exit rules -----------------------------------------------------------------------------
class ExitRule:
    """Decides, per example, whether to stop after the current step."""

    name: ClassVar[str] = "rule"

    def should_stop(self, f: StepFeatures) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"rule": self.name}


@dataclass
class NeverStop(ExitRule):
    """Runs every example for ``max_steps`` (the full rollout)."""

    name: ClassVar[str] = "never"

    def should_stop(self, f: StepFeatures) -> torch.Tensor:
        return torch.zeros_like(f.kl, dtype=torch.bool)


@dataclass
class KLRule(ExitRule):
    """Stop when KL(p_t || p_{t-1}) < ``threshold`` (nats)."""

    threshold: float = KL_THRESHOLD
    name: ClassVar[str] = "kl"

    def should_stop(self, f: StepFeatures) -> torch.Tensor:
        return f.kl < self.threshold

    def describe(self) -> dict[str, Any]:
        return {"rule": self.name, "threshold": self.threshold}


@dataclass
class ConvergenceRule(ExitRule):
    """Stop when ||h_t - h_{t-1}|| / ||h_{t-1}|| < ``threshold``."""

    threshold: float = CONVERGENCE_THRESHOLD
    name: ClassVar[str] = "convergence"

    def should_stop(self, f: StepFeatures) -> torch.Tensor:
        return f.rel_change < self.threshold

    def describe(self) -> dict[str, Any]:
        return {"rule": self.name, "threshold": self.threshold}


@dataclass
class LogisticProbe:
    """Logistic regression on standardised :data:`FEATURES`; ``logit(f)`` is its score."""

    weight: list[float]
    bias: float
    mean: list[float]
    std: list[float]
    features: tuple[str, ...] = FEATURES

    def logit(self, f: StepFeatures) -> torch.Tensor:
        x = f.matrix()
        mean, std = (torch.tensor(v, dtype=torch.float64, device=x.device) for v in (self.mean, self.std))
        w = torch.tensor(self.weight, dtype=torch.float64, device=x.device)
        return ((x - mean) / std) @ w + self.bias

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, l2: float = 1e-4, iters: int = 200) -> "LogisticProbe":
        """Fit on rows ``x`` (N, F) with 0/1 targets ``y`` (N,): mean log-loss + l2 |w|^2."""
        m = fit_logistic(x.double().cpu().numpy(), y.double().cpu().numpy(), l2=2 * l2, max_iter=iters)
        return cls(m.weight.tolist(), m.bias, m.mean.tolist(), m.std.tolist())

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "weight": self.weight, "bias": self.bias, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LogisticProbe":
        return cls(list(d["weight"]), float(d["bias"]), list(d["mean"]), list(d["std"]), tuple(d.get("features", FEATURES)))


@dataclass
class ConformalRule(ExitRule):
    """Stop when the probe's logit >= ``lam`` (``lam`` = +inf: never before ``max_steps``)."""

    probe: LogisticProbe
    lam: float
    alpha: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    name: ClassVar[str] = "conformal"

    def should_stop(self, f: StepFeatures) -> torch.Tensor:
        return self.probe.logit(f) >= self.lam

    def describe(self) -> dict[str, Any]:
        return {
            "rule": self.name, "alpha": self.alpha, "lambda": _num(self.lam),
            "lambda_prob": _num(1 / (1 + math.exp(-self.lam))) if math.isfinite(self.lam) else None,
            "calibration": self.calibration, "probe": self.probe.to_dict(),
        }


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


# ---- halting --------------------------------------------------------------------------------
@dataclass
class HaltResult:
    predictions: torch.Tensor  # (B,) prediction at each example's exit step
    steps_used: torch.Tensor  # (B,) exit step, in [min_steps, max_steps]
    logits: torch.Tensor  # (B, C) readout at the exit step


def _check_steps(max_steps: int, min_steps: int) -> None:
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"min_steps must be in [1, max_steps={max_steps}], got {min_steps}")


@torch.no_grad()
def halt(
    model: SteppedModel,
    inputs: dict[str, torch.Tensor],
    rule: ExitRule,
    max_steps: int,
    min_steps: int = 1,
    generator: torch.Generator | None = None,
    h0: torch.Tensor | None = None,
) -> HaltResult:
    """Run ``model`` on ``inputs`` with per-example halting.

    After each step t the rule sees the active rows' :class:`StepFeatures`; rows it stops (never
    before ``min_steps``; all at ``max_steps``) keep the readout of step t and leave the batch, so
    the remaining steps run on a smaller batch. Results equal a full rollout read at each row's
    exit step (same ``generator`` / ``h0``).
    """
    _check_steps(max_steps, min_steps)
    loop = model.iterate(inputs, max_steps, h0=h0, generator=generator, readout=True)
    s = next(loop)
    B = s.h.shape[0]
    rows = torch.arange(B, device=s.h.device)
    tok = s.ctx.token_mask[..., None].to(s.h.dtype)
    tracker = FeatureTracker(_n_tokens(s.ctx), max_steps)
    steps_used = torch.full((B,), max_steps, dtype=torch.long, device=s.h.device)
    out_logits: torch.Tensor | None = None
    for s in loop:
        logits = s.logits
        if out_logits is None:
            out_logits = torch.empty((B, logits.shape[-1]), dtype=logits.dtype, device=logits.device)
        f = tracker.update(s.t, logits, relative_change(s.h, s.prev, tok), max_token_change(s.h, s.prev, tok))
        if s.t >= max_steps:
            stop = torch.ones_like(f.changed)
        elif s.t < min_steps:
            stop = torch.zeros_like(f.changed)
        else:
            stop = rule.should_stop(f).to(torch.bool)
        if bool(stop.any()):
            done = rows[stop]
            out_logits[done] = logits[stop]
            steps_used[done] = s.t
            keep = (~stop).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            rows, tok = rows[keep], tok[keep]
            s.keep(keep)
            tracker.keep(keep)
    assert out_logits is not None
    return HaltResult(out_logits.argmax(-1), steps_used, out_logits)


def exit_steps(stop: torch.Tensor, min_steps: int = 1) -> torch.Tensor:
    """Exit step (1-based) per example from a recorded (T, B) stop matrix: the first step >=
    ``min_steps`` where it is True, else T."""
    T = stop.shape[0]
    _check_steps(T, min_steps)
    stop = stop.clone().to(torch.bool)
    stop[: min_steps - 1] = False
    stop[T - 1] = True
    return stop.to(torch.uint8).argmax(0) + 1  # argmax returns the first maximal index


def simulate(rule: ExitRule, feats: StepFeatures, min_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(exit steps, predictions at exit) of ``rule`` on recorded full rollouts, without re-running."""
    steps = exit_steps(rule.should_stop(feats), min_steps)
    return steps, feats.prediction.gather(0, (steps - 1)[None]).squeeze(0)


# ---- the learned rule: probe + conformal risk control -----------------------------------------
def stable_targets(predictions: torch.Tensor) -> torch.Tensor:
    """(T, B) bool: after step t the prediction never changes again within T."""
    dec = decision_step(predictions)
    steps = torch.arange(1, predictions.shape[0] + 1, device=predictions.device)[:, None]
    return steps >= dec[None, :]


def fit_probe(feats: StepFeatures, min_steps: int = 1, l2: float = 1e-4) -> LogisticProbe:
    """Fit the probe on recorded features: target = "the answer will not change any more"."""
    y = stable_targets(feats.prediction)[min_steps - 1 :]
    x = feats.matrix()[min_steps - 1 :]
    return LogisticProbe.fit(x.reshape(-1, x.shape[-1]), y.reshape(-1), l2=l2)


def premature_losses(scores: torch.Tensor, predictions: torch.Tensor, lams: torch.Tensor, min_steps: int = 1) -> torch.Tensor:
    """Monotonised premature-exit loss L_i(lambda), (B, G) bool, for scores/predictions (T, B).

    tau_i(lambda) = first step >= min_steps with score >= lambda (else T); the raw loss is
    1[pred_i(tau) != pred_i(T)]; L_i(lambda) = max over lambda' >= lambda (non-increasing in lambda).
    """
    T, _ = scores.shape
    _check_steps(T, min_steps)
    s = scores.double().t().clone()  # (B, T)
    s[:, : min_steps - 1] = -math.inf
    s[:, T - 1] = math.inf  # every example stops at T
    running = torch.cummax(s, dim=1).values  # tau(lambda) = first t with running max >= lambda
    lam = lams.double().to(s.device)[None, :].expand(s.shape[0], -1).contiguous()
    tau = torch.searchsorted(running.contiguous(), lam, side="left").clamp(max=T - 1)  # (B, G) 0-based
    preds = predictions.t()
    raw = preds.gather(1, tau) != preds[:, T - 1 : T]
    return raw.flip(1).cummax(1).values.flip(1)


@dataclass
class CRCResult:
    lam: float  # chosen threshold (+inf: no lambda on the grid meets alpha)
    alpha: float
    n: int
    empirical_risk: float  # mean monotonised loss on the calibration set at lam
    bound: float  # (n * risk + 1) / (n + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"lambda": _num(self.lam), "alpha": self.alpha, "n": self.n, "empirical_risk": self.empirical_risk, "bound": self.bound}


def conformal_threshold(
    scores: torch.Tensor, predictions: torch.Tensor, alpha: float, min_steps: int = 1, lams: torch.Tensor | None = None
) -> CRCResult:
    """Smallest lambda (on ``lams``, default :data:`LAMBDA_GRID`, then +inf) with
    (n * R_hat(lambda) + 1) / (n + 1) <= alpha, R_hat the mean monotonised premature-exit loss."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    grid = torch.cat([(LAMBDA_GRID if lams is None else torch.as_tensor(lams, dtype=torch.float64)).sort().values, torch.tensor([math.inf], dtype=torch.float64)])
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


def record_batches(
    model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], max_steps: int, seed: int = 0
) -> StepFeatures:
    """:func:`record` over several batches (batch i's initial state from generator seed ``seed + i``)."""
    parts = [record(model, inp, max_steps, torch.Generator().manual_seed(seed + i)) for i, inp in enumerate(batches)]
    return concat(parts)


def learn_conformal_rule(
    model: nn.Module,
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


def make_rule(name: str, threshold: float | None = None) -> ExitRule:
    """A KL or convergence rule by name (the conformal rule needs :func:`calibrate_conformal`)."""
    if name == "kl":
        return KLRule(KL_THRESHOLD if threshold is None else threshold)
    if name == "convergence":
        return ConvergenceRule(CONVERGENCE_THRESHOLD if threshold is None else threshold)
    raise ValueError(f"unknown rule {name!r}")


# ---- evaluation (library side of the CLI) ----------------------------------------------------
def record_records(
    model: nn.Module, task: Any, records: list[dict], max_steps: int, seed: int, batch_size: int = 512, device: str = "cpu"
) -> tuple[StepFeatures, float]:
    """Recorded features of ``records`` (example order kept) and the rollouts' wall time (s)."""
    parts, order, wall = [], [], 0.0
    for i, chunk in enumerate(size_sorted_chunks(records, batch_size)):
        inputs = task.encode([records[j] for j in chunk]).to(device).inputs
        start = time.perf_counter()
        parts.append(record(model, inputs, max_steps, torch.Generator(device).manual_seed(seed + i)))
        wall += time.perf_counter() - start
        order += chunk
    feats = concat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return select(feats, inverse.to(feats.prediction.device)), wall


def halt_records(
    model: nn.Module, task: Any, records: list[dict], rule: ExitRule, max_steps: int, min_steps: int, seed: int,
    batch_size: int = 512, device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(predictions, steps used, wall time) of :func:`halt` over ``records``; the chunks and initial
    states are those of :func:`record_records` with the same ``seed``."""
    preds = torch.zeros(len(records), dtype=torch.long)
    steps = torch.zeros(len(records), dtype=torch.long)
    wall = 0.0
    for i, chunk in enumerate(size_sorted_chunks(records, batch_size)):
        inputs = task.encode([records[j] for j in chunk]).to(device).inputs
        start = time.perf_counter()
        res = halt(model, inputs, rule, max_steps, min_steps, torch.Generator(device).manual_seed(seed + i))
        wall += time.perf_counter() - start
        preds[chunk], steps[chunk] = res.predictions.cpu(), res.steps_used.cpu()
    return preds, steps, wall


def _rate(k: int, n: int) -> dict[str, Any]:
    from loopthink.evaluate import wilson_interval

    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else 0.0, "k": k, "n": n, "ci_low": lo, "ci_high": hi}


def _point(steps: torch.Tensor, preds: torch.Tensor, final: torch.Tensor, labels: torch.Tensor, max_steps: int) -> dict[str, Any]:
    prem = int((preds != final).sum())
    mean = float(steps.double().mean())
    return {
        "accuracy": float((preds == labels).double().mean()), "mean_steps": mean, "compute_saved": 1 - mean / max_steps,
        "premature_exit_rate": prem / len(preds), "premature_exit": _rate(prem, len(preds)),
    }


def pareto_curves(
    test: StepFeatures, labels: torch.Tensor, min_steps: int, conformal: list[ConformalRule] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Accuracy vs mean steps on the recorded test rollouts for: fixed depth (every example runs t
    steps), the KL and convergence rules over :data:`KL_SWEEP` / :data:`CONVERGENCE_SWEEP`, and the
    given calibrated conformal rules (one per alpha)."""
    T = test.steps
    final = test.prediction[-1].cpu()
    labels = labels.cpu()
    curves: dict[str, list[dict[str, Any]]] = {"fixed": []}
    for t in range(min_steps, T + 1):
        p = test.prediction[t - 1].cpu()
        curves["fixed"].append({"param": t, **_point(torch.full_like(p, t), p, final, labels, T)})
    sweeps: list[tuple[str, list[ExitRule], list[Any]]] = [
        ("kl", [KLRule(x) for x in KL_SWEEP], list(KL_SWEEP)),
        ("convergence", [ConvergenceRule(x) for x in CONVERGENCE_SWEEP], list(CONVERGENCE_SWEEP)),
    ]
    if conformal:
        sweeps.append(("conformal", list(conformal), [r.alpha for r in conformal]))
    for name, rules, params in sweeps:
        pts = []
        for rule, param in zip(rules, params):
            s, p = simulate(rule, test, min_steps)
            pt = {"param": param, **_point(s.cpu(), p.cpu(), final, labels, T)}
            if isinstance(rule, ConformalRule):
                pt["lambda"] = _num(rule.lam)
            pts.append(pt)
        curves[name] = pts
    return curves


def by_difficulty(keys: list[str], steps: torch.Tensor, preds: torch.Tensor, final: torch.Tensor, labels: torch.Tensor) -> dict[str, dict[str, Any]]:
    arr = np.array(keys)
    out: dict[str, dict[str, Any]] = {}
    for k in sorted(set(keys), key=bucket_order):
        sel = torch.from_numpy(arr == k)
        s = steps[sel].double()
        q = torch.quantile(s, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
        out[k] = {
            "n": int(sel.sum()),
            "accuracy": float((preds[sel] == labels[sel]).double().mean()),
            "accuracy_at_max": float((final[sel] == labels[sel]).double().mean()),
            "mean_steps": float(s.mean()), "steps_p10": float(q[0]), "steps_median": float(q[1]), "steps_p90": float(q[2]),
            "steps_min": int(s.min()), "steps_max": int(s.max()),
            "premature_exit_rate": float((preds[sel] != final[sel]).double().mean()),
        }
    return out


# ---- CLI -------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from loopthink.argtypes import count, open_fraction, parse_range, positive_float, seed, step_count

    p.add_argument("run", help="run directory")
    p.add_argument("--rule", choices=("kl", "convergence", "conformal"), default="conformal",
                   help="exit rule (default conformal: learned probe with a calibrated premature-exit guarantee)")
    p.add_argument("--alpha", type=open_fraction, default=DEFAULT_ALPHA, help=f"conformal: allowed premature-exit rate (default {DEFAULT_ALPHA})")
    p.add_argument("--threshold", type=positive_float, default=None,
                   help=f"kl/convergence threshold (defaults: kl {KL_THRESHOLD:g} nats, convergence {CONVERGENCE_THRESHOLD:g})")
    p.add_argument("--max-steps", type=step_count, default=64, help="T_max (default 64)")
    p.add_argument("--min-steps", type=step_count, default=1, help="no exit before this step (default 1)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--difficulty", type=parse_range, default=None,
                     help="test hops/depth LO..HI (default: training LO .. 2x training HI)")
    src.add_argument("--data", help="test instances from a JSONL file instead of generated ones")
    p.add_argument("--calib-data", help="conformal: JSONL file split in half for probe training / calibration "
                   "(default: generated with seeds disjoint from the test seed)")
    p.add_argument("--n", type=count, default=1000, help="test instances (generated; default 1000)")
    p.add_argument("--n-calib", type=count, default=1000, help="conformal: calibration instances (default 1000)")
    p.add_argument("--n-probe", type=count, default=500, help="conformal: probe-training instances (default 500)")
    p.add_argument("--seed", type=seed, default=1234, help="test seed; probe/calibration use seed+%d / seed+%d" % (PROBE_SEED_OFFSET, CALIB_SEED_OFFSET))
    p.add_argument("--batch-size", type=count, default=512)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output directory (halting.json, pareto.png, steps_by_difficulty.png)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary")


def _validate(args: argparse.Namespace) -> None:

    if args.max_steps < 1:
        raise DataError(f"--max-steps must be >= 1, got {args.max_steps}")
    if not 1 <= args.min_steps <= args.max_steps:
        raise DataError(f"--min-steps must be in 1..{args.max_steps}, got {args.min_steps}")
    if not 0 < args.alpha < 1:
        raise DataError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.threshold is not None and args.rule == "conformal":
        raise DataError("--threshold applies to kl/convergence; the conformal rule picks its threshold from --alpha")
    if args.threshold is not None and args.threshold <= 0:
        raise DataError(f"--threshold must be > 0, got {args.threshold}")
    for name in ("n", "n_calib", "n_probe", "batch_size"):
        if getattr(args, name) < 1:
            raise DataError(f"--{name.replace('_', '-')} must be >= 1")


def _read(path: str, task: Any) -> list[dict]:
    from loopthink.tasks import DataError
    from loopthink.tasks.formats import read_jsonl

    name, records = read_jsonl(path)
    if name != task.name:
        raise DataError(f"{path} holds {name} instances but the run was trained on {task.name}")
    if not records:
        raise DataError(f"{path}: no instances")
    return records


def run(args: argparse.Namespace) -> int:
    from loopthink.checkpoint import RunError, load_run
    from loopthink.evaluate import difficulty_keys, labels_of
    from loopthink.plots.halting import plot_calibration, plot_pareto, plot_steps_by_difficulty
    from loopthink.tasks import DataError

    _validate(args)
    cfg, model, task = load_run(args.run, args.device)
    if not isinstance(model, SteppedModel):
        raise RunError(f"{args.run}: model {type(model).__name__} has no step-wise interface to halt")
    opts = {**cfg.task.options, **cfg.eval.options}
    lo_t, hi_t = cfg.task.train_difficulty
    T, m = args.max_steps, args.min_steps
    progress = sys.stderr.isatty() and not args.json
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)

    if args.data:
        test_records = _read(args.data, task)
        diffs = [task.difficulty_of(r) for r in test_records]
        rng = (max(1, min(diffs)), max(1, max(diffs)))
        test_source: dict[str, Any] = {"data": args.data}
    else:
        rng = args.difficulty or (max(1, lo_t), 2 * hi_t)
        test_records = task.generate(args.n, args.seed, rng, **opts)
        test_source = {"difficulty": list(rng), "n": args.n, "seed": args.seed}

    # ---- the rule (conformal: probe on one split, calibration on another, both disjoint from test)
    conformal_rules: list[ConformalRule] = []
    calib_info: dict[str, Any] = {}
    if args.rule == "conformal":
        if args.calib_data:
            pool = _read(args.calib_data, task)
            if len(pool) < 4:
                raise DataError(f"{args.calib_data}: need at least 4 instances to split into probe/calibration")
            perm = np.random.default_rng(args.seed).permutation(len(pool))
            half = len(pool) // 2
            probe_records, calib_records = [pool[i] for i in perm[:half]], [pool[i] for i in perm[half:]]
            calib_info["source"] = {"calib_data": args.calib_data}
        else:
            probe_records = task.generate(args.n_probe, args.seed + PROBE_SEED_OFFSET, rng, **opts)
            calib_records = task.generate(args.n_calib, args.seed + CALIB_SEED_OFFSET, rng, **opts)
            calib_info["source"] = {"difficulty": list(rng), "probe_seed": args.seed + PROBE_SEED_OFFSET, "calib_seed": args.seed + CALIB_SEED_OFFSET}
        say(f"probe: recording {len(probe_records)} rollouts of {T} steps")
        probe_feats, _ = record_records(model, task, probe_records, T, args.seed + PROBE_SEED_OFFSET, args.batch_size, args.device)
        probe = fit_probe(probe_feats, m)
        say(f"calibration: recording {len(calib_records)} rollouts")
        calib_feats, _ = record_records(model, task, calib_records, T, args.seed + CALIB_SEED_OFFSET, args.batch_size, args.device)
        calib_info.update({"n_probe": len(probe_records), "n_calib": len(calib_records)})
        alphas = sorted(set(ALPHA_SWEEP) | {args.alpha})
        conformal_rules = [calibrate_conformal(probe, calib_feats, a, m) for a in alphas]
        rule: ExitRule = conformal_rules[alphas.index(args.alpha)]
        if not math.isfinite(rule.lam):  # type: ignore[attr-defined]
            print(f"warning: alpha={args.alpha} cannot be certified with {len(calib_records)} calibration instances "
                  f"(needs n >= 1/alpha - 1); every example runs {T} steps", file=sys.stderr)
    else:
        rule = make_rule(args.rule, args.threshold)

    # ---- test: full rollouts (reference, Pareto curves) and the halted run on the same initial states
    say(f"test: recording {len(test_records)} full rollouts")
    test_feats, full_wall = record_records(model, task, test_records, T, args.seed, args.batch_size, args.device)
    say("test: halted run")
    preds, steps, halted_wall = halt_records(model, task, test_records, rule, T, m, args.seed, args.batch_size, args.device)
    labels = torch.as_tensor(labels_of(task, test_records))
    final = test_feats.prediction[-1].cpu()
    keys = difficulty_keys(task, test_records)
    sim_steps, _ = simulate(rule, test_feats, m)

    point = _point(steps, preds, final, labels, T)
    summary = {
        "rule": args.rule,
        "alpha": args.alpha if args.rule == "conformal" else None,
        "threshold": rule.describe().get("threshold", rule.describe().get("lambda")),
        "accuracy": point["accuracy"],
        "accuracy_at_max": float((final == labels).double().mean()),
        "mean_steps": point["mean_steps"],
        "max_steps": T,
        "min_steps": m,
        "compute_saved": point["compute_saved"],
        "premature_exit_rate": point["premature_exit_rate"],
        "premature_exit_ci": [point["premature_exit"]["ci_low"], point["premature_exit"]["ci_high"]],
        "n": len(test_records),
        "by_difficulty": by_difficulty(keys, steps, preds, final, labels),
    }
    curves = pareto_curves(test_feats, labels, m, conformal_rules)
    data = {
        **summary,
        "run": str(args.run), "task": task.name, "difficulty_name": task.difficulty_name,
        "train_difficulty": [lo_t, hi_t], "test": test_source,
        "rule_spec": rule.describe(), "calibration": calib_info or None,
        "premature_exit": point["premature_exit"],
        "wall_time": {"full_rollout_s": full_wall, "halted_s": halted_wall, "speedup": full_wall / max(halted_wall, 1e-9),
                      "note": "full rollout = T_max steps with per-step readouts (recording); halted = halt() on the same batches"},
        "simulated_exit_agreement": float((sim_steps.cpu() == steps).double().mean()),
        "steps_histogram": np.bincount(steps.numpy(), minlength=T + 1)[1:].tolist(),
        "pareto": curves,
        "defaults": {"kl_threshold": KL_THRESHOLD, "convergence_threshold": CONVERGENCE_THRESHOLD},
    }
    if conformal_rules:
        data["alpha_sweep"] = [
            {"alpha": r.alpha, "lambda": _num(r.lam), "calibration_risk": r.calibration["empirical_risk"], **pt}
            for r, pt in zip(conformal_rules, curves["conformal"])
        ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "halting.json").write_text(json.dumps(data, indent=1))
    with open(out / "halting_examples.csv", "w") as f:
        f.write("index,difficulty,label,prediction,prediction_at_max,steps_used\n")
        for i in range(len(test_records)):
            f.write(f"{i},{keys[i]},{int(labels[i])},{int(preds[i])},{int(final[i])},{int(steps[i])}\n")
    plot_pareto(data, out / "pareto.png")
    plot_steps_by_difficulty(data, keys, steps.numpy(), out / "steps_by_difficulty.png")
    if conformal_rules:
        plot_calibration(data, out / "calibration.png")
    if args.json:
        print(json.dumps(summary))
    else:
        print(summary_text(data))
        print(f"\nwrote {out}/halting.json, halting_examples.csv, pareto.png, steps_by_difficulty.png"
              + (", calibration.png" if conformal_rules else ""))
    return 0


def summary_text(data: dict[str, Any]) -> str:
    T = data["max_steps"]
    pe = data["premature_exit"]
    rule = data["rule"] + (f" (alpha={data['alpha']})" if data["alpha"] is not None else f" (threshold={data['threshold']:g})")
    lines = [
        f"rule {rule}, T_max={T}, min_steps={data['min_steps']}, n={data['n']}",
        f"accuracy {data['accuracy']:.4f} with halting vs {data['accuracy_at_max']:.4f} at T_max "
        f"({100 * (data['accuracy'] - data['accuracy_at_max']):+.2f} points)",
        f"mean steps {data['mean_steps']:.2f} of {T}: compute saved {data['compute_saved']:.1%}; "
        f"wall time {data['wall_time']['halted_s']:.2f}s halted vs {data['wall_time']['full_rollout_s']:.2f}s full",
        f"premature exits {pe['k']}/{pe['n']} = {pe['rate']:.4f} (95% CI {pe['ci_low']:.4f}..{pe['ci_high']:.4f})"
        + (f" vs alpha {data['alpha']}" if data["alpha"] is not None else ""),
        "",
        f"{data['difficulty_name']:>12} {'n':>6} {'acc':>7} {'acc@max':>8} {'mean':>6} {'p10':>5} {'med':>5} {'p90':>5} {'max':>5}",
    ]
    for k, r in data["by_difficulty"].items():
        lines.append(f"{k:>12} {r['n']:>6} {r['accuracy']:>7.3f} {r['accuracy_at_max']:>8.3f} {r['mean_steps']:>6.1f} "
                     f"{r['steps_p10']:>5.0f} {r['steps_median']:>5.0f} {r['steps_p90']:>5.0f} {r['steps_max']:>5}")
    if data.get("alpha_sweep"):
        lines += ["", f"{'alpha':>8} {'premature':>10} {'95% CI':>17} {'accuracy':>9} {'mean steps':>11}"]
        for r in data["alpha_sweep"]:
            pe = r["premature_exit"]
            lines.append(f"{r['alpha']:>8g} {pe['rate']:>10.4f} {pe['ci_low']:>8.4f}..{pe['ci_high']:<7.4f} {r['accuracy']:>9.4f} {r['mean_steps']:>11.2f}")
    return "\n".join(lines)


# ---- exit rules by name, for `eval --halt` and the Python API -------------------------------------
def rule_from_spec(
    spec: str, model: nn.Module, task: Any, difficulty: tuple[int, int], options: dict[str, Any], max_steps: int,
    seed: int = 1234, n_probe: int = 500, n_calib: int = 1000, min_steps: int = 1, device: str = "cpu",
) -> ExitRule:
    """``kl[:THRESHOLD]``, ``convergence[:THRESHOLD]`` or ``conformal[:ALPHA]`` -> an exit rule.

    The conformal rule is fitted and calibrated here on freshly generated instances of
    ``difficulty`` (seeds offset from ``seed``, so disjoint from test data made with ``seed``)."""
    name, _, value = spec.partition(":")
    try:
        number = float(value) if value else None
    except ValueError:
        raise DataError(f"--halt {spec!r}: {value!r} is not a number") from None
    if name in ("kl", "convergence"):
        return make_rule(name, number)
    if name != "conformal":
        raise DataError(f"--halt {spec!r}: rule must be kl, convergence or conformal")
    alpha = DEFAULT_ALPHA if number is None else number
    if not 0 < alpha < 1:
        raise DataError(f"--halt {spec!r}: alpha must be in (0, 1)")
    probe_records = task.generate(n_probe, seed + PROBE_SEED_OFFSET, difficulty, **options)
    calib_records = task.generate(n_calib, seed + CALIB_SEED_OFFSET, difficulty, **options)
    probe_feats, _ = record_records(model, task, probe_records, max_steps, seed + PROBE_SEED_OFFSET, device=device)
    calib_feats, _ = record_records(model, task, calib_records, max_steps, seed + CALIB_SEED_OFFSET, device=device)
    return calibrate_conformal(fit_probe(probe_feats, min_steps), calib_feats, alpha, min_steps)


def halting_summary(
    model: nn.Module, task: Any, records: list[dict], rule: ExitRule, max_steps: int, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Accuracy, mean steps and compute saved with per-example halting, overall and per difficulty."""
    from loopthink.evaluate import difficulty_keys, labels_of

    preds, steps, _ = halt_records(model, task, records, rule, max_steps, 1, seed, device=device)
    correct = (preds == torch.as_tensor(labels_of(task, records))).double()
    keys = np.array(difficulty_keys(task, records))
    by = {k: {"accuracy": float(correct[keys == k].mean()), "mean_steps": float(steps[keys == k].double().mean())}
          for k in sorted(set(keys.tolist()), key=bucket_order)}
    mean_steps = float(steps.double().mean())
    return {"rule": rule.describe(), "max_steps": max_steps, "accuracy": float(correct.mean()), "mean_steps": mean_steps,
            "compute_saved": 1 - mean_steps / max_steps, "by_difficulty": by}
