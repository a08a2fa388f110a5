"""Attention along edges: each token attends over its in-neighbours only, at O(E·d) cost.

A structure mask (graph in-edges, hard relation masks, the chain and grid of per-position tasks)
allows a few keys per query, yet dense attention pays for all L² pairs and multiplies nearly all of
them by zero. :class:`Edges` lists the allowed (receiver, sender) pairs over the flattened B·L
tokens; :func:`edge_attend` scores each edge, takes a softmax per receiver (a segment softmax:
subtract the segment max, exp, divide by the segment sum) and sums the senders' values into the
receivers. :func:`prefer_edges` is the one place that chooses between it and the dense path.

Edge list or padded neighbour table (L × max in-degree, one batched softmax)? Measured on this
shared 2-core CPU, one thread, attention alone (forward), q, k, v of shape (1, 4, 1024, 16):

==========================================  =========  ===============  ============
graph of 1,024 nodes, mean out-degree 2      edge list  neighbour table  dense (SDPA)
==========================================  =========  ===============  ============
no hub (E = 3,065 with self edges, K = 9)    1.45 ms    4.80 ms          5.48 ms
one hub of in-degree 512 (K = 513)           1.58 ms    394 ms           5.67 ms
==========================================  =========  ===============  ============

The table's width is the largest in-degree, so one hub makes it as large as the dense matrix; the
edge list costs the same with or without one, and is chosen. On lattices, where every in-degree is
at most 5 and the table has no padding to speak of, it gains nothing either (two runs each, alone):
a 59×59 grid's forward 10.9–15.0 ms against 11.5–13.3 ms for the list; 32 grids of 13×13, forward
and backward, 33.9–38.1 ms against 29.2–33.0 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Edge attention runs when E < EDGE_DENSITY · B·L² (fewer allowed pairs than this share of the dense
# matrix). Measured by bench/attention.py (one thread, graph.yaml's model, mean out-degree 2; ms per
# step dense / edges; train = forward + backward of the threshold rows, 4,096 nodes per batch; eval =
# the evaluation cases, fresh processes), two runs on this shared 2-core CPU
# (other jobs share it: one run to the next differs by up to 2x):
#   density 0.090 (L = 32):  train 20.8 / 26.8 and 30.1 / 36.6                     dense faster
#   density 0.046 (L = 64):  train 30.5 / 25.8 and 30.8 / 37.9                     mixed
#   density 0.023 (L = 128): train 26.9 / 27.1 and 39.7 / 37.1; eval 11.0 / 14.0   even or dense
#   density 0.012 (L = 256): eval 13.4 / 11.2; 0.006 (L = 512): eval 20.5 / 12.4   edges faster
# so edges from below 0.02. Graph training batches (10..40 nodes, density above 0.075) stay dense.
# 0 forces dense, math.inf forces edges.
EDGE_DENSITY = 0.02


def prefer_edges(n_edges: int, batch: int, length: int) -> bool:
    """True when attention along ``n_edges`` edges beats dense attention over ``batch`` × ``length``²."""
    return n_edges < EDGE_DENSITY * batch * length * length


@dataclass(frozen=True)
class Edges:
    """E allowed (receiver, sender) pairs over the flattened B·L tokens, grouped by receiver.

    Token ``i`` of example ``b`` is ``b * length + i``; a sender is always in its receiver's example.
    Every token (padding too) has its self edge, so no softmax is empty, as in the dense masks."""

    receiver: torch.Tensor  # long (E,), non-decreasing
    sender: torch.Tensor  # long (E,)
    bias: torch.Tensor | None  # float (E, H) added to the edge's score (learned relation biases), or None
    batch: int
    length: int

    @classmethod
    def from_pairs(cls, receiver: torch.Tensor, sender: torch.Tensor, batch: int, length: int, bias: torch.Tensor | None = None) -> Edges:
        """Edges ``sender -> receiver`` (flat long (E,) token indices, any order, self edges included)."""
        order = torch.argsort(receiver, stable=True)
        return cls(receiver[order], sender[order], None if bias is None else bias[order], batch, length)

    @classmethod
    def from_mask(cls, allowed: torch.Tensor, relations: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> Edges:
        """Edges of a bool (B, L, L) mask (``allowed[b, i, j]``: i may attend to j; its diagonal set).
        With ``relations`` bool (B, R, L, L) and ``weight`` (R, H), each edge's bias is its
        relations' weights summed, as :class:`~loopthink.model.interfaces.RelationBias` builds it."""
        B, L, _ = allowed.shape
        b, i, j = allowed.nonzero(as_tuple=True)  # row-major: already sorted by receiver
        bias = None if relations is None else relations.permute(0, 2, 3, 1)[b, i, j].to(weight.dtype) @ weight
        return cls(b * L + i, b * L + j, bias, B, L)

    @property
    def count(self) -> int:
        return self.receiver.numel()

    def index(self, idx: torch.Tensor) -> Edges:
        """The edges of examples ``idx`` (long or bool over the batch), renumbered: halting drops rows."""
        if idx.dtype == torch.bool:
            idx = idx.nonzero().squeeze(1)
        L = self.length
        per_row = torch.bincount(self.receiver // L, minlength=self.batch)
        start = torch.cumsum(per_row, 0) - per_row
        counts = per_row[idx]
        new_row = torch.repeat_interleave(torch.arange(idx.numel(), device=idx.device), counts)
        offset = torch.arange(new_row.numel(), device=idx.device) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        old = start[idx][new_row] + offset
        shift = (new_row - idx[new_row]) * L  # old example -> its new place
        bias = None if self.bias is None else self.bias[old]
        return Edges(self.receiver[old] + shift, self.sender[old] + shift, bias, idx.numel(), L)

    def dense(self) -> torch.Tensor:
        """The dense equivalent: bool (B, 1, L, L), or with biases float (B, H, L, L), -inf off the edges."""
        B, L = self.batch, self.length
        cell = self.receiver * L + self.sender % L  # flat (b, i, j)
        if self.bias is None:
            mask = torch.zeros(B * L * L, dtype=torch.bool, device=self.receiver.device)
            return mask.index_fill(0, cell, True).view(B, 1, L, L)
        H = self.bias.shape[1]
        full = self.bias.new_full((B * L * L, H), float("-inf")).index_copy(0, cell, self.bias)
        return full.view(B, L, L, H).permute(0, 3, 1, 2)


def edge_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, edges: Edges, dropout_p: float) -> torch.Tensor:
    """Attention of (B, H, L, Dh) tensors along ``edges``: the dense ``softmax(q k^T / sqrt(Dh) +
    bias) v`` restricted to the edges, at O(E·d) work and memory."""
    B, H, L, Dh = q.shape
    q, k, v = (t.transpose(1, 2).reshape(B * L, H, Dh) for t in (q, k, v))  # views when q, k, v come from one qkv
    recv, send = edges.receiver, edges.sender
    scores = (q.index_select(0, recv) * k.index_select(0, send)).sum(-1) * (1.0 / math.sqrt(Dh))  # (E, H)
    if edges.bias is not None:
        scores = scores + edges.bias
    # the softmax is shift-invariant, so the max needs no gradient; receivers are sorted and each has
    # its self edge, so the segments are the receivers' runs (segment_reduce: 3x faster than scatter_reduce)
    top = torch.segment_reduce(scores.detach(), "max", lengths=torch.bincount(recv, minlength=B * L))
    w = (scores - top.index_select(0, recv)).exp()
    total = w.new_zeros(B * L, H).index_add_(0, recv, w)
    # normalised after the sum over senders, per receiver (B·L × H × Dh divides instead of a gather
    # and E × H divides): the attention's forward ~30% faster at 1,024 nodes, a whole step ~2%;
    # dropout is linear, so dropping unnormalised weights is the same as dropping normalised ones
    out = v.new_zeros(B * L, H, Dh).index_add_(0, recv, F.dropout(w, dropout_p).unsqueeze(-1) * v.index_select(0, send))
    return (out / total.unsqueeze(-1)).view(B, L, H, Dh).transpose(1, 2)


