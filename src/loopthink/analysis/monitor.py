"""The early-error monitor: at an early step t0, features of the K runs (commitment, log relative
change, readout entropy, max probability, log KL at t0; each averaged over the runs) feed a
logistic regression predicting :data:`TARGET` (the answer is *unstable*). It is fitted on the
examples of one seed and scored (AUROC) on examples generated with another.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopthink.analysis.stats import auroc, fit_logistic, roc_curve
from loopthink.analysis.summaries import Summaries

FEATURES = ("commitment", "log_rel_change", "entropy", "max_prob", "log_kl")
TARGET = "majority prediction at t0 != majority prediction at T, or the K runs disagree at T"


def monitor_features(s: Summaries, t0: int) -> np.ndarray:
    """(N, 5) features available after t0 steps, in :data:`FEATURES` order."""
    i = t0 - 1
    return np.stack(
        [s.commitment[:, t0], np.log(s.rel_change[:, i] + 1e-8), s.entropy[:, i], s.max_prob[:, i], np.log(s.kl[:, i] + 1e-8)], axis=1
    )


def monitor_target(s: Summaries, t0: int) -> np.ndarray:
    """1 = unstable: majority answer at t0 != majority at T, or the K runs disagree at T."""
    return ((s.majority[:, t0 - 1] != s.majority[:, -1]) | (s.agreement[:, -1] < 1.0)).astype(np.int64)


def default_t0(s: Summaries) -> int:
    """One step below the median decision step, in [1, T-1].

    The median is over the runs whose answer changes at least once (decision step > 1; over all
    runs if none does): an answer that never changes carries no timing, and on graph
    reachability the unreachable half (answer "unreachable" from step 1) would pull the median
    down to 1."""
    dec = s.decision.ravel()
    moving = dec[dec > 1]
    med = float(np.median(moving if len(moving) else dec))
    return int(min(max(1, math.floor(med) - 1), max(1, s.steps - 1)))


def t0_grid(T: int, headline: int) -> list[int]:
    grid = {t for t in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if t < T}
    return sorted(grid | {headline})


def monitor_at(fit: Summaries, held: Summaries, t0: int, l2: float = 1e-3) -> dict[str, Any]:
    Xf, yf = monitor_features(fit, t0), monitor_target(fit, t0)
    Xh, yh = monitor_features(held, t0), monitor_target(held, t0)
    model = fit_logistic(Xf, yf, l2=l2)
    score = model.decision_function(Xh)
    return {
        "t0": t0,
        "auroc": auroc(score, yh),
        "positive_rate_fit": float(yf.mean()),
        "positive_rate_heldout": float(yh.mean()),
        "feature_auroc": {name: auroc(Xh[:, j], yh) for j, name in enumerate(FEATURES)},
        "weights": {name: float(w) for name, w in zip(FEATURES, model.weight)},
        "bias": model.bias,
        "_score": score,
        "_target": yh,
    }


def monitor(fit: Summaries, held: Summaries, t0: int | None = None) -> dict[str, Any]:
    """The early-warning monitor: fitted on ``fit``, scored on ``held``, at every t0 of
    :func:`t0_grid`; the headline t0 (default :func:`default_t0`) with its ROC curve."""
    T = fit.steps
    headline = t0 if t0 is not None else default_t0(fit)
    out: dict[str, Any] = {
        "t0": headline,
        "auroc": None,
        "target": TARGET,
        "features": list(FEATURES),
        "fit_n": len(fit),
        "heldout_n": len(held),
    }
    if T < 2:
        out["skipped"] = "needs --steps >= 2 (t0 must be below T)"
        return out
    per_t0 = [monitor_at(fit, held, t) for t in t0_grid(T, headline)]
    head = next(m for m in per_t0 if m["t0"] == headline)
    fpr, tpr = roc_curve(head["_score"], head["_target"])
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).round().astype(int))
    out.update(
        auroc=head["auroc"],
        positive_rate_heldout=head["positive_rate_heldout"],
        feature_auroc=head["feature_auroc"],
        roc={"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
        per_t0=[{k: v for k, v in m.items() if not k.startswith("_")} for m in per_t0],
    )
    return out
