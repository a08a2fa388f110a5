"""Exit rules: each decides, per example, whether to stop after the current step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from loopthink.analysis.halting.features import FEATURES, StepFeatures
from loopthink.analysis.stats import fit_logistic

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
    def fit(cls, x: torch.Tensor, y: torch.Tensor, l2: float = 1e-4, iters: int = 200) -> LogisticProbe:
        """Fit on rows ``x`` (N, F) with 0/1 targets ``y`` (N,): mean log-loss + l2 |w|^2."""
        m = fit_logistic(x.double().cpu().numpy(), y.double().cpu().numpy(), l2=2 * l2, max_iter=iters)
        return cls(m.weight.tolist(), m.bias, m.mean.tolist(), m.std.tolist())

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "weight": self.weight, "bias": self.bias, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticProbe:
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
            "rule": self.name,
            "alpha": self.alpha,
            "lambda": num(self.lam),
            "lambda_prob": num(1 / (1 + math.exp(-self.lam))) if math.isfinite(self.lam) else None,
            "calibration": self.calibration,
            "probe": self.probe.to_dict(),
        }


def num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def make_rule(name: str, threshold: float | None = None) -> ExitRule:
    """A KL or convergence rule by name (the conformal rule needs :func:`calibrate_conformal`)."""
    if name == "kl":
        return KLRule(KL_THRESHOLD if threshold is None else threshold)
    if name == "convergence":
        return ConvergenceRule(CONVERGENCE_THRESHOLD if threshold is None else threshold)
    raise ValueError(f"unknown rule {name!r}")
