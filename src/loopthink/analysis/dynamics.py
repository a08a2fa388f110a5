"""Latent dynamics of a trained run: convergence, decision step, commitment, logit lens, monitor.

For every example the model runs ``K`` times from ``K`` different random initial states (one
seeded ``torch.Generator``; the K copies of a batch are stacked along dim 0 and run as one batch)
for ``T`` steps. Only compact per-example summaries are kept (:class:`Summaries`), never the
(T, B, L, d) trajectory. Definitions (all per example, averaged over examples unless stated):

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
  one seed and scored (AUROC) on examples generated with another seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from loopthink.analysis.accuracy import bucket_order, difficulty_keys
from loopthink.analysis.stats import auroc, fit_logistic, roc_curve, spearman
from loopthink.analysis.trajectory import Trajectory, decision_step, entropy, rollout, successive_kl
from loopthink.checkpoint import RunError
from loopthink.model.core import SteppedModel
from loopthink.tasks import DataError

FEATURES = ("commitment", "log_rel_change", "entropy", "max_prob", "log_kl")
TARGET = "majority prediction at t0 != majority prediction at T, or the K runs disagree at T"
SEPARATION_MARGIN = 0.1  # |AUROC - 0.5| at least this much: commitment "separates" right from wrong


# ---- metrics on tensors / arrays ---------------------------------------------------------------
def mean_pairwise_cosine(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean cosine similarity over the K(K-1) ordered pairs of runs; ``x`` is (K, ..., d) -> (...).

    K = 1, or all K states identical (e.g. all zero), gives 1. A zero state among non-zero ones
    has cosine 0 with them.
    """
    K = x.shape[0]
    x = x.double()
    if K < 2:
        return torch.ones(x.shape[1:-1], dtype=torch.float64)
    u = x / x.norm(dim=-1, keepdim=True).clamp(min=eps)
    s = u.sum(0)
    total = (s * s).sum(-1) - (u * u).sum(-1).sum(0)
    cos = total / (K * (K - 1))
    scale = 1.0 + x.abs().amax(dim=(0, -1))
    same = (x - x[:1]).abs().amax(dim=(0, -1)) <= 1e-9 * scale
    return torch.where(same, torch.ones_like(cos), cos).clamp(-1.0, 1.0)


