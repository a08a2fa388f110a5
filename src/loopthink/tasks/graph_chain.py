"""The two-chain construction of a reachability instance (the graph task's ``chain`` family), and
:class:`Graphs`, the numpy batch every graph family builds.

How an instance with ``h`` hops is built, so that no local cue gives the answer: two chains of
exactly ``h`` hops, ``A = a0 -> .. -> ah`` (``source = a0``) and ``B = b0 -> .. -> bh``. A positive
asks for ``target = ah``, a negative for ``target = bh``; everything else is drawn the same way, so
both labels look alike locally (the target always has in-edges, the source always reaches depth
``h``). Every node has a side (A's reachable set *R* or the unreachable rest *U*) and a level (its
index on its chain; extra nodes get a level in ``[1, h]`` and an edge from the chain node one
level up). Distractor edges ``u -> v`` are kept only when they

* never go from *R* to *U* (so *U*, and a negative's target, stays unreachable), and
* within a side, satisfy ``level(v) <= level(u) + 1`` (so no shortcut: distances equal levels).

Edges from *U* into *R* are allowed (they point into the reachable set from outside), except out
of ``bh`` or into ``ah``: one of those two chain ends is the target, and the target never touches a
cross edge whatever its side, so its in- and out-degrees look the same for both labels. Hence the
hop count of a positive and the search depth of a negative are both exactly ``h``. Node ids are
randomly permuted per instance so the id order carries no information.

Generation is vectorised over the batch with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NumNodes = int | tuple[int, int] | list[int] | None

# Automatic sizes: the two chains need 2h+2 nodes; up to this many extra nodes are added.
_AUTO_EXTRA_NODES = 4
# Distractor candidates drawn per wanted edge; about 60% pass the filters, so 3x rarely falls short.
_OVERSAMPLE = 3


@dataclass
class Graphs:
    """A batch of generated instances as numpy arrays (node ids already permuted)."""

    adj: np.ndarray  # bool (B, N, N), adj[b, v, u] = edge u -> v
    num_nodes: np.ndarray  # int64 (B,)
    source: np.ndarray  # int64 (B,)
    target: np.ndarray  # int64 (B,)
    label: np.ndarray  # bool (B,)
    hops: np.ndarray  # int64 (B,): hops of positives, search depth of negatives (both = h)

    def index(self, rows: np.ndarray) -> Graphs:
        return Graphs(self.adj[rows], self.num_nodes[rows], self.source[rows], self.target[rows], self.label[rows], self.hops[rows])


def check_density(density: float) -> None:
    if not density >= 0:
        raise ValueError(f"distractor_density must be >= 0, got {density}")


def sample_chains(n: int, rng: np.random.Generator, difficulty: tuple[int, int], num_nodes: NumNodes, density: float) -> Graphs:
    lo, hi = check_difficulty(difficulty)
    check_density(density)
    h = rng.integers(lo, hi + 1, size=n)
    label = rng.permutation(np.arange(n) % 2).astype(bool)  # exactly balanced (n odd: one extra)
    return chain_graphs(h, label, rng, num_nodes, density, hi)


def chain_graphs(
    h: np.ndarray, label: np.ndarray, rng: np.random.Generator, num_nodes: NumNodes, density: float, hi: int | None = None
) -> Graphs:
    """The two-chain construction (module docstring) for the given hops and labels (``hi``: the
    largest hops asked for, which a fixed ``num_nodes`` must fit; default ``h.max()``)."""
    n = len(h)
    size = _draw_num_nodes(h, int(h.max()) if hi is None else hi, num_nodes, rng)
    width = int(size.max())

    # Canonical layout: slots 0..h are chain A, h+1..2h+1 chain B, the rest extra nodes.
    slot = np.arange(width)[None, :]
    hh = h[:, None]
    in_a, in_b = slot <= hh, (slot > hh) & (slot <= 2 * hh + 1)
    extra = (slot > 2 * hh + 1) & (slot < size[:, None])
    extra_in_r = rng.random((n, width)) < 0.5
    extra_level = 1 + (rng.random((n, width)) * hh).astype(np.int64)  # uniform in [1, h]
    in_r = in_a | (extra & extra_in_r)
    level = np.where(in_a, slot, np.where(in_b, slot - hh - 1, extra_level))

    rows = np.broadcast_to(np.arange(n)[:, None], (n, width))
    parts = [
        # chain edges a_i -> a_i+1 and b_i -> b_i+1
        (rows, slot, slot + 1, (slot < hh) | (in_b & (slot < 2 * hh + 1))),
        # each extra node hangs off the chain node one level above it, on its own side
        (rows, np.where(in_r, level - 1, hh + level), slot, extra),
        # one guaranteed edge from the unreachable side into A
        _cross_edge(h, rng),
        _distractors(size, h, in_r, level, density, rng),
    ]
    b = np.concatenate([p[0][p[3]] for p in parts])
    u = np.concatenate([np.broadcast_to(p[1], p[3].shape)[p[3]] for p in parts])
    v = np.concatenate([np.broadcast_to(p[2], p[3].shape)[p[3]] for p in parts])

    new_id = random_ids(size, width, rng)
    adj = np.zeros((n, width, width), dtype=bool)
    adj[b, new_id[b, v], new_id[b, u]] = True
    canon_target = np.where(label, h, 2 * h + 1)
    source = new_id[:, 0]
    target = new_id[np.arange(n), canon_target]
    return Graphs(adj, size, source, target, label, h.astype(np.int64))


def check_difficulty(difficulty: tuple[int, int]) -> tuple[int, int]:
    lo, hi = (int(x) for x in difficulty)
    if not 1 <= lo <= hi:
        raise ValueError(f"graph difficulty (hops) must satisfy 1 <= lo <= hi, got {difficulty}")
    return lo, hi


def _draw_num_nodes(h: np.ndarray, hi: int, num_nodes: NumNodes, rng: np.random.Generator) -> np.ndarray:
    if num_nodes is None:
        return 2 * h + 2 + rng.integers(0, _AUTO_EXTRA_NODES + 1, size=h.shape)
    lo_n, hi_n = (int(num_nodes),) * 2 if np.ndim(num_nodes) == 0 else (int(x) for x in num_nodes)
    if not 2 * hi + 2 <= lo_n <= hi_n:
        raise ValueError(
            f"num_nodes={num_nodes!r} is too small for hops up to {hi}: instances need two chains "
            f"of {hi} hops, i.e. at least {2 * hi + 2} nodes (or pass num_nodes=None for automatic)"
        )
    return rng.integers(lo_n, hi_n + 1, size=h.shape)


def _cross_edge(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One edge ``b_i -> a_j`` per instance (``i, j < h``: chain ends stay off cross edges)."""
    n = h.shape[0]
    u = h + 1 + (rng.random(n) * h).astype(np.int64)
    v = (rng.random(n) * h).astype(np.int64)
    return np.arange(n), u, v, np.ones(n, dtype=bool)


