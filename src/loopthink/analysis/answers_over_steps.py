"""An instance's answer over the steps of a rollout, for both kinds of task: the one place where
halting (:mod:`loopthink.analysis.halting`) and the dynamics diagnostics read answers.

* Answered once per instance: logits (..., B, C), an answer is a class index (..., B).
* Answered at every position: logits (..., B, L, C), an answer is the vector of its per-position
  predictions (..., B, L), :data:`IGNORE` outside the answer positions ``mask`` (B, L) (the real
  tokens; ``diagnose``, which knows the labels, reads the labelled ones). It is **correct** when
  every labelled position is (exact match, as :func:`loopthink.model.answers.correct`) and it
  **changed** when any position did.

Functions taking ``dims`` read everything after the first ``dims`` dimensions (steps, runs,
instances) as one answer; where nothing follows (once per instance) they compute what a plain
comparison does. Per-step signals reduce per position to per instance conservatively: a
divergence (KL, entropy) by the **max** over the answer positions, a confidence by the **min**.
``mask`` is None for a task answered once per instance: the signal passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from loopthink.tasks import IGNORE


def positions_of(step_logits: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor | None:
    """The answer positions of one step's readout: ``token_mask`` (B, L) when the logits are per
    position (B, L, C), None when they are one answer per instance (B, C)."""
    return token_mask if token_mask is not None and step_logits.ndim == token_mask.ndim + 1 else None


def answer_of(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The answer per instance: argmax (..., B), or per position (..., B, L) with :data:`IGNORE`
    outside ``mask`` (B, L), which broadcasts over the leading dimensions."""
    pred = logits.argmax(-1)
    return pred if mask is None else torch.where(mask, pred, torch.full_like(pred, IGNORE))


def _aligned(a: torch.Tensor, b: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position answers padded (with :data:`IGNORE`) to one width; others as they are."""
    if a.ndim <= dims or a.shape[-1] == b.shape[-1]:
        return a, b
    width = max(a.shape[-1], b.shape[-1])
    return (F.pad(x, (0, width - x.shape[-1]), value=IGNORE) for x in (a, b))  # type: ignore[return-value]


def differ(a: torch.Tensor, b: torch.Tensor, dims: int) -> torch.Tensor:
    """bool, the first ``dims`` dimensions (broadcast): the answers differ (at any position)."""
    a, b = _aligned(a, b, dims)
    d = a != b
    return d if d.ndim <= dims else d.flatten(dims).any(-1)


def correct(answers: torch.Tensor, labels: torch.Tensor, dims: int) -> torch.Tensor:
    """bool, the first ``dims`` dimensions (broadcast): the answer is right (per position: every
    labelled position is, exact match)."""
    a, y = _aligned(answers, labels, dims)
    if a.ndim <= dims:
        return a == y
    return ((a == y) | (y == IGNORE)).flatten(dims).all(-1)


def position_hits(answers: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """(right labelled positions, labelled positions) over all instances of per-position answers."""
    a, y = _aligned(answers, labels, answers.ndim - 1)
    labelled = y != IGNORE
    return int(((a == y) & labelled).sum()), int(labelled.sum())


def answer_at(answers: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Each instance's answer at its own step: ``answers`` (T, B, ...), ``steps`` (B,) 1-based -> (B, ...)."""
    return answers[steps - 1, torch.arange(answers.shape[1], device=answers.device)]


def worst_max(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A non-negative divergence (..., B[, L]) per instance: its max over the answer positions."""
    return x if mask is None else (x * mask.to(x.dtype)).amax(-1)


def least_sure(max_prob: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A confidence (the readout's largest probability, (..., B[, L])) per instance: its min over
    the answer positions (the least sure one)."""
    return max_prob if mask is None else torch.where(mask, max_prob, torch.ones_like(max_prob)).amin(-1)


def cat_answers(parts: Sequence[torch.Tensor], dim: int) -> torch.Tensor:
    """Answers of several batches joined along ``dim``; per-position ones first padded (with
    :data:`IGNORE`) to the widest batch's width."""
    if parts[0].ndim <= dim + 1:
        return torch.cat(list(parts), dim=dim)
    width = max(p.shape[-1] for p in parts)
    return torch.cat([F.pad(p, (0, width - p.shape[-1]), value=IGNORE) for p in parts], dim=dim)


def place_rows(n: int, chunks: Sequence[Sequence[int]], parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """(n, ...) long: the rows of ``parts[i]`` at indices ``chunks[i]`` (answers of batches back in
    record order; per-position ones padded with :data:`IGNORE`)."""
    if not parts:
        return torch.zeros(n, dtype=torch.long)
    if parts[0].ndim == 1:
        out = torch.zeros(n, dtype=torch.long)
    else:
        out = torch.full((n, max(p.shape[-1] for p in parts)), IGNORE, dtype=torch.long)
    for chunk, part in zip(chunks, parts):
        rows = torch.as_tensor(list(chunk), dtype=torch.long)
        if part.ndim == 1:
            out[rows] = part.cpu().long()
        else:
            out[rows, : part.shape[-1]] = part.cpu().long()
    return out


def answer_ids(answers: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(answer ids like ``answers`` less its position axis, the right answer's id per instance,
    how many ids) for ``answers`` (T, K, B[, L]) and ``labels`` (B[, L]).

    Once per instance these are the class indices themselves. Per position, each instance's
    distinct answers (the label among them) are numbered 0, 1, ... in lexicographic order, so equal
    ids mean equal answers and the smallest id the lexicographically smallest answer (a majority
    vote's ties go to it, as to the lowest class index)."""
    if labels.ndim == 1:
        return answers, labels, num_classes
    T, K, B, L = answers.shape
    rows = torch.cat([answers.permute(2, 0, 1, 3).reshape(B, T * K, L), labels[:, None, :].to(answers.dtype)], dim=1)
    owner = torch.arange(B, device=rows.device)[:, None, None].expand(B, T * K + 1, 1).to(rows.dtype)
    _, inverse = torch.unique(torch.cat([owner, rows], dim=2).reshape(B * (T * K + 1), L + 1), dim=0, return_inverse=True)
    inverse = inverse.reshape(B, T * K + 1)
    local = inverse - inverse.min(1, keepdim=True).values  # each instance's ids are contiguous (owner first)
    ids = local[:, :-1].reshape(B, T, K).permute(1, 2, 0)
    return ids, local[:, -1], int(local.max()) + 1


def answer_text(answer: torch.Tensor) -> str:
    """One answer as CSV text: the class index, or per position the indices separated by spaces
    (``_`` where a position carries none), trailing padding dropped."""
    if answer.ndim == 0:
        return str(int(answer))
    values = answer.tolist()
    while values and values[-1] == IGNORE:
        values.pop()
    return " ".join("_" if v == IGNORE else str(v) for v in values)
