"""How an answer is scored, for the two kinds of task: one answer per instance (logits (B, C),
labels (B,)) or one per position (logits (B, L, C), labels (B, L) with ``IGNORE`` where a position
carries none). Training's loss and every metric read answers through these three functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from loopthink.tasks import IGNORE


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over instances (:func:`instance_cross_entropy`)."""
    if labels.ndim == 1:
        return F.cross_entropy(logits.float(), labels)
    return instance_cross_entropy(logits, labels).mean()


def instance_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B,) cross-entropy per instance. Per position: the mean over the instance's labelled
    positions, so every instance weighs the same whatever its size (and micro-batches of any size,
    weighted by their share of instances, give the whole batch's loss)."""
    if labels.ndim == 1:
        return F.cross_entropy(logits.float(), labels, reduction="none")
    per_position = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
    return per_position.sum(1) / (labels != IGNORE).sum(1).clamp(min=1)


def correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """bool (B,): the instance is answered right; per position, every labelled position is (exact match)."""
    hits = logits.argmax(-1) == labels
    return hits if labels.ndim == 1 else (hits | (labels == IGNORE)).all(1)


def position_hits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(right positions, labelled positions) per instance, long (B,) each: per-position accuracy's parts."""
    labelled = labels != IGNORE
    return ((logits.argmax(-1) == labels) & labelled).sum(1), labelled.sum(1)
