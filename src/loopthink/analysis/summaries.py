"""K rollouts of every example reduced to compact per-example summaries (:class:`Summaries`): the
input of the dynamics analysis (:mod:`loopthink.analysis.dynamics`, which defines each quantity).

For every example the model runs ``K`` times from ``K`` different random initial states (one
seeded ``torch.Generator``; the K copies of a batch are stacked along dim 0 and run as one batch)
for ``T`` steps. Only compact per-example summaries are kept, never the (T, B, L, d) trajectory.

For a task answered at every position, an answer is the vector of the predictions at the labelled
positions (:mod:`loopthink.analysis.answers_over_steps`): it is right when all are, it changes when
any does, and ``majority`` / ``labels`` hold per-instance answer ids (equal ids = equal answers;
``labels`` the right answer's id) so that everything downstream compares answers as it compares
class indices. KL and entropy are the max over those positions, max_prob the min.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from loopthink.analysis.accuracy import difficulty_keys
from loopthink.analysis.answers_over_steps import answer_ids, answer_of, least_sure
from loopthink.analysis.trajectory import Trajectory, decision_step, entropy, rollout, successive_kl
from loopthink.model.core import SteppedModel
from loopthink.tasks import IGNORE, DataError
from loopthink.training.rundir import RunError


# ---- metrics on tensors ------------------------------------------------------------------------
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

    labels: np.ndarray  # (N,) the label (per position: the right answer's id)
    keys: np.ndarray  # (N,) difficulty bucket (str)
    commitment: np.ndarray  # (N, T+1) steps 0..T
    rel_change: np.ndarray  # (N, T) mean over runs
    kl: np.ndarray  # (N, T) mean over runs
    entropy: np.ndarray  # (N, T) mean over runs
    max_prob: np.ndarray  # (N, T) mean over runs
    lens: np.ndarray  # (N, T) fraction of runs whose readout is right
    majority: np.ndarray  # (N, T) majority answer (per position: its answer id)
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
    """Run ``runs`` copies of a batch (stacked run-major along dim 0) and reduce to per-example arrays
    (``labels`` among them: per position, the right answer's id).

    ``identical``: the initial state is deterministic (zeros init), so the K runs are the same
    rollout; it is computed once and repeated (same numbers, K times less work)."""
    B = int(labels.shape[0])
    T, K = steps, runs
    traj = _runs(model, inputs, steps, runs, generator, identical)
    logits = traj.step_logits.float()
    logp = F.log_softmax(logits, dim=-1)
    mask = None if labels.ndim == 1 else (labels != IGNORE).repeat(K, 1)  # (K*B, L): the answer positions
    per_run = lambda x: x.reshape(T, K, B).double().mean(1).T  # noqa: E731 (T, K*B) -> (B, T)
    answers = answer_of(logits, mask)  # (T, K*B[, L])
    preds, label_ids, n_ids = answer_ids(answers.reshape(T, K, B, *answers.shape[2:]), labels, num_classes)
    maj, agree = majority_vote(preds.transpose(0, 1), n_ids)  # (T, B)
    d = traj.mean_state.shape[-1]
    commit = mean_pairwise_cosine(traj.mean_state.reshape(T + 1, K, B, d).transpose(0, 1))  # (T+1, B)
    out = {
        "labels": label_ids,
        "commitment": commit.T,
        "rel_change": per_run(traj.rel_change),
        "kl": per_run(successive_kl(logits, mask)),
        "entropy": per_run(entropy(logits, mask)),
        "max_prob": per_run(least_sure(logp.max(-1).values.exp(), mask)),
        "lens": per_run((preds == label_ids.view(1, 1, B)).reshape(T, K * B)),
        "majority": maj.T,
        "agreement": agree.T,
        "decision": decision_step(preds.reshape(T, K * B)).reshape(K, B).T,
    }
    return {k: v.cpu().numpy() for k, v in out.items()}


def _runs(
    model: Any, inputs: dict[str, torch.Tensor], steps: int, runs: int, generator: torch.Generator | None, identical: bool
) -> Trajectory:
    """The rollouts of ``runs`` copies of a batch, stacked run-major along the batch dimension."""
    if identical:
        one = rollout(model, inputs, steps, generator=generator)
        return Trajectory(
            *(x.repeat(1, runs, *([1] * (x.dim() - 2))) for x in (one.step_logits, one.pooled, one.rel_change, one.mean_state))
        )
    rep = {k: v.repeat(runs, *([1] * (v.dim() - 1))) for k, v in inputs.items()}
    return rollout(model, rep, steps, generator=generator)


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
    arrays = _empty_arrays(len(records), steps, runs)
    for chunk in chunks:
        batch = task.encode([records[i] for i in chunk]).to(device)
        part = summarise_batch(model, batch.inputs, batch.labels, steps, runs, task.num_classes, gen, identical)
        for k, v in part.items():
            arrays[k][chunk] = v
    return Summaries(keys=np.array(difficulty_keys(task, records), dtype=object), **arrays)


def _empty_arrays(N: int, T: int, K: int) -> dict[str, np.ndarray]:
    """Zeroed per-example arrays of :class:`Summaries` (all but keys)."""
    shapes: dict[str, tuple[int, ...]] = {"labels": (), "commitment": (T + 1,), "decision": (K,)}
    ints = ("labels", "majority", "decision")
    names = ("labels", "commitment", "rel_change", "kl", "entropy", "max_prob", "lens", "majority", "agreement", "decision")
    return {k: np.zeros((N, *shapes.get(k, (T,))), dtype=np.int64 if k in ints else np.float64) for k in names}
