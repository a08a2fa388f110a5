"""Graph reachability test sets built with networkx, an implementation independent of loopthink's.

Each family is ``fn(n, seed, difficulty) -> records`` in the graph JSONL format
(``docs/formats.md``), half reachable, with ``h`` drawn uniformly in ``difficulty = (lo, hi)``:
a positive's shortest path has exactly ``h`` hops; a negative's source reaches exactly ``h``
levels deep (its ``search_depth``) and its target is a random node it does not reach, so natural negatives come as the family makes them (a target nothing points to,
a source that points nowhere, the reverse path present, another component). Every record also
carries ``bucket = h``. A graph built for one cell also gives a query to each other open cell it
has. A cell the family does not fill after ``_TRIES`` graphs built for it stays short (a scale-free
graph has no 20-hop path), and each bucket keeps as many negatives as positives.

Families (``FAMILIES``) and whether loopthink's training mixture has a family of that kind
(``tasks/graph_families.py``); the held-out ones test more than the training distribution:

* ``gnp``: ``gnp_random_graph(directed=True)``, mean out-degree 0.7..2.5 (trained kind: ``er``)
* ``dag``: ``watts_strogatz_graph`` (ring lattice, rewired) with every edge oriented from the lower to the higher id (``dag``)
* ``tree``: ``random_labeled_tree`` oriented away from a random root, 20% of edges reversed (``tree``)
* ``grid``: ``grid_2d_graph`` with each edge given a random direction, 15% both ways (``grid``)
* ``path_star``: ``star_graph`` arms subdivided into paths, all pointing outwards (``path_star``)
* ``paper``: the seed paper's test construction, reimplemented here (``paper``)
* ``scale_free``: ``scale_free_graph`` (Bollobas et al. growth), parallel edges merged — held out
* ``k_out``: ``random_k_out_graph`` with k = 1..2 and self loops removed — held out
* ``ladder``: ``circular_ladder_graph`` with random orientations and a few chords removed — held out
* ``cycles``: disjoint directed cycles ``cycle_graph`` joined by a few random one-way bridges — held out

``paper``: a positive is a path of exactly ``h`` hops over random nodes plus U[n/2, 2n] random
distractor edges, each rejected if it would shorten that path; a negative is a random directed
graph with U[n/2, 2n] edges and the first unreachable (source, target) pair found; n nodes in
``max(h+2, 10) .. min(max(h+6, 16), 20)``, so ``h <= 18``. Its negatives keep the pair the paper
takes (whatever their search depth), so ``bucket`` is the paper's bucket, not the search depth.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

try:
    import networkx as nx
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("the graph external-validity families need networkx: pip install 'loopthink[validity]'") from e

# Graphs tried per wanted (label, h) before the cell is given up as absent from the family.
_TRIES = 60


def _as_digraph(g: Any) -> nx.DiGraph:
    """A simple digraph on nodes 0..n-1 (relabelled in a random-free, sorted order)."""
    d = nx.DiGraph()
    d.add_nodes_from(range(g.number_of_nodes()))
    index = {v: i for i, v in enumerate(sorted(g.nodes(), key=repr))}
    d.add_edges_from((index[u], index[v]) for u, v in g.edges() if u != v)
    return d


def _orient(g: nx.Graph, rng: random.Random, both: float = 0.0) -> nx.DiGraph:
    """Each undirected edge gets a random direction; with probability ``both`` it goes both ways."""
    d = nx.DiGraph()
    d.add_nodes_from(g.nodes())
    for u, v in g.edges():
        if rng.random() < both:
            d.add_edges_from([(u, v), (v, u)])
        else:
            d.add_edge(*((u, v) if rng.random() < 0.5 else (v, u)))
    return d


# ---- the families: fn(h, rng) -> a digraph likely to have h-hop pairs --------------------------


def _gnp(h: int, rng: random.Random) -> nx.DiGraph:
    n = rng.randint(h + 2, 4 * h + 8)
    return _as_digraph(nx.gnp_random_graph(n, rng.uniform(0.7, 2.5) / n, seed=rng.randrange(2**31), directed=True))


def _dag(h: int, rng: random.Random) -> nx.DiGraph:
    n = rng.randint(h + 5, 2 * h + 8)  # the ring lattice needs n > k
    g = nx.watts_strogatz_graph(n, rng.choice([2, 4]), rng.uniform(0.05, 0.3), seed=rng.randrange(2**31))
    d = nx.DiGraph()
    d.add_nodes_from(range(n))
    d.add_edges_from((min(u, v), max(u, v)) for u, v in g.edges() if u != v)
    return d


def _tree(h: int, rng: random.Random) -> nx.DiGraph:
    n = rng.randint(h + 2, 3 * h + 6)
    g = (
        nx.random_labeled_tree(n, seed=rng.randrange(2**31))
        if hasattr(nx, "random_labeled_tree")
        else nx.random_tree(n, seed=rng.randrange(2**31))
    )
    root = rng.randrange(n)
    d = nx.DiGraph()
    d.add_nodes_from(range(n))
    for u, v in nx.bfs_edges(g, root):
        d.add_edge(*((v, u) if rng.random() < 0.2 else (u, v)))
    return d


def _grid(h: int, rng: random.Random) -> nx.DiGraph:
    rows = rng.randint(2, max(2, h // 2 + 2))
    cols = max(2, h + 3 - rows + rng.randint(0, 2))
    return _as_digraph(_orient(nx.grid_2d_graph(rows, cols), rng, both=0.15))


def _path_star(h: int, rng: random.Random) -> nx.DiGraph:
    arms = rng.randint(2, 5)
    star = nx.star_graph(arms)  # centre 0, leaves 1..arms
    d = nx.DiGraph()
    d.add_node(0)
    nxt = arms + 1
    for _leaf in star.neighbors(0):
        prev = 0
        for _ in range(h + rng.randint(0, 2)):  # each arm: a path of h..h+2 edges out of the centre
            d.add_edge(prev, nxt)
            prev, nxt = nxt, nxt + 1
    return _as_digraph(d)


def _scale_free(h: int, rng: random.Random) -> nx.DiGraph:
    n = rng.randint(h + 4, 3 * h + 10)
    return _as_digraph(nx.DiGraph(nx.scale_free_graph(n, seed=rng.randrange(2**31))))


def _k_out(h: int, rng: random.Random) -> nx.DiGraph:
    n = rng.randint(h + 2, 2 * h + 8)
    g = nx.random_k_out_graph(n, rng.randint(1, 2), alpha=rng.uniform(0.5, 5.0), self_loops=False, seed=rng.randrange(2**31))
    return _as_digraph(nx.DiGraph(g))


def _ladder(h: int, rng: random.Random) -> nx.DiGraph:
    g = nx.circular_ladder_graph(rng.randint(max(3, h // 2 + 1), h + 4))
    g.remove_edges_from(rng.sample(list(g.edges()), k=rng.randint(0, 3)))
    return _as_digraph(_orient(g, rng))


def _cycles(h: int, rng: random.Random) -> nx.DiGraph:
    g = nx.disjoint_union_all([nx.cycle_graph(rng.randint(3, h + 3), create_using=nx.DiGraph) for _ in range(rng.randint(2, 4))])
    n = g.number_of_nodes()
    for _ in range(rng.randint(0, 3)):
        u, v = rng.randrange(n), rng.randrange(n)
        if u != v:
            g.add_edge(u, v)
    return _as_digraph(g)


# ---- picking queries ----------------------------------------------------------------------------


def _harvest(g: nx.DiGraph, cells: set[tuple[bool, int]], rng: random.Random) -> dict[tuple[bool, int], tuple[int, int]]:
    """At most one random (source, target) per wanted (label, h) cell that ``g`` has."""
    found: dict[tuple[bool, int], list[tuple[int, int]]] = {}
    everyone = list(g.nodes())
    for s, dist in nx.all_pairs_shortest_path_length(g):
        depth = max(dist.values())
        for t, d in dist.items():
            if d and (True, d) in cells:
                found.setdefault((True, d), []).append((s, t))
        if (False, depth) in cells and len(dist) < len(everyone):
            found.setdefault((False, depth), []).append((s, rng.choice([t for t in everyone if t not in dist])))
    return {cell: rng.choice(pairs) for cell, pairs in found.items()}


def _record(g: nx.DiGraph, s: int, t: int, label: bool, h: int) -> dict:
    rec: dict[str, Any] = {
        "task": "graph",
        "num_nodes": g.number_of_nodes(),
        "edges": sorted([int(u), int(v)] for u, v in g.edges()),
        "source": int(s),
        "target": int(t),
        "label": label,
        "hops": nx.shortest_path_length(g, s, t) if label else None,
        "bucket": h,
    }
    if not label:
        rec["search_depth"] = max(nx.single_source_shortest_path_length(g, s).values())
    return rec


def _family(build: Callable[[int, random.Random], nx.DiGraph]) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    def generate(n: int, seed: int, difficulty: tuple[int, int]) -> list[dict]:
        rng = random.Random(seed)
        lo, hi = difficulty
        want: dict[tuple[bool, int], int] = {}
        for i in range(n):  # labels alternate, h cycles through the range: every cell the same share
            cell = (i % 2 == 0, lo + (i // 2) % (hi - lo + 1))
            want[cell] = want.get(cell, 0) + 1
        got: dict[tuple[bool, int], list[dict]] = {cell: [] for cell in want}
        misses = dict.fromkeys(want, 0)
        while open_cells := {c for c in want if len(got[c]) < want[c] and misses[c] < _TRIES}:
            label, h = rng.choice(sorted(open_cells))
            g = build(h, rng)
            picked = _harvest(g, open_cells, rng)
            misses[(label, h)] += (label, h) not in picked
            for cell, (s, t) in picked.items():
                got[cell].append(_record(g, s, t, cell[0], cell[1]))
        out = []
        for h in range(lo, hi + 1):  # the same number of each label per bucket
            k = min(len(got.get((True, h), [])), len(got.get((False, h), [])))
            out += got.get((True, h), [])[:k] + got.get((False, h), [])[:k]
        return out

    return generate


# ---- the seed paper's construction --------------------------------------------------------------


def _paper_size(h: int, rng: random.Random) -> int:
    return rng.randint(max(h + 2, 10), min(max(h + 6, 16), 20))


def _paper_positive(h: int, rng: random.Random) -> tuple[nx.DiGraph, int, int]:
    n = _paper_size(h, rng)
    path = rng.sample(range(n), h + 1)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    nx.add_path(g, path)
    for _ in range(rng.randint(n // 2, 2 * n)):
        u, v = rng.sample(range(n), 2)
        if g.has_edge(u, v):
            continue
        g.add_edge(u, v)
        if nx.shortest_path_length(g, path[0], path[-1]) < h:
            g.remove_edge(u, v)  # a distractor may never shorten the path
    return g, path[0], path[-1]


def _paper_negative(h: int, rng: random.Random) -> tuple[nx.DiGraph, int, int] | None:
    n = _paper_size(h, rng)
    g = nx.gnm_random_graph(n, rng.randint(n // 2, 2 * n), seed=rng.randrange(2**31), directed=True)
    pairs = [(s, t) for s in range(n) for t in range(n) if s != t]
    rng.shuffle(pairs)
    for s, t in pairs:
        if not nx.has_path(g, s, t):
            return nx.DiGraph(g), s, t
    return None


def paper(n: int, seed: int, difficulty: tuple[int, int]) -> list[dict]:
    """The seed paper's test construction (module docstring); ``h`` above 18 cannot fit 20 nodes."""
    rng = random.Random(seed)
    lo, hi = difficulty[0], min(difficulty[1], 18)
    out: list[dict] = []
    if lo > hi:
        return out
    for i in range(n):
        h = lo + (i // 2) % (hi - lo + 1)  # as the other families: each bucket the same share
        if i % 2 == 0:
            out.append(_record(*_paper_positive(h, rng), True, h))
            continue
        neg = None
        while neg is None:  # a dense random graph can be strongly connected: draw another
            neg = _paper_negative(h, rng)
        out.append(_record(*neg, False, h))
    return out


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {
    "gnp": _family(_gnp),
    "dag": _family(_dag),
    "tree": _family(_tree),
    "grid": _family(_grid),
    "path_star": _family(_path_star),
    "paper": paper,
    "scale_free": _family(_scale_free),
    "k_out": _family(_k_out),
    "ladder": _family(_ladder),
    "cycles": _family(_cycles),
}
HELD_OUT = ("scale_free", "k_out", "ladder", "cycles")
