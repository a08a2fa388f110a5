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

import argparse
import json
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from loopthink.evaluate import bucket_order
from loopthink.model.core import SteppedModel
from loopthink.probe import fit_logistic
from loopthink.trajectory import Trajectory, decision_step, entropy, rollout, successive_kl

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


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]] if n else np.zeros(0, bool)
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]  # exclusive
    avg = (starts + 1 + ends) / 2.0
    ranks = np.empty(n)
    ranks[order] = avg[group]
    return ranks


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U); ties count 1/2. NaN when one class is empty."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = average_ranks(scores)
    return float((r[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), from (0, 0) to (1, 1), one point per distinct score."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    rx, ry = average_ranks(x), average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


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
    def concat(parts: list["Summaries"]) -> "Summaries":
        return Summaries(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Summaries)))

    def subset(self, idx: np.ndarray) -> "Summaries":
        return Summaries(*(getattr(self, f.name)[idx] for f in fields(Summaries)))


def _check_model(model: Any) -> None:
    if not isinstance(model, SteppedModel):
        from loopthink.checkpoint import RunError

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
    from loopthink.evaluate import difficulty_keys

    _check_model(model)
    if not records:
        from loopthink.tasks import DataError

        raise DataError("no examples to diagnose")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    identical = model.deterministic_init()
    order = sorted(range(len(records)), key=lambda i: len(str(records[i])))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="diagnose", leave=False)
    N, T, K = len(records), steps, runs
    arrays = {
        "commitment": np.zeros((N, T + 1)), "rel_change": np.zeros((N, T)), "kl": np.zeros((N, T)),
        "entropy": np.zeros((N, T)), "max_prob": np.zeros((N, T)), "lens": np.zeros((N, T)),
        "majority": np.zeros((N, T), dtype=np.int64), "agreement": np.zeros((N, T)), "decision": np.zeros((N, K), dtype=np.int64),
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


def analyse(all_: Summaries, fit: Summaries, held: Summaries, t0: int | None = None) -> dict[str, Any]:
    """Everything in ``dynamics.json`` except the run's metadata."""
    T = all_.steps
    K = all_.decision.shape[1]
    final_correct = all_.majority[:, -1] == all_.labels
    dec_ex = all_.decision.mean(1)
    per_step = [
        {
            "step": t,
            "commitment": float(all_.commitment[:, t].mean()),
            "convergence": float(all_.rel_change[:, t - 1].mean()),
            "convergence_median": float(np.median(all_.rel_change[:, t - 1])),
            "kl": float(all_.kl[:, t - 1].mean()),
            "entropy": float(all_.entropy[:, t - 1].mean()),
            "max_prob": float(all_.max_prob[:, t - 1].mean()),
            "lens_accuracy": float(all_.lens[:, t - 1].mean()),
            "majority_accuracy": float((all_.majority[:, t - 1] == all_.labels).mean()),
            "consistency": float(all_.agreement[:, t - 1].mean()),
        }
        for t in range(1, T + 1)
    ]
    keys = sorted(set(all_.keys.tolist()), key=bucket_order)
    by_diff: dict[str, Any] = {}
    counts: dict[str, list[int]] = {}
    for k in keys:
        sel = all_.keys == k
        sub = all_.subset(sel)
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
        counts[k] = np.bincount(sub.decision.ravel(), minlength=T + 1)[1:].tolist()
    numeric = np.array([bucket_order(k)[0] == 0 for k in all_.keys.tolist()])
    diffs = np.array([int(k) if n else 0 for k, n in zip(all_.keys.tolist(), numeric)], dtype=np.float64)
    num_keys = [k for k in keys if bucket_order(k)[0] == 0]
    # robust growth: least-squares slope through the per-difficulty MEDIANS (a few examples whose
    # answer flips late, e.g. overthinking, would dominate a fit through the means)
    slope = float(np.polyfit([int(k) for k in num_keys], [by_diff[k]["decision_step_median"] for k in num_keys], 1)[0]) if len(num_keys) > 1 else float("nan")
    commit_T = all_.commitment[:, -1]
    sep = auroc(commit_T, final_correct)
    split = {
        "n_correct": int(final_correct.sum()),
        "n_wrong": int((~final_correct).sum()),
        "commitment_correct": _mean(commit_T[final_correct]),
        "commitment_wrong": _mean(commit_T[~final_correct]),
        "consistency_correct": _mean(all_.agreement[final_correct, -1]),
        "consistency_wrong": _mean(all_.agreement[~final_correct, -1]),
        "auroc_commitment_for_correct": sep,
        "separates": (abs(sep - 0.5) >= SEPARATION_MARGIN) if not math.isnan(sep) else None,
        "separates_rule": f"|AUROC(final commitment -> correct) - 0.5| >= {SEPARATION_MARGIN}",
        "per_step_correct": all_.commitment[final_correct].mean(0).tolist() if final_correct.any() else None,
        "per_step_wrong": all_.commitment[~final_correct].mean(0).tolist() if (~final_correct).any() else None,
    }
    headline = t0 if t0 is not None else default_t0(fit)
    monitor: dict[str, Any] = {"t0": headline, "auroc": None, "target": TARGET, "features": list(FEATURES), "fit_n": len(fit), "heldout_n": len(held)}
    if T >= 2:
        per_t0 = [monitor_at(fit, held, t) for t in t0_grid(T, headline)]
        head = next(m for m in per_t0 if m["t0"] == headline)
        fpr, tpr = roc_curve(head["_score"], head["_target"])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).round().astype(int))
        monitor.update(
            auroc=head["auroc"],
            positive_rate_heldout=head["positive_rate_heldout"],
            feature_auroc=head["feature_auroc"],
            roc={"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
            per_t0=[{k: v for k, v in m.items() if not k.startswith("_")} for m in per_t0],
        )
    else:
        monitor["skipped"] = "needs --steps >= 2 (t0 must be below T)"
    return {
        "n": len(all_),
        "accuracy": float(final_correct.mean()),
        "consistency": float(all_.agreement[:, -1].mean()),
        "all_runs_agree_fraction": float((all_.agreement[:, -1] >= 1.0).mean()),
        "commitment_init": float(all_.commitment[:, 0].mean()),
        "commitment_final": float(commit_T.mean()),
        "per_step": per_step,
        "decision_step": {k: by_diff[k]["decision_step_mean"] for k in keys},
        "decision_step_stats": {
            "mean": float(dec_ex.mean()),
            "median": float(np.median(dec_ex)),
            "at_last_step_fraction": float((all_.decision == T).mean()),
            "slope_per_difficulty": slope,  # through the per-difficulty medians
            "spearman_with_difficulty": spearman(diffs[numeric], dec_ex[numeric]),
        },
        "decision_step_counts": counts,
        "by_difficulty": by_diff,
        "commitment_correct": split["commitment_correct"],
        "commitment_wrong": split["commitment_wrong"],
        "correctness_split": split,
        "monitor": monitor,
        "runs": K,
        "steps": T,
    }


def clean_json(x: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def summary_json(data: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` stdout object."""
    out = {
        "per_step": [{k: r[k] for k in ("step", "commitment", "convergence", "lens_accuracy")} for r in data["per_step"]],
        "decision_step": data["decision_step"],
        "monitor": {"t0": data["monitor"]["t0"], "auroc": data["monitor"]["auroc"]},
        "commitment_correct": data["commitment_correct"],
        "commitment_wrong": data["commitment_wrong"],
    }
    if data.get("note"):
        out["note"] = data["note"]
    return out


def summary_text(data: dict[str, Any]) -> str:
    name = data.get("difficulty_name", "difficulty")
    lines = []
    if data.get("note"):
        lines.append(f"note: {data['note']}")
    lines.append(f"{data['n']} examples x {data['runs']} runs x {data['steps']} steps; accuracy {data['accuracy']:.3f}, consistency {data['consistency']:.3f}")
    lines.append(f"{name:>12} {'n':>6} {'acc':>6} {'consist':>8} {'commit@T':>9} {'decision':>9}")
    for k, row in data["by_difficulty"].items():
        lines.append(f"{k:>12} {row['n']:>6} {row['accuracy']:>6.3f} {row['consistency']:>8.3f} {row['commitment_final']:>9.3f} {row['decision_step_mean']:>9.2f}")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    st = data["decision_step_stats"]
    lines.append(f"decision step vs {name}: Spearman {fmt(st['spearman_with_difficulty'])}, slope of medians {fmt(st['slope_per_difficulty'])} steps per unit")
    sp = data["correctness_split"]
    lines.append(
        f"commitment at T: correct {fmt(sp['commitment_correct'])} (n={sp['n_correct']}), wrong {fmt(sp['commitment_wrong'])} (n={sp['n_wrong']}),"
        f" AUROC {fmt(sp['auroc_commitment_for_correct'])}"
    )
    mon = data["monitor"]
    if mon.get("per_t0"):
        lines.append("monitor AUROC (held-out seed): " + ", ".join(f"t0={m['t0']}: {fmt(m['auroc'])}" for m in mon["per_t0"]) + f"  [headline t0={mon['t0']}]")
    return "\n".join(lines)


# ---- CLI ---------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from loopthink.argtypes import count, parse_range, seed, step_count

    p.add_argument("run", help="run directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", help="JSONL file to diagnose (the monitor is fitted on generated examples of --seed)")
    src.add_argument("--difficulty", type=parse_range, help="generate examples with hops/depth LO..HI (default: the training range)")
    p.add_argument("--steps", type=step_count, default=64, help="recurrence steps T (default 64)")
    p.add_argument("--runs", type=count, default=8, help="runs K from different random initial states (default 8)")
    p.add_argument("--n", type=count, default=None, help="examples (default 1000 generated; with --data: the whole file)")
    p.add_argument("--seed", type=seed, default=1234, help="seed of generated examples and initial states")
    p.add_argument("--t0", type=step_count, default=None, help="headline monitor step (default: one below the median decision step)")
    p.add_argument("--batch-size", type=count, default=32, help="examples per batch (x K rows; small batches stay in cache on CPU)")
    p.add_argument("--threads", type=count, default=None, help="torch CPU threads (default: torch's choice; 1 is fastest on a busy CPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output directory (dynamics.json + PNG/SVG pictures)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _split_seeds(seed: int) -> tuple[int, int]:
    """Seeds of the monitor's fit examples and of its held-out examples."""
    return seed, seed + 1_000_003


def run(args: argparse.Namespace) -> int:
    from loopthink.checkpoint import load_run
    from loopthink.tasks import DataError

    if args.steps < 1:
        raise DataError(f"--steps must be at least 1, got {args.steps}")
    if args.runs < 1:
        raise DataError(f"--runs must be at least 1, got {args.runs}")
    if args.n is not None and args.n < 2:
        raise DataError(f"--n must be at least 2, got {args.n}")
    if args.t0 is not None and not 1 <= args.t0 < args.steps:
        raise DataError(f"--t0 must be in 1..{args.steps - 1} (below --steps), got {args.t0}")
    if args.batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.threads is not None:
        if args.threads < 1:
            raise DataError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    cfg, model, task = load_run(args.run, args.device)
    opts = {**cfg.task.options, **cfg.eval.options}
    fit_seed, held_seed = _split_seeds(args.seed)
    progress = sys.stderr.isatty()
    kw = dict(steps=args.steps, runs=args.runs, batch_size=args.batch_size, device=args.device, progress=progress)
    if args.data:
        from loopthink.tasks.formats import read_jsonl

        name, records = read_jsonl(args.data)
        if name != task.name:
            raise DataError(f"{args.data} holds {name} instances but {args.run} was trained on {task.name}")
        records = records[: args.n] if args.n else records
        if len(records) < 2:
            raise DataError(f"{args.data}: need at least 2 examples")
        d = [int(v) for v in task.encode(records).difficulty.tolist() if v >= 1]
        rng = (min(d), max(d)) if d else tuple(cfg.task.train_difficulty)
        try:
            fit_records = task.generate(len(records), fit_seed, rng, **opts)
        except ValueError as e:
            raise DataError(f"cannot generate the monitor's fit examples over {task.difficulty_name} {rng[0]}..{rng[1]}: {e}") from None
        held = summarise(model, task, records, seed=held_seed, **kw)
        fit = summarise(model, task, fit_records, seed=fit_seed, **kw)
        all_ = held
        source = {"data": str(args.data), "monitor_fit": f"{len(fit_records)} generated examples, {task.difficulty_name} {rng[0]}..{rng[1]}, seed {fit_seed}", "monitor_heldout": "the data file"}
    else:
        lo, hi = args.difficulty or tuple(cfg.task.train_difficulty)
        n = args.n or 1000
        try:
            fit_records = task.generate(n // 2, fit_seed, (lo, hi), **opts)
            held_records = task.generate(n - n // 2, held_seed, (lo, hi), **opts)
        except ValueError as e:
            raise DataError(f"cannot generate {task.name} examples over {task.difficulty_name} {lo}..{hi}: {e}") from None
        fit = summarise(model, task, fit_records, seed=fit_seed, **kw)
        held = summarise(model, task, held_records, seed=held_seed, **kw)
        all_ = Summaries.concat([fit, held])
        rng = (lo, hi)
        source = {"difficulty": [lo, hi], "monitor_fit": f"{len(fit_records)} examples generated with seed {fit_seed}", "monitor_heldout": f"{len(held_records)} examples generated with seed {held_seed}"}
    data = analyse(all_, fit, held, args.t0)
    zeros = model.deterministic_init()
    note = None
    if zeros:
        note = "init_state is zeros: the K runs start from the same state and are identical (commitment = 1, consistency = 1); computed anyway"
    elif args.runs == 1:
        note = "--runs 1: commitment and consistency are 1 by definition"
    meta = {
        "run": str(args.run), "task": task.name, "difficulty_name": task.difficulty_name, "seed": args.seed,
        "init_state": cfg.model.init_state, "init_scale": cfg.model.init_scale, "identical_runs": bool(zeros or args.runs == 1),
        "note": note, **source,
        "definitions": {
            "convergence": "||h_t - h_{t-1}|| / ||h_{t-1}|| over real tokens at step t, mean over runs, then examples",
            "kl": "KL(p_t || p_{t-1}) of successive readouts (step 1 vs uniform), mean over runs, then examples",
            "commitment": "mean pairwise cosine similarity of the K runs' token-averaged states (Trajectory.mean_state) at step t (0 = initial state); identical states count 1",
            "consistency": "fraction of the K runs whose answer equals the majority answer (ties -> lowest class index)",
            "decision_step": "per run, the first step after which the prediction never changes within T; example = mean over runs",
            "lens_accuracy": "accuracy of the readout applied after step t, over examples x runs",
            "correct": "the majority answer of the K runs at T equals the label",
            "monitor_target": TARGET,
        },
    }
    data = clean_json({**meta, **data})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dynamics.json").write_text(json.dumps(data, indent=1))
    from loopthink.plots.dynamics import plot_all

    written = plot_all(data, out)
    if args.json:
        print(json.dumps(summary_json(data)))
    else:
        print(summary_text(data))
        print(f"\nwrote {out}/dynamics.json, " + ", ".join(p.name for p in written if p.suffix == ".png"))
    return 0
