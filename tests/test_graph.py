"""Graph reachability generator, checked against networkx as an independent solver."""

from __future__ import annotations

import copy
import json

import networkx as nx
import numpy as np
import pytest
import torch

from loopthink.tasks import UNREACHABLE, DataError, get_task
from loopthink.tasks.graph import GraphTask, reachable_nodes


def _digraph(rec: dict) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(rec["num_nodes"]))
    g.add_edges_from(map(tuple, rec["edges"]))
    return g


def _check_against_networkx(rec: dict, chain_negatives: bool = True) -> None:
    """Label, hops and search depth against networkx; ``chain_negatives``: an unreachable target
    is also entered by a chain and the source leads somewhere (the chain construction's negatives;
    the other families' natural negatives need not be)."""
    g = _digraph(rec)
    dist = nx.single_source_shortest_path_length(g, rec["source"])
    assert rec["source"] != rec["target"]
    assert (rec["target"] in dist) == rec["label"]
    if rec["label"]:
        assert dist[rec["target"]] == rec["hops"]
    else:
        assert rec["hops"] is None
        assert max(dist.values()) == rec["search_depth"]
        # not locally trivial: the target is entered by a chain, the source leads somewhere
        if chain_negatives:
            assert g.in_degree(rec["target"]) > 0 and g.out_degree(rec["source"]) > 0


@pytest.mark.parametrize(
    ("difficulty", "options"),
    [
        ((1, 1), {}),
        ((1, 8), {}),
        ((5, 12), {}),
        ((2, 4), {"num_nodes": 20, "distractor_density": 2.0}),
        ((3, 6), {"num_nodes": (14, 30), "distractor_density": 0.0}),
    ],
)
def test_labels_and_difficulty_match_networkx(difficulty, options):
    task = GraphTask()
    records = task.generate(300, seed=7, difficulty=difficulty, **options)
    lo, hi = difficulty
    for rec in records:
        task.validate(rec)
        _check_against_networkx(rec)
        assert lo <= task.difficulty_of(rec) <= hi
        assert not any(u == v for u, v in rec["edges"])
    assert sum(r["label"] for r in records) == 150


def test_positives_have_decoys():
    for rec in GraphTask().generate(100, seed=9, difficulty=(2, 6)):
        if not rec["label"]:
            continue
        g = _digraph(rec)
        reach = set(nx.descendants(g, rec["source"])) | {rec["source"]}
        outside = set(g) - reach
        assert len(outside) >= rec["hops"] + 1  # the decoy chain
        assert any(u in outside and v in reach for u, v in g.edges)  # edges into the reachable set
        decoy = g.subgraph(outside)  # holds a chain at least as long as the real path
        longest = max(max(nx.single_source_shortest_path_length(decoy, s).values()) for s in decoy)
        assert longest >= rec["hops"]


def test_sizes_follow_options():
    task = GraphTask()
    for rec in task.generate(200, seed=1, difficulty=(1, 8)):
        h = rec["hops"] if rec["label"] else rec["search_depth"]
        assert 2 * h + 2 <= rec["num_nodes"] <= 2 * h + 6
    sizes = {r["num_nodes"] for r in task.generate(200, seed=1, difficulty=(1, 3), num_nodes=(8, 10))}
    assert sizes == {8, 9, 10}
    with pytest.raises(ValueError, match="at least 18 nodes"):
        task.generate(4, seed=1, difficulty=(1, 8), num_nodes=12)


def test_same_seed_same_records():
    task = GraphTask()
    a = json.dumps(task.generate(64, seed=3, difficulty=(1, 8)))
    assert a == json.dumps(task.generate(64, seed=3, difficulty=(1, 8)))
    assert a != json.dumps(task.generate(64, seed=4, difficulty=(1, 8)))


def test_node_ids_are_shuffled():
    records = GraphTask().generate(400, seed=2, difficulty=(3, 3))
    sources = {r["source"] for r in records}
    targets = {r["target"] for r in records}
    assert len(sources) > 5 and len(targets) > 5


def _bfs_tensor(adj: torch.Tensor, source: int) -> dict[int, int]:
    """BFS straight on an encoded adjacency (adj[v, u] = edge u -> v)."""
    dist, frontier, d = {source: 0}, [source], 0
    while frontier:
        d += 1
        nxt = torch.nonzero(adj[:, frontier].any(dim=1)).flatten().tolist()
        frontier = [v for v in nxt if v not in dist]
        dist.update((v, d) for v in frontier)
    return dist


def test_sample_batch_matches_encode_and_bfs():
    task = get_task("graph")
    batch = task.sample_batch(256, np.random.default_rng(5), (1, 8))
    # generate and sample_batch draw from the same arrays: same seed, same batch
    enc = task.encode(task.generate(256, 5, (1, 8)))
    for key in ("adj", "node_mask", "source", "target"):
        assert batch.inputs[key].dtype == enc.inputs[key].dtype
        assert torch.equal(batch.inputs[key], enc.inputs[key])
    assert torch.equal(batch.labels, enc.labels) and torch.equal(batch.difficulty, enc.difficulty)
    assert batch.inputs["adj"].dtype == torch.bool and batch.labels.dtype == torch.long
    adj, mask = batch.inputs["adj"], batch.inputs["node_mask"]
    assert not adj.diagonal(dim1=1, dim2=2).any()
    assert int(batch.labels.sum()) == 128
    for b in range(len(batch)):
        n = int(mask[b].sum())
        assert mask[b, :n].all() and not mask[b, n:].any()
        assert not adj[b, n:].any() and not adj[b, :, n:].any()
        dist = _bfs_tensor(adj[b], int(batch.inputs["source"][b]))
        target = int(batch.inputs["target"][b])
        assert (target in dist) == bool(batch.labels[b])
        expect = dist[target] if target in dist else max(dist.values())
        assert expect == int(batch.difficulty[b])