def majority_vote(preds: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``preds`` (K, ...) class indices -> (majority class, fraction of runs agreeing with it).

    Ties go to the lowest class index."""
    counts = F.one_hot(preds.long(), num_classes).sum(0)  # (..., C)
    top = counts.max(-1)
    return counts.argmax(-1), top.values.double() / preds.shape[0]


# ---- rollouts -> compact per-example summaries --------------------------------------------------
@dataclass
class Summaries:
    """Per-example summaries of K runs x T steps (N examples). Step t of an (N, T) array is column t-1."""

    labels: np.ndarray  # (N,)
    keys: np.ndarray  # (N,) difficulty bucket (str)
    commitment: np.ndarray  # (N, T+1) steps 0..T
    rel_change: np.ndarray  # (N, T) mean over runs
    kl: np.ndarray  # (N, T) mean over runs
    entropy: np.ndarray  # (N, T) mean over runs
    max_prob: np.ndarray  # (N, T) mean over runs
    lens: np.ndarray  # (N, T) fraction of runs whose readout is right
    majority: np.ndarray  # (N, T) majority answer
    agreement: np.ndarray  # (N, T) fraction of runs agreeing with the majority
    decision: np.ndarray  # (N, K) decision step of every run

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def steps(self) -> int:
        return self.rel_change.shape[1]

    @staticmethod
    def concat(parts: list[Summaries]) -> Summaries:
        return Summaries(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Summaries)))

    def subset(self, idx: np.ndarray) -> Summaries:
        return Summaries(*(getattr(self, f.name)[idx] for f in fields(Summaries)))


def _check_model(model: Any) -> None:
    if not isinstance(model, SteppedModel):
        raise RunError(f"diagnose needs a model that runs step by step (a SteppedModel); this run's model is a {type(model).__name__}")


@torch.no_grad()
def summarise_batch(
    model: Any,
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    steps: int,
    runs: int,
    num_classes: int,
    generator: torch.Generator | None,
    identical: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``runs`` copies of a batch (stacked run-major along dim 0) and reduce to per-example arrays.

    ``identical``: the initial state is deterministic (zeros init), so the K runs are the same
    rollout; it is computed once and repeated (same numbers, K times less work)."""
    B = int(labels.shape[0])
    T, K = steps, runs
    if identical:
        one = rollout(model, inputs, steps, generator=generator)
        traj = Trajectory(*(x.repeat(1, K, *([1] * (x.dim() - 2))) for x in (one.step_logits, one.pooled, one.rel_change, one.mean_state)))
    else:
        rep = {k: v.repeat(K, *([1] * (v.dim() - 1))) for k, v in inputs.items()}
        traj = rollout(model, rep, steps, generator=generator)
    logits = traj.step_logits.float()
    logp = F.log_softmax(logits, dim=-1)
    per_run = lambda x: x.reshape(T, K, B).double().mean(1).T  # noqa: E731 (T, K*B) -> (B, T)
    preds = logits.argmax(-1).reshape(T, K, B)
    maj, agree = majority_vote(preds.transpose(0, 1), num_classes)  # (T, B)
    d = traj.mean_state.shape[-1]
    commit = mean_pairwise_cosine(traj.mean_state.reshape(T + 1, K, B, d).transpose(0, 1))  # (T+1, B)
    out = {
        "commitment": commit.T,
        "rel_change": per_run(traj.rel_change),
        "kl": per_run(successive_kl(logits)),
        "entropy": per_run(entropy(logits)),
        "max_prob": per_run(logp.max(-1).values.exp()),
        "lens": per_run((preds == labels.view(1, 1, B)).reshape(T, K * B)),
        "majority": maj.T,
        "agreement": agree.T,
        "decision": decision_step(preds.reshape(T, K * B)).reshape(K, B).T,
    }
    return {k: v.cpu().numpy() for k, v in out.items()}


def summarise(
    model: Any,
    task: Any,
    records: list[dict],
    steps: int,
    runs: int,
    seed: int,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> Summaries:
    """:class:`Summaries` of ``records``: K runs from a ``torch.Generator`` seeded with ``seed``.

    Records are batched by size (similar paddings together); the initial states are drawn from
    one generator in batch order, so they are reproducible for the same records, seed and batch
    size."""
    _check_model(model)
    if not records:
        raise DataError("no examples to diagnose")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    identical = model.deterministic_init()
    order = sorted(range(len(records)), key=lambda i: len(str(records[i])))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        chunks = tqdm(chunks, desc="diagnose", leave=False)
    N, T, K = len(records), steps, runs
    arrays = {
        "commitment": np.zeros((N, T + 1)),
        "rel_change": np.zeros((N, T)),
        "kl": np.zeros((N, T)),
        "entropy": np.zeros((N, T)),
        "max_prob": np.zeros((N, T)),
        "lens": np.zeros((N, T)),
        "majority": np.zeros((N, T), dtype=np.int64),
        "agreement": np.zeros((N, T)),
        "decision": np.zeros((N, K), dtype=np.int64),
    }
    labels = np.zeros(N, dtype=np.int64)
    for chunk in chunks:
        batch = task.encode([records[i] for i in chunk]).to(device)
        part = summarise_batch(model, batch.inputs, batch.labels, steps, runs, task.num_classes, gen, identical)
        for k, v in part.items():
            arrays[k][chunk] = v
        labels[chunk] = batch.labels.cpu().numpy()
    return Summaries(labels=labels, keys=np.array(difficulty_keys(task, records), dtype=object), **arrays)


# ---- analysis ----------------------------------------------------------------------------------
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
