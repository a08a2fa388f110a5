"""Families of directed graphs for the reachability task, generated vectorised over the batch.

:mod:`loopthink.tasks.graph_chain`'s two-chain construction has no local cue, but every target there has
in-edges and every graph is two chains plus distractors; real directed graphs are not. The
families here are mixed with it (``GraphTask`` option ``families``):

* ``chain``: the two-chain construction of :mod:`loopthink.tasks.graph_chain` (hard negatives);
* ``er``: Erdos-Renyi, mean out-degree drawn from ``ER_DEGREES`` per instance;
* ``dag``: a banded random DAG (edges from a node to the next 1..4 in a random order);
* ``tree``: a random deep tree, edges away from the root, 20% of them reversed;
* ``grid``: a directed grid, each lattice edge one way (random) or, 15%, both ways;
* ``path_star``: 2..3 paths of ``h..h+2`` edges out of one centre;
* ``pref``: preferential attachment, each new node with 1..2 edges to earlier nodes, each pointing
  back with probability 0.5 or 0.85 (per instance), else forward;
* ``paper``: the seed paper's construction: a positive is an exact ``h``-hop path plus U[n/2, 2n]
  distractor edges, each rejected if it would shorten that path; a negative is a random graph with
  U[n/2, 2n] edges and a random unreachable pair; ``max(h+2, 10) .. max(min(max(h+6, 16), 20), h+2)`` nodes.

Queries on the random families come from an all-pairs BFS of each graph: a positive is a random
pair at distance exactly ``h``; a negative a random unreachable pair whose source reaches exactly
``h`` levels deep where the graph has one (else any unreachable pair). Besides those, negatives
take the natural forms real graphs have: ``NEG_REVERSE`` of them are pairs whose reverse path
exists, ``NEG_CUT`` have every in-edge of the target removed (a target nothing points to; the
source's reachable set is unchanged), ``NEG_SINK`` every out-edge of the source (search depth 0);
sparse ``er``/``pref`` graphs have disconnected parts of their own. A row whose graph has no such
query is drawn again (``_RETRIES`` rounds), then filled by ``chain``, so labels stay exactly balanced
and hops exactly as asked. Loops here run over nodes, edges or BFS levels, never over instances.
"""

from __future__ import annotations

import numpy as np

from loopthink.tasks.graph_chain import Graphs, chain_graphs, random_ids

FAMILY_NAMES = ("chain", "er", "dag", "tree", "grid", "path_star", "pref", "paper")
ER_DEGREES = (0.6, 1.0, 1.5, 2.5)  # mean out-degree of an er instance, one drawn per instance
NEG_REVERSE, NEG_CUT, NEG_SINK = 0.2, 0.2, 0.05
_RETRIES = 10