def test_options_reach_sample_batch():
    task = get_task("graph", num_nodes=30, distractor_density=0.5)
    batch = task.sample_batch(8, np.random.default_rng(0), (2, 3))
    assert batch.inputs["adj"].shape == (8, 30, 30)
    with pytest.raises(ValueError, match="unknown option 'nodes'"):
        get_task("graph", nodes=30)


def test_encode_large_user_graph():
    rng = np.random.default_rng(0)
    n = 200
    path = rng.permutation(n)[:40].tolist()
    edges = [[u, v] for u, v in zip(path, path[1:])]
    edges += [[int(a), int(b)] for a, b in rng.integers(0, n, (300, 2))]
    big = {"task": "graph", "num_nodes": n, "edges": edges, "source": path[0], "target": path[-1]}
    big["label"] = True
    small = GraphTask().generate(3, seed=0, difficulty=(2, 2))
    batch = GraphTask().encode([big, *small])
    assert batch.inputs["adj"].shape == (4, 200, 200)
    assert batch.inputs["node_mask"].sum(1).tolist()[0] == 200
    hops = nx.shortest_path_length(_digraph(big), path[0], path[-1])
    assert batch.difficulty[0] == hops  # no "hops" key: computed by BFS
    e = edges[0]
    assert batch.inputs["adj"][0, e[1], e[0]]


def test_difficulty_of_computes_missing_keys():
    task = GraphTask()
    base = {"task": "graph", "num_nodes": 5, "edges": [[0, 1], [1, 2], [3, 4]], "source": 0}
    assert task.difficulty_of({**base, "target": 2, "label": True}) == 2
    assert task.difficulty_of({**base, "target": 4, "label": False}) == 2
    assert task.difficulty_of({**base, "target": 4, "label": True}) == UNREACHABLE


GOOD = {"task": "graph", "num_nodes": 4, "edges": [[0, 1], [1, 2]], "source": 0, "target": 2, "label": True, "hops": 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_nodes": None}, "'num_nodes' must be an integer"),
        ({"num_nodes": 4.0}, "'num_nodes' must be an integer, got float"),
        ({"num_nodes": True}, "'num_nodes' must be an integer, got bool"),
        ({"num_nodes": 1, "edges": [], "source": 0, "target": 0}, "at least 2"),
        ({"edges": {"0": 1}}, "'edges' must be a list"),
        ({"edges": [[0, 1], [1, 2, 3]]}, r"edge 1 must be a pair"),
        ({"edges": [[0, 1], [1, 4]]}, r"edge 1 \[1, 4\]: node 4 is out of range 0..3"),
        ({"edges": [[0, -1]]}, r"node -1 is out of range 0..3"),
        ({"edges": [[0, 1.0]]}, "node ids must be integers"),
        ({"source": 2}, "same node"),
        ({"target": 9}, r"'target' 9 is out of range 0..3"),
        ({"source": "0"}, "'source' must be an integer"),
        ({"label": 1}, "'label' must be true or false"),
        ({"hops": 2.5}, "'hops' must be an integer or null"),
        ({"hops": 0}, "'hops' must be at least 1"),
        ({"label": False}, "'hops' must be null when 'label' is false"),
        ({"task": "logic"}, "'task' must be 'graph'"),
    ],
)
def test_validate_rejects(change, message):
    rec = {**copy.deepcopy(GOOD), **change}
    with pytest.raises(DataError, match=message):
        GraphTask().validate(rec)


@pytest.mark.parametrize("key", ["num_nodes", "edges", "source", "target", "label"])
def test_validate_missing_key(key):
    rec = copy.deepcopy(GOOD)
    del rec[key]
    with pytest.raises(DataError, match=f"missing key '{key}'"):
        GraphTask().validate(rec)


def test_validate_accepts_extras_and_null_hops():
    GraphTask().validate({**GOOD, "hops": None, "note": "anything"})
    GraphTask().validate({**GOOD, "label": False, "hops": None, "search_depth": 2})


def test_reachable_nodes_match_networkx():
    """The batched BFS behind train.node_loss, on generated graphs and on random user graphs
    (cycles, self loops, several components), against networkx; it agrees with every label."""
    task = get_task("graph")
    rng = np.random.default_rng(3)
    records = task.generate(64, 3, (1, 8))
    for _i in range(32):
        n = int(rng.integers(2, 30))
        edges = rng.integers(0, n, size=(int(rng.integers(0, 2 * n)), 2)).tolist()
        source, target = (int(x) for x in rng.choice(n, 2, replace=False))
        label = target in nx.descendants(_digraph({"num_nodes": n, "edges": edges}), source)
        records.append({"num_nodes": n, "edges": edges, "source": source, "target": target, "label": label})
    batch = task.encode(records)
    reach = reachable_nodes(batch.inputs["adj"], batch.inputs["source"])
    for b, rec in enumerate(records):
        expect = nx.descendants(_digraph(rec), rec["source"]) | {rec["source"]}
        assert set(torch.nonzero(reach[b]).flatten().tolist()) == expect
    assert torch.equal(reach[torch.arange(len(records)), batch.inputs["target"]].long(), batch.labels)
