"""Directed-graph reachability: is ``target`` reachable from ``source``?

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "graph", "num_nodes": 12, "edges": [[0, 3], [3, 7]], "source": 0, "target": 7,
     "label": true, "hops": 2}

Nodes are ``0 .. num_nodes-1``; ``[u, v]`` is the edge ``u -> v``. ``hops`` is the shortest-path
length when ``label`` is true, else ``null``. Generated negatives also carry ``search_depth``:
the BFS eccentricity of ``source`` (largest shortest-path distance from ``source`` to any node it
reaches), which is their difficulty. ``classes = ("unreachable", "reachable")``.

Encoded inputs (``Batch.inputs``), with ``N`` = largest ``num_nodes`` in the batch:

* ``adj``: bool ``(B, N, N)``, ``adj[b, v, u]`` is True iff edge ``u -> v`` (row ``v`` lists the
  in-neighbours of ``v``); no self loops (self loops in records are dropped);
* ``node_mask``: bool ``(B, N)``, True for real nodes (padding comes after them);
* ``source``, ``target``: long ``(B,)``.

``Batch.difficulty`` is ``hops`` for reachable queries and ``search_depth`` for the others.

Generated instances come from the two-chain construction, which gives no local cue
(:mod:`loopthink.tasks.graph_chain`, the ``chain`` family); the option ``families`` mixes it with
graphs of other shapes and their natural negatives (:mod:`loopthink.tasks.graph_families`),
``family`` picks one.

Generation is vectorised over the batch with numpy; :meth:`GraphTask.generate` and
:meth:`GraphTask.sample_batch` share :func:`_sample`, so with the same seed
``encode(generate(n, seed, d))`` equals ``sample_batch(n, np.random.default_rng(seed), d)``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np
import torch

from loopthink.tasks.base import (
    MAX_EDGES,
    MAX_NODES,
    UNREACHABLE,
    Batch,
    DataError,
    Task,
    bool_field,
    int_field,
    mismatch,
    optional_int,
    required,
)
from loopthink.tasks.graph_chain import Graphs, NumNodes, check_density, check_difficulty, sample_chains
from loopthink.tasks.graph_families import check_families, sample_mixture


class GraphTask(Task):
    name: ClassVar[str] = "graph"
    classes: ClassVar[tuple[str, ...]] = ("unreachable", "reachable")
    difficulty_name: ClassVar[str] = "hops"
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {"num_nodes": (2, MAX_NODES), "distractor_density": (0, 64)}
    interface: ClassVar[str] = "nodes"
    heatmap_floor: ClassVar[float] = 0.5  # labels are balanced yes/no: a guess scores 0.5

    def generate(  # type: ignore[override]
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int] = (1, 8),
        *,
        num_nodes: NumNodes = None,
        distractor_density: float = 1.0,
        families: dict[str, float] | None = None,
        family: str | None = None,
    ) -> list[dict]:
        """``n`` records, half reachable, with ``h`` uniform in ``difficulty``.

        ``families``: a mixture ``{name: weight}`` of the graph families of
        :mod:`loopthink.tasks.graph_families` (``None``: the two-chain construction alone, as
        ``{chain: 1}``); ``family``: one family by name (``loopthink data graph --family er``).
        ``num_nodes`` and ``distractor_density`` shape the ``chain`` family only.

        ``num_nodes``: ``None`` draws each instance's size uniformly in ``[2h+2, 2h+6]``; an int
        fixes it; a ``(lo, hi)`` pair draws it uniformly (``lo`` must be at least ``2*hi_hops+2``).
        ``distractor_density``: distractor edges per node (``round(density * num_nodes)`` wanted;
        the ones that would change the answer are dropped, so rarely a few fewer).
        """
        mix = _mixture(families, family)
        return _to_records(_sample(n, np.random.default_rng(seed), difficulty, num_nodes, distractor_density, mix))

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        opts = {"num_nodes": None, "distractor_density": 1.0, "families": None, "family": None, **self.options}
        mix = _mixture(opts["families"], opts["family"])
        g = _sample(n, rng, difficulty, opts["num_nodes"], opts["distractor_density"], mix)
        node_mask = np.arange(g.adj.shape[1])[None, :] < g.num_nodes[:, None]
        return _batch(g.adj, node_mask, g.source, g.target, g.label, g.hops)

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        sizes = np.array([rec["num_nodes"] for rec in records], dtype=np.int64)
        adj = np.zeros((len(records), int(sizes.max()), int(sizes.max())), dtype=bool)
        for i, rec in enumerate(records):
            if rec["edges"]:
                e = np.asarray(rec["edges"], dtype=np.int64)
                adj[i, e[:, 1], e[:, 0]] = True
        idx = np.arange(adj.shape[1])
        adj[:, idx, idx] = False  # self loops say nothing about reachability
        node_mask = idx[None, :] < sizes[:, None]
        source = np.array([rec["source"] for rec in records], dtype=np.int64)
        target = np.array([rec["target"] for rec in records], dtype=np.int64)
        label = np.array([rec["label"] for rec in records], dtype=bool)
        diff = np.array([self.difficulty_of(rec) for rec in records], dtype=np.int64)
        return _batch(adj, node_mask, source, target, label, diff)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        super().check_options(options)
        try:
            _mixture(options.get("families"), options.get("family"))
        except ValueError as e:
            raise DataError(str(e)) from None

    def validate(self, record: dict) -> None:
        if record.get("task", "graph") != "graph":
            raise DataError(f"'task' must be 'graph', got {record.get('task')!r}")
        size = int_field(record, "num_nodes")
        if size < 2:
            raise DataError(f"'num_nodes' must be at least 2, got {size}")
        if size > MAX_NODES:
            raise DataError(f"'num_nodes' must be at most {MAX_NODES}, got {size}")
        edges = required(record, "edges")
        if not isinstance(edges, list):
            raise DataError(f"'edges' must be a list of [u, v] pairs, got {type(edges).__name__}")
        if len(edges) > MAX_EDGES:
            raise DataError(f"'edges' has {len(edges)} pairs; at most {MAX_EDGES} are read")
        for i, edge in enumerate(edges):
            _check_edge(i, edge, size)
        source, target = int_field(record, "source"), int_field(record, "target")
        for key, node in (("source", source), ("target", target)):
            if not 0 <= node < size:
                raise DataError(f"'{key}' {node} is out of range 0..{size - 1}")
        if source == target:
            raise DataError(f"'source' and 'target' are the same node ({source})")
        label = bool_field(record, "label")
        hops = optional_int(record, "hops", 1, MAX_NODES)
        if hops is not None and not label:
            raise DataError(f"'hops' must be null when 'label' is false, got {hops}")
        optional_int(record, "search_depth", 0, MAX_NODES)

    def verify(self, record: dict) -> None:
        """``label``, ``hops`` and ``search_depth`` against a breadth-first search of the edges."""
        dist = bfs_distances(record["num_nodes"], record["edges"], record["source"])
        reachable = record["target"] in dist
        if record["label"] != reachable:
            raise mismatch("label", record["label"], reachable, "a breadth-first search from 'source'")
        if reachable and record.get("hops") is not None and record["hops"] != dist[record["target"]]:
            raise mismatch("hops", record["hops"], dist[record["target"]], "the shortest path")
        depth = max(dist.values())
        if not reachable and record.get("search_depth") is not None and record["search_depth"] != depth:
            raise mismatch("search_depth", record["search_depth"], depth, "the breadth-first search")

    def node_targets(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return node_targets(inputs)

    def difficulty_key(self, record: dict) -> str:
        """Unreachable queries form a bucket of their own (their search depth is no hop count)."""
        return "unreachable" if record.get("label") is False else str(self.difficulty_of(record))

    def size_of(self, record: dict) -> int:
        return int(record["num_nodes"]) + len(record["edges"])  # a token per node, an attention edge per graph edge

    def difficulty_of(self, record: dict) -> int:
        """``hops`` for a reachable query, ``search_depth`` for an unreachable one (BFS if absent).

        A record labelled reachable whose target BFS cannot reach gets ``UNREACHABLE``.
        """
        if record["label"]:
            if record.get("hops") is not None:
                return int(record["hops"])
            dist = bfs_distances(record["num_nodes"], record["edges"], record["source"])
            return dist.get(record["target"], UNREACHABLE)
        if record.get("search_depth") is not None:
            return int(record["search_depth"])
        return max(bfs_distances(record["num_nodes"], record["edges"], record["source"]).values())


def bfs_distances(num_nodes: int, edges: list[list[int]], source: int) -> dict[int, int]:
    """Shortest-path distance from ``source`` to every node it reaches (``source`` itself: 0)."""
    out: list[list[int]] = [[] for _ in range(num_nodes)]
    for u, v in edges:
        out[u].append(v)
    dist = {source: 0}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in out[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def reachable_nodes(adj: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """bool (B, N): which nodes ``source`` reaches (itself included), for encoded ``adj``/``source``.

    Breadth-first over the whole batch at once: one hop per boolean matrix product, until no
    instance's reachable set grows (at most N - 1 products)."""
    B, N, _ = adj.shape
    reach = torch.zeros(B, N, dtype=torch.bool, device=adj.device)
    reach[torch.arange(B, device=adj.device), source] = True
    a = adj.float()
    for _ in range(N - 1):
        grown = reach | (torch.bmm(a, reach.float()[:, :, None])[..., 0] > 0)
        if torch.equal(grown, reach):
            break
        reach = grown
    return reach