def check_families(families: dict | None) -> dict[str, float] | None:
    """Validate a ``families`` option: names from ``FAMILY_NAMES``, weights >= 0, some > 0."""
    if families is None:
        return None
    if not isinstance(families, dict) or not families:
        raise ValueError(f"families must be a mapping name: weight, e.g. {{chain: 0.5, er: 0.5}}; got {families!r}")
    for name, w in families.items():
        if name not in FAMILY_NAMES:
            raise ValueError(f"unknown graph family {name!r}; known: {', '.join(FAMILY_NAMES)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ValueError(f"family weight of {name!r} must be a number >= 0, got {w!r}")
    if not sum(families.values()) > 0:
        raise ValueError("family weights must not all be 0")
    return {k: float(v) for k, v in families.items()}


def sample_mixture(families: dict[str, float], n: int, rng: np.random.Generator, lo: int, hi: int, num_nodes, density: float) -> Graphs:
    """``n`` instances, exactly balanced, ``h`` uniform in ``[lo, hi]``, families drawn by weight."""
    h = rng.integers(lo, hi + 1, size=n)
    label = rng.permutation(np.arange(n) % 2).astype(bool)
    names = sorted(families)
    p = np.array([families[k] for k in names]) / sum(families.values())
    which = rng.choice(len(names), size=n, p=p)
    parts = []
    for k, name in enumerate(names):
        idx = np.flatnonzero(which == k)
        if len(idx):
            parts.append((idx, family_graphs(name, h[idx], label[idx], rng, num_nodes, density)))
    return _scatter(n, parts)


def family_graphs(name: str, h: np.ndarray, label: np.ndarray, rng: np.random.Generator, num_nodes=None, density: float = 1.0) -> Graphs:
    """Instances of one family with the given hops and labels (hops of a sink-source negative: 0)."""
    if name == "chain":
        return chain_graphs(h, label, rng, num_nodes, density)
    if name == "paper":
        return _paper(h, label, rng)
    todo = np.arange(len(h))
    parts = []
    for _ in range(_RETRIES):
        if not len(todo):
            break
        out_adj, size = _BUILDERS[name](h[todo], rng)
        g, ok = _queries(out_adj, size, h[todo], label[todo], rng)
        parts.append((todo[ok], g.index(ok)))
        todo = todo[~ok]
    if len(todo):
        parts.append((todo, chain_graphs(h[todo], label[todo], rng, None, density)))
    return _scatter(len(h), parts)


# ---- batched BFS --------------------------------------------------------------------------------


def all_pairs_distances(out_adj: np.ndarray) -> np.ndarray:
    """int (B, N, N): hops from s to t (``out_adj[b, u, v]`` = edge u -> v); -1 where unreachable."""
    B, N, _ = out_adj.shape
    reach = np.broadcast_to(np.eye(N, dtype=bool), (B, N, N)).copy()
    dist = np.where(reach, 0, -1)
    a = out_adj.astype(np.float32)
    for k in range(1, N):
        grown = reach | (np.matmul(reach.astype(np.float32), a) > 0)
        new = grown & ~reach
        if not new.any():
            break
        dist[new] = k
        reach = grown
    return dist


def _pick(cand: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A uniformly random True (s, t) per row of bool (B, N, N): (s, t, row has one)."""
    B, N, _ = cand.shape
    score = np.where(cand, rng.random(cand.shape), -1.0).reshape(B, N * N)
    best = score.argmax(1)
    return best // N, best % N, cand.reshape(B, -1).any(1)


def _queries(
    out_adj: np.ndarray, size: np.ndarray, h: np.ndarray, label: np.ndarray, rng: np.random.Generator
) -> tuple[Graphs, np.ndarray]:
    """Random ids, then one query per row as the module docstring says; ``ok``: rows that have one."""
    B, N, _ = out_adj.shape
    new_id = random_ids(size, N, rng)
    perm = np.zeros_like(out_adj)
    b, u, v = np.nonzero(out_adj)
    perm[b, new_id[b, u], new_id[b, v]] = True
    out_adj = perm
    dist = all_pairs_distances(out_adj)
    real = np.arange(N)[None, :] < size[:, None]
    unreach = (dist < 0) & real[:, :, None] & real[:, None, :]
    depth_h = (dist.max(2) == h[:, None])[:, :, None]
    kind = rng.random(B)
    cands = [
        (label, dist == h[:, None, None]),
        (~label & (kind < NEG_REVERSE), unreach & (dist.transpose(0, 2, 1) > 0) & depth_h),
        (~label, unreach & depth_h),
        (~label, unreach),
    ]
    s = np.zeros(B, dtype=np.int64)
    t = np.zeros(B, dtype=np.int64)
    ok = np.zeros(B, dtype=bool)
    for rows, cand in cands:  # the first kind a row wants and has
        s_k, t_k, has = _pick(cand, rng)
        take = rows & has & ~ok
        s[take], t[take], ok[take] = s_k[take], t_k[take], True
    neg = ok & ~label
    cut = neg & (kind >= NEG_REVERSE) & (kind < NEG_REVERSE + NEG_CUT)
    sink = neg & (kind >= NEG_REVERSE + NEG_CUT) & (kind < NEG_REVERSE + NEG_CUT + NEG_SINK)
    rows = np.arange(B)
    out_adj[rows[cut], :, t[cut]] = False  # edges into t come from nodes s does not reach
    out_adj[rows[sink], s[sink], :] = False
    depth = np.where(sink, 0, dist[rows, s].max(1))
    hops = np.where(label, h, depth)
    return Graphs(out_adj.transpose(0, 2, 1).copy(), size.astype(np.int64), s, t, label.copy(), hops.astype(np.int64)), ok


# ---- the builders: (h,) -> (out_adj (B, N, N) in canonical ids, size (B,)) ------------------------


def _empty(size: np.ndarray) -> np.ndarray:
    return np.zeros((len(size), int(size.max()), int(size.max())), dtype=bool)


def _real(size: np.ndarray) -> np.ndarray:
    N = int(size.max())
    real = np.arange(N)[None, :] < size[:, None]
    return real[:, :, None] & real[:, None, :] & ~np.eye(N, dtype=bool)


def _er(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = h + 2 + rng.integers(0, 2 * h + 5, size=h.shape)
    degree = rng.choice(np.array(ER_DEGREES), size=h.shape)
    p = degree / (size - 1)
    out = (rng.random(_empty(size).shape) < p[:, None, None]) & _real(size)
    return out, size


def _dag(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = h + 2 + rng.integers(0, h + 5, size=h.shape)
    width = rng.integers(1, 5, size=h.shape)[:, None, None]
    N = int(size.max())
    gap = np.arange(N)[None, None, :] - np.arange(N)[None, :, None]
    p = rng.uniform(0.4, 0.9, size=h.shape)[:, None, None]
    out = (gap >= 1) & (gap <= width) & (rng.random((len(h), N, N)) < p) & _real(size)
    return out, size


def _tree(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = h + 2 + rng.integers(0, h + 5, size=h.shape)
    out = _empty(size)
    reach = rng.integers(1, 4, size=h.shape)  # a parent among the last 1..3 nodes: deep trees
    rows = np.arange(len(h))
    for i in range(1, out.shape[1]):
        parent = np.maximum(0, i - 1 - (rng.random(len(h)) * np.minimum(reach, i)).astype(np.int64))
        flip = rng.random(len(h)) < 0.2
        here = i < size
        out[rows[here & ~flip], parent[here & ~flip], i] = True
        out[rows[here & flip], i, parent[here & flip]] = True
    return out, size


def _grid(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows_ = rng.integers(2, np.maximum(3, h // 2 + 3))
    cols = np.maximum(2, h + 3 - rows_ + rng.integers(0, 2, size=h.shape))
    size = rows_ * cols
    N = int(size.max())
    k = np.arange(N)[None, :]
    c = cols[:, None]
    right = ((k % c) != c - 1) & (k + 1 < size[:, None])
    down = k + c < size[:, None]
    out = _empty(size)
    for step, has in ((1, right), (None, down)):
        b, u = np.nonzero(has)
        v = u + (1 if step else cols[b])
        fwd = rng.random(len(b)) < 0.5
        both = rng.random(len(b)) < 0.15
        out[b[fwd | both], u[fwd | both], v[fwd | both]] = True
        out[b[~fwd | both], v[~fwd | both], u[~fwd | both]] = True
    return out, size


def _path_star(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    arms = rng.integers(2, 4, size=h.shape)
    length = h + rng.integers(0, 3, size=h.shape)
    size = 1 + arms * length
    N = int(size.max())
    k = np.arange(1, N)[None, :]
    L = length[:, None]
    prev = np.where((k - 1) % L == 0, 0, k - 1)  # first node of an arm hangs off the centre
    b, i = np.nonzero(k < size[:, None])
    out = _empty(size)
    out[b, prev[b, i], k[0, i]] = True
    return out, size


def _pref(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = h + 3 + rng.integers(0, h + 5, size=h.shape)
    out = _empty(size)
    m = rng.integers(1, 3, size=h.shape)
    toward_old = rng.choice(np.array([0.5, 0.85]), size=h.shape)  # edges' lean: none, or new -> old
    rows = np.arange(len(h))
    degree = np.ones(out.shape[:2])  # degree + 1 of each earlier node
    for i in range(1, out.shape[1]):
        for j in range(2):
            w = degree[:, :i]
            old = (rng.random((len(h), 1)) * w.sum(1)[:, None] > np.cumsum(w, 1)).sum(1)  # ~ degree
            here = (i < size) & (j < m)
            new_to_old = rng.random(len(h)) < toward_old
            a = here & new_to_old
            out[rows[a], i, old[a]] = True
            a = here & ~new_to_old
            out[rows[a], old[a], i] = True
            degree[rows[here], old[here]] += 1
            degree[rows[here], i] += 1
    return out, size


_BUILDERS = {"er": _er, "dag": _dag, "tree": _tree, "grid": _grid, "path_star": _path_star, "pref": _pref}


# ---- the seed paper's construction --------------------------------------------------------------


def _paper(h: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Graphs:
    lo_n = np.maximum(h + 2, 10)
    hi_n = np.maximum(np.minimum(np.maximum(h + 6, 16), 20), h + 2)
    size = lo_n + (rng.random(h.shape) * (hi_n - lo_n + 1)).astype(np.int64)
    B, N = len(h), int(size.max())
    rows = np.arange(B)
    slot = np.arange(N)[None, :]
    # positives: path 0 -> 1 -> .. -> h in canonical ids (ids are permuted at the end)
    out = (slot[:, :, None] + 1 == slot[:, None, :]) & (slot[:, :, None] < h[:, None, None]) & label[:, None, None]
    m = size // 2 + (rng.random(B) * (2 * size - size // 2 + 1)).astype(np.int64)
    target = np.where(label, h, 0)
    for j in range(int(m.max())):  # one candidate edge per instance at a time, as the paper adds them
        u = (rng.random(B) * size).astype(np.int64)
        v = (rng.random(B) * size).astype(np.int64)
        add = (j < m) & (u != v) & ~out[rows, u, v]
        out[rows[add], u[add], v[add]] = True
        pos = add & label
        if pos.any():
            d = _distance_to(out[pos], target[pos], h[pos])
            undo = rows[pos][d < h[pos]]
            out[undo, u[undo], v[undo]] = False  # a distractor may never shorten the path
    g, ok = _paper_queries(out, size, h, label, rng)
    if not ok.all():  # a strongly connected negative has no unreachable pair: draw those again
        again = _paper(h[~ok], label[~ok], rng)
        return _scatter(B, [(np.flatnonzero(ok), g.index(ok)), (np.flatnonzero(~ok), again)])
    return g


def _distance_to(out_adj: np.ndarray, target: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Hops from canonical node 0 to ``target`` per row (h + 1 if more than h or unreachable)."""
    B, N, _ = out_adj.shape
    reach = np.zeros((B, N), dtype=bool)
    reach[:, 0] = True
    dist = np.full(B, int(h.max()) + 1)
    rows = np.arange(B)
    for k in range(1, int(h.max()) + 1):
        reach = reach | (np.einsum("bu,buv->bv", reach.astype(np.float32), out_adj.astype(np.float32)) > 0)
        dist = np.where((dist > k) & reach[rows, target], k, dist)
    return np.where(dist > h, h + 1, dist)


def _paper_queries(
    out_adj: np.ndarray, size: np.ndarray, h: np.ndarray, label: np.ndarray, rng: np.random.Generator
) -> tuple[Graphs, np.ndarray]:
    B, N, _ = out_adj.shape
    dist = all_pairs_distances(out_adj)
    real = np.arange(N)[None, :] < size[:, None]
    s_neg, t_neg, ok = _pick((dist < 0) & real[:, :, None] & real[:, None, :], rng)
    s = np.where(label, 0, s_neg)
    t = np.where(label, h, t_neg)
    ok = ok | label
    rows = np.arange(B)
    hops = np.where(label, h, dist[rows, s].max(1))
    new_id = random_ids(size, N, rng)
    perm = np.zeros_like(out_adj)
    b, u, v = np.nonzero(out_adj)
    perm[b, new_id[b, v], new_id[b, u]] = True  # (B, head, tail): the encoded adjacency
    g = Graphs(perm, size.astype(np.int64), new_id[rows, s], new_id[rows, t], label.copy(), hops.astype(np.int64))
    return g, ok


# ---- assembling ---------------------------------------------------------------------------------


def _scatter(n: int, parts: list[tuple[np.ndarray, Graphs]]) -> Graphs:
    """One batch of ``n`` rows from parts that each fill the rows ``idx`` (padded to one width)."""
    N = max(g.adj.shape[1] for _, g in parts)
    adj = np.zeros((n, N, N), dtype=bool)
    fields = {k: np.zeros(n, dtype=np.int64) for k in ("num_nodes", "source", "target", "hops")}
    label = np.zeros(n, dtype=bool)
    for idx, g in parts:
        w = g.adj.shape[1]
        adj[idx, :w, :w] = g.adj
        for k in fields:
            fields[k][idx] = getattr(g, k)
        label[idx] = g.label
    return Graphs(adj, label=label, **fields)