def _distractors(
    size: np.ndarray,
    h: np.ndarray,
    in_r: np.ndarray,
    level: np.ndarray,
    density: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Random edges, filtered so they neither reach the unreachable side nor shorten a distance."""
    n = size.shape[0]
    want = np.rint(density * size).astype(np.int64)
    m = max(1, _OVERSAMPLE * int(want.max()))
    u = (rng.random((n, m)) * size[:, None]).astype(np.int64)
    v = (rng.random((n, m)) * size[:, None]).astype(np.int64)
    r_u, r_v = np.take_along_axis(in_r, u, 1), np.take_along_axis(in_r, v, 1)
    l_u, l_v = np.take_along_axis(level, u, 1), np.take_along_axis(level, v, 1)
    ok = (u != v) & ~(r_u & ~r_v) & ((r_u != r_v) | (l_v <= l_u + 1))
    cross = ~r_u & r_v
    hh = h[:, None]
    ok &= ~(cross & ((u == 2 * hh + 1) | (v == hh)))  # keep both chain ends off cross edges
    keep = ok & (np.cumsum(ok, axis=1) <= want[:, None])
    return np.broadcast_to(np.arange(n)[:, None], (n, m)), u, v, keep


def random_ids(size: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """``new_id[b, slot]``: a random permutation of ``0..size[b]-1``; padding slots keep the tail."""
    keys = rng.random((size.shape[0], width))
    keys[np.arange(width)[None, :] >= size[:, None]] = 2.0  # sorts after every real node
    order = np.argsort(keys, axis=1, kind="stable")
    new_id = np.empty_like(order)
    np.put_along_axis(new_id, order, np.arange(width)[None, :].repeat(size.shape[0], 0), axis=1)
    return new_id
