"""Small composable layers: attention with an optional mask and rotary positions, LayerScale, a pre-norm block."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from loopthink.model.depth_attention import attend_with_past
from loopthink.model.edges import Edges, edge_attend


class LayerScale(nn.Module):
    """``diag(gamma) * x`` with gamma initialised small (CaiT): a new branch starts almost silent."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


def rotary_tables(
    positions: int | torch.Tensor, head_dim: int, device: torch.device, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for rotary position embeddings (attention then sees relative positions only).

    ``positions``: a length L (positions 0..L-1, tables (L, head_dim/2)) or a long tensor (B, L) of
    per-token positions (tables (B, 1, L, head_dim/2), shared by the heads)."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    pos = torch.arange(positions, device=device) if isinstance(positions, int) else positions[:, None]
    ang = pos.to(torch.float32)[..., None] * inv
    return ang.cos(), ang.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of ``x`` (B, H, L, Dh) by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | Edges | None, dropout_p: float) -> torch.Tensor:
    """``softmax(q k^T / sqrt(Dh) + mask) v`` on (B, H, L, Dh) tensors; ``mask`` bool, a float bias,
    or :class:`~loopthink.model.edges.Edges` (attention along the edges only, O(E·d)).

    A float bias that needs a gradient (learned relation biases, in training) sends the CPU to
    SDPA's math kernel, which then spends about a fifth of a text training step looking for rows
    that are all ``-inf``. Ours have none (every row keeps a real key, ``RelationBias``), so the
    same arithmetic written out gives bit-identical values and gradients (tests/test_model.py)."""
    if isinstance(mask, Edges):
        return edge_attend(q, k, v, mask, dropout_p)
    if mask is not None and mask.requires_grad and mask.is_floating_point() and not dropout_p and q.device.type == "cpu":
        root_scale = math.sqrt(1.0 / math.sqrt(q.shape[-1]))  # the math kernel scales q and k by this each
        return torch.softmax((q * root_scale) @ (k * root_scale).transpose(-2, -1) + mask, dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


class Attention(nn.Module):
    """Multi-head attention over the keys ``mask`` allows, optionally with Depth-Attention's past."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | Edges | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """``past``: with Depth-Attention, this block's (k, v) of every earlier step; this step's
        are appended to it. Depth-Attention is dense only: edges meet a past as their dense mask."""
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        p = self.dropout if self.training else 0.0
        if past:  # step 1 has no past
            y = attend_with_past(q, k, v, mask.dense() if isinstance(mask, Edges) else mask, past, p)
        else:
            y = attend(q, k, v, mask, p)
        if past is not None:
            past.append((k, v))
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    """Pre-norm transformer block whose branches see ``state + injected input`` but whose residual
    stream is the state alone, so re-injecting the input every step does not grow the state."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, layerscale: float | None):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        make_scale = (lambda: LayerScale(d_model, layerscale)) if layerscale is not None else nn.Identity
        self.scale1, self.scale2 = make_scale(), make_scale()

    def forward(
        self,
        h: torch.Tensor,
        inject: torch.Tensor | None,
        mask: torch.Tensor | Edges | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        u = h if inject is None else h + inject
        h = h + self.scale1(self.attn(self.norm1(u), mask, rotary, past))
        u = h if inject is None else h + inject
        return h + self.scale2(self.mlp(self.norm2(u)))
