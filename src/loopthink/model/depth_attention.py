"""Depth-Attention (cross-layer value mixing): before a block attends over the sequence, each
query also attends over the keys its own token produced in this block at earlier recurrence steps,
and mixes their values in. No parameters; the memory grows by one (k, v) per block and step.

Switched on by ``model.depth_attention``. A rollout starts with an empty :class:`DepthMemory`
(:meth:`loopthink.model.core.LoopModel.new_memory`), which the step appends to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class DepthMemory:
    """Per block, the (k, v) of every step so far, each (B, H, L, Dh)."""

    def __init__(self, blocks: int):
        self.past: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in range(blocks)]

    def index(self, idx: torch.Tensor) -> DepthMemory:
        """The memory of a subset of the batch (halting shrinks the batch as examples exit)."""
        kept = DepthMemory(0)
        kept.past = [[(k[idx], v[idx]) for k, v in block] for block in self.past]
        return kept


def attend_with_past(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    past: list[tuple[torch.Tensor, torch.Tensor]],
    dropout_p: float,
) -> torch.Tensor:
    """One softmax over the sequence's keys and over the query token's own keys from this block's
    earlier steps (``past``: (k, v) per step, each (B, H, L, Dh), at least one), values mixed alike."""
    scale = q.shape[-1] ** -0.5
    scores = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    past_k = torch.stack([pk for pk, _ in past], dim=-2)  # (B, H, L, S, Dh)
    past_v = torch.stack([pv for _, pv in past], dim=-2)
    own = (q.unsqueeze(-2) * past_k).sum(-1) * scale  # (B, H, L, S): each token with its own past only
    w = F.dropout(torch.softmax(torch.cat([scores, own], dim=-1), dim=-1), dropout_p)
    n_keys = k.shape[-2]
    return w[..., :n_keys] @ v + (w[..., n_keys:].unsqueeze(-1) * past_v).sum(-2)