def node_targets(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, N, 2): the class each node's state should read as, for the every-node loss —
    reachable from the source or not; none on the source itself and on padding."""
    keep = inputs["node_mask"].clone()
    keep[torch.arange(keep.shape[0], device=keep.device), inputs["source"]] = False
    reach = reachable_nodes(inputs["adj"], inputs["source"])
    return torch.stack([~reach, reach], dim=-1) & keep[..., None]


# ---- generation (vectorised over the batch) -----------------------------------------------------


def _mixture(families: dict | None, family: str | None) -> dict[str, float] | None:
    """The validated family weights of the two options (None: the chain construction alone)."""
    if family is not None:
        if families is not None:
            raise ValueError("give either 'family' (one family) or 'families' (a mixture), not both")
        return check_families({family: 1.0})
    return check_families(families)


def _sample(n, rng, difficulty, num_nodes: NumNodes, density: float, families: dict | None) -> Graphs:  # type: ignore[no-untyped-def]
    if families is None or set(families) == {"chain"}:
        return sample_chains(n, rng, difficulty, num_nodes, density)
    lo, hi = check_difficulty(difficulty)
    check_density(density)
    return sample_mixture(families, n, rng, lo, hi, num_nodes, density)


def _to_records(g: Graphs) -> list[dict]:
    # nonzero on (b, u, v) order dedups edges and lists them by tail, then head
    b, u, v = np.nonzero(g.adj.transpose(0, 2, 1))
    bounds = np.searchsorted(b, np.arange(g.adj.shape[0] + 1))
    pairs = np.stack([u, v], axis=1).tolist()
    records = []
    for i in range(g.adj.shape[0]):
        rec: dict[str, Any] = {
            "task": "graph",
            "num_nodes": int(g.num_nodes[i]),
            "edges": pairs[bounds[i] : bounds[i + 1]],
            "source": int(g.source[i]),
            "target": int(g.target[i]),
            "label": bool(g.label[i]),
            "hops": int(g.hops[i]) if g.label[i] else None,
        }
        if not g.label[i]:
            rec["search_depth"] = int(g.hops[i])
        records.append(rec)
    return records


def _batch(adj, node_mask, source, target, label, difficulty) -> Batch:  # type: ignore[no-untyped-def]
    inputs = {
        "adj": torch.from_numpy(np.ascontiguousarray(adj)),
        "node_mask": torch.from_numpy(np.ascontiguousarray(node_mask)),
        "source": torch.from_numpy(np.asarray(source, dtype=np.int64)),
        "target": torch.from_numpy(np.asarray(target, dtype=np.int64)),
    }
    labels = torch.from_numpy(np.asarray(label, dtype=np.int64))
    return Batch(inputs, labels, torch.from_numpy(np.asarray(difficulty, dtype=np.int64)))


# ---- validation helpers -------------------------------------------------------------------------


def _check_edge(i: int, edge: Any, size: int) -> None:
    if not isinstance(edge, list) or len(edge) != 2:
        raise DataError(f"edge {i} must be a pair [u, v], got {edge!r}")
    for node in edge:
        if type(node) is not int:
            raise DataError(f"edge {i} {edge!r}: node ids must be integers, got {node!r}")
        if not 0 <= node < size:
            raise DataError(f"edge {i} {edge!r}: node {node} is out of range 0..{size - 1}")