def lattice_pairs(coords: torch.Tensor, token_mask: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(receiver, sender, relation), flat long (E,): token j is token i's relation r when
    ``coords[j] == coords[i] + offsets[r]`` in one example, both tokens real; then every token's
    self edge with relation R. ``coords`` long (B, L, C), ``offsets`` long (R, C) with entries in
    -1..1. O(L log L) (a sort and binary searches): no L × L tensor, whatever the layout of the cells."""
    B, L, C = coords.shape
    lo = coords.amin() - 1
    span = int(coords.amax() - lo) + 2  # room for a step of one past either end

    def key(example: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        k = example
        for axis in range(C):
            k = k * span + (at[:, axis] - lo)
        return k

    flat = torch.arange(B * L, device=coords.device).view(B, L)[token_mask]
    example, at = flat // L, coords[token_mask]
    keys, order = torch.sort(key(example, at))
    receiver, sender, relation = [], [], []
    for r, offset in enumerate(offsets):
        want = key(example, at + offset)
        pos = torch.searchsorted(keys, want).clamp(max=max(keys.numel() - 1, 0))
        hit = keys[pos] == want
        receiver.append(flat[hit])
        sender.append(flat[order[pos[hit]]])
        relation.append(torch.full_like(receiver[-1], r))
    every = torch.arange(B * L, device=coords.device)
    receiver, sender = torch.cat([*receiver, every]), torch.cat([*sender, every])
    return receiver, sender, torch.cat([*relation, torch.full_like(every, len(offsets))])
