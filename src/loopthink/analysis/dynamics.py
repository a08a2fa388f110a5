"""Latent dynamics of a trained run: convergence, decision step, commitment, logit lens, monitor.

For every example the model runs ``K`` times from ``K`` different random initial states for ``T``
steps, reduced to per-example summaries (:mod:`loopthink.analysis.summaries`). Definitions (all
per example, averaged over examples unless stated):

* **convergence** at step t (1..T): ``||h_t - h_{t-1}|| / ||h_{t-1}||`` over real tokens
  (``Trajectory.rel_change``), and ``KL(p_t || p_{t-1})`` between successive readouts (step 1
  against the uniform distribution), both averaged over the K runs.
* **decision step** of a run: the first step after which its predicted answer never changes
  again within T (``trajectory.decision_step``; T means "changed at the last step"). An example's
  decision step is the mean over its K runs; per difficulty the mean over examples.
* **commitment** at step t (0..T): the mean pairwise cosine similarity between the K runs'
  states, where a run's state is ``Trajectory.mean_state`` (the state averaged over the example's
  real tokens). Runs whose states are all identical count as 1 (zeros init). 1 = the runs that
  started in different places have settled on the same state.
* **consistency**: fraction of the K runs whose answer agrees with the majority answer (ties go to
  the lowest class index); an example is answered **correctly** when its majority answer is right.
* **logit lens**: the readout applied after every step; accuracy per step over examples x runs.
* **monitor**: at an early step t0, features (commitment at t0, log relative change at t0, readout
  entropy at t0, max probability at t0, log KL at t0; each averaged over the K runs) feed a
  logistic regression predicting the target *unstable*: "the majority prediction at t0 differs
  from the majority prediction at T, or the K runs disagree at T". It is fitted on examples from
  one seed and scored (AUROC) on examples generated with another seed
  (:mod:`loopthink.analysis.monitor`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopthink.analysis.accuracy import bucket_order
from loopthink.analysis.monitor import monitor
from loopthink.analysis.stats import auroc, spearman
from loopthink.analysis.summaries import Summaries

SEPARATION_MARGIN = 0.1  # |AUROC - 0.5| at least this much: commitment "separates" right from wrong


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if len(x) else None


def per_step_means(s: Summaries) -> list[dict[str, Any]]:
    """One row per step t = 1..T: every per-step quantity averaged over examples."""
    return [
        {
            "step": t,
            "commitment": float(s.commitment[:, t].mean()),
            "convergence": float(s.rel_change[:, t - 1].mean()),
            "convergence_median": float(np.median(s.rel_change[:, t - 1])),
            "kl": float(s.kl[:, t - 1].mean()),
            "entropy": float(s.entropy[:, t - 1].mean()),
            "max_prob": float(s.max_prob[:, t - 1].mean()),
            "lens_accuracy": float(s.lens[:, t - 1].mean()),
            "majority_accuracy": float((s.majority[:, t - 1] == s.labels).mean()),
            "consistency": float(s.agreement[:, t - 1].mean()),
        }
        for t in range(1, s.steps + 1)
    ]


def by_difficulty(s: Summaries) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """(per difficulty bucket: accuracy, consistency, commitment and decision-step statistics and
    curves; per bucket: how many runs decided at each step 1..T)."""
    final_correct = s.majority[:, -1] == s.labels
    dec_ex = s.decision.mean(1)
    by_diff: dict[str, Any] = {}
    counts: dict[str, list[int]] = {}
    for k in sorted(set(s.keys.tolist()), key=bucket_order):
        sel = s.keys == k
        sub = s.subset(sel)
        by_diff[k] = {
            "n": int(sel.sum()),
            "accuracy": float(final_correct[sel].mean()),
            "consistency": float(sub.agreement[:, -1].mean()),
            "commitment_final": float(sub.commitment[:, -1].mean()),
            "decision_step_mean": float(dec_ex[sel].mean()),
            "decision_step_median": float(np.median(dec_ex[sel])),
            "decision_step_std": float(sub.decision.std()),
            "decision_step_sem": float(dec_ex[sel].std(ddof=1) / math.sqrt(sel.sum())) if sel.sum() > 1 else 0.0,
            "commitment": sub.commitment.mean(0).tolist(),
            "convergence": sub.rel_change.mean(0).tolist(),
            "kl": sub.kl.mean(0).tolist(),
            "lens_accuracy": sub.lens.mean(0).tolist(),
        }
        counts[k] = np.bincount(sub.decision.ravel(), minlength=s.steps + 1)[1:].tolist()
    return by_diff, counts


def decision_growth(s: Summaries, by_diff: dict[str, Any]) -> dict[str, float]:
    """How the decision step grows with difficulty: the slope through the per-difficulty medians
    and the Spearman correlation over examples (numeric buckets only)."""
    dec_ex = s.decision.mean(1)
    numeric = np.array([bucket_order(k)[0] == 0 for k in s.keys.tolist()])
    diffs = np.array([int(k) if n else 0 for k, n in zip(s.keys.tolist(), numeric)], dtype=np.float64)
    num_keys = [k for k in by_diff if bucket_order(k)[0] == 0]
    # robust growth: least-squares slope through the per-difficulty MEDIANS (a few examples whose
    # answer flips late, e.g. overthinking, would dominate a fit through the means)
    medians = [by_diff[k]["decision_step_median"] for k in num_keys]
    slope = float(np.polyfit([int(k) for k in num_keys], medians, 1)[0]) if len(num_keys) > 1 else float("nan")
    return {"slope": slope, "spearman": spearman(diffs[numeric], dec_ex[numeric])}


def correctness_split(s: Summaries) -> dict[str, Any]:
    """Commitment and consistency at T of right versus wrong answers, and whether final commitment
    separates them (AUROC at least :data:`SEPARATION_MARGIN` away from 0.5)."""
    final_correct = s.majority[:, -1] == s.labels
    commit_T = s.commitment[:, -1]
    sep = auroc(commit_T, final_correct)
    return {
        "n_correct": int(final_correct.sum()),
        "n_wrong": int((~final_correct).sum()),
        "commitment_correct": _mean(commit_T[final_correct]),
        "commitment_wrong": _mean(commit_T[~final_correct]),
        "consistency_correct": _mean(s.agreement[final_correct, -1]),
        "consistency_wrong": _mean(s.agreement[~final_correct, -1]),
        "auroc_commitment_for_correct": sep,
        "separates": (abs(sep - 0.5) >= SEPARATION_MARGIN) if not math.isnan(sep) else None,
        "separates_rule": f"|AUROC(final commitment -> correct) - 0.5| >= {SEPARATION_MARGIN}",
        "per_step_correct": s.commitment[final_correct].mean(0).tolist() if final_correct.any() else None,
        "per_step_wrong": s.commitment[~final_correct].mean(0).tolist() if (~final_correct).any() else None,
    }


def analyse(all_: Summaries, fit: Summaries, held: Summaries, t0: int | None = None) -> dict[str, Any]:
    """Everything in ``dynamics.json`` except the run's metadata."""
    T = all_.steps
    final_correct = all_.majority[:, -1] == all_.labels
    dec_ex = all_.decision.mean(1)
    by_diff, counts = by_difficulty(all_)
    growth = decision_growth(all_, by_diff)
    split = correctness_split(all_)
    return {
        "n": len(all_),
        "accuracy": float(final_correct.mean()),
        "consistency": float(all_.agreement[:, -1].mean()),
        "all_runs_agree_fraction": float((all_.agreement[:, -1] >= 1.0).mean()),
        "commitment_init": float(all_.commitment[:, 0].mean()),
        "commitment_final": float(all_.commitment[:, -1].mean()),
        "per_step": per_step_means(all_),
        "decision_step": {k: v["decision_step_mean"] for k, v in by_diff.items()},
        "decision_step_stats": {
            "mean": float(dec_ex.mean()),
            "median": float(np.median(dec_ex)),
            "at_last_step_fraction": float((all_.decision == T).mean()),
            "slope_per_difficulty": growth["slope"],  # through the per-difficulty medians
            "spearman_with_difficulty": growth["spearman"],
        },
        "decision_step_counts": counts,
        "by_difficulty": by_diff,
        "commitment_correct": split["commitment_correct"],
        "commitment_wrong": split["commitment_wrong"],
        "correctness_split": split,
        "monitor": monitor(fit, held, t0),
        "runs": all_.decision.shape[1],
        "steps": T,
    }
