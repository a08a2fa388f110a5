"""The graph training families and their mixture, checked against networkx as an independent solver."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch

from loopthink.cli import main as cli_main
from loopthink.config import load_config
from loopthink.tasks import DataError, get_task
from loopthink.tasks.graph_families import FAMILY_NAMES, all_pairs_distances
from tests.test_graph import _check_against_networkx, _digraph

MIXTURE = {name: 1.0 for name in FAMILY_NAMES}


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("difficulty", [(1, 8), (6, 6)])
def test_family_labels_and_hops_match_networkx(family, difficulty):
    task = get_task("graph")
    records = task.generate(200, 3, difficulty, family=family)
    for rec in records:
        task.validate(rec)
        _check_against_networkx(rec, chain_negatives=False)
        if rec["label"]:
            assert difficulty[0] <= rec["hops"] <= difficulty[1]
    assert sum(r["label"] for r in records) == 100  # exactly balanced


def test_mixture_is_balanced_reproducible_and_has_natural_negatives():
    task = get_task("graph")
    records = task.generate(1000, 11, (1, 8), families=MIXTURE)
    assert records == task.generate(1000, 11, (1, 8), families=MIXTURE)
    assert records != task.generate(1000, 12, (1, 8), families=MIXTURE)
    assert sum(r["label"] for r in records) == 500
    kinds = {"target_no_in_edges": 0, "source_no_out_edges": 0, "reverse_path": 0, "target_has_in_edges": 0}
    for rec in records:
        _check_against_networkx(rec, chain_negatives=False)
        if rec["label"]:
            continue
        g = _digraph(rec)
        kinds["target_no_in_edges"] += g.in_degree(rec["target"]) == 0
        kinds["target_has_in_edges"] += g.in_degree(rec["target"]) > 0
        kinds["source_no_out_edges"] += g.out_degree(rec["source"]) == 0
        kinds["reverse_path"] += nx.has_path(g, rec["target"], rec["source"])
    assert all(count >= 20 for count in kinds.values()), kinds


@pytest.mark.parametrize("families", [MIXTURE, {"er": 1.0}, {"paper": 2.0, "chain": 1.0}])
def test_sample_batch_matches_encode_of_generate(families):
    task = get_task("graph", families=families)
    batch = task.sample_batch(300, np.random.default_rng(4), (1, 8))
    enc = task.encode(task.generate(300, 4, (1, 8), families=families))
    for key in ("adj", "node_mask", "source", "target"):
        assert torch.equal(batch.inputs[key], enc.inputs[key])
    assert torch.equal(batch.labels, enc.labels) and torch.equal(batch.difficulty, enc.difficulty)


def test_chain_alone_is_the_default_construction():
    task = get_task("graph")
    assert task.generate(50, 2, (1, 8), families={"chain": 1.0}) == task.generate(50, 2, (1, 8))


def test_paper_family_follows_the_paper():
    records = get_task("graph").generate(400, 0, (1, 8), family="paper")
    for rec in records:
        h = rec["hops"] if rec["label"] else None
        if h is not None:
            assert max(h + 2, 10) <= rec["num_nodes"] <= min(max(h + 6, 16), 20)
            assert rec["num_nodes"] // 2 + h <= len(rec["edges"]) + rec["num_nodes"]  # path + distractors


def test_all_pairs_distances_match_networkx():
    rng = np.random.default_rng(0)
    out_adj = rng.random((20, 9, 9)) < 0.2
    out_adj[:, range(9), range(9)] = False
    dist = all_pairs_distances(out_adj)
    for b in range(20):
        g = nx.DiGraph(out_adj[b].astype(int))
        for s in range(9):
            want = nx.single_source_shortest_path_length(g, s)
            assert {t: int(d) for t, d in enumerate(dist[b, s]) if d >= 0} == want


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"families": {"erdos": 1.0}}, "unknown graph family 'erdos'"),
        ({"families": {"er": -1.0}}, "must be a number >= 0"),
        ({"families": {"er": 0, "dag": 0}}, "must not all be 0"),
        ({"families": [1, 2]}, "families"),
        ({"family": "er", "families": {"er": 1}}, "not both"),
        ({"family": "lattice"}, "unknown graph family 'lattice'"),
    ],
)
def test_bad_family_options_fail_by_name(options, message):
    with pytest.raises(DataError, match=message):
        get_task("graph", **options)


def test_shipped_config_mixture_is_valid():
    cfg = load_config("configs/graph.yaml")
    families = cfg.task.options["families"]
    assert set(families) <= set(FAMILY_NAMES) and families["chain"] > 0


def test_cli_writes_one_family(tmp_path):
    out = tmp_path / "grid.jsonl"
    assert cli_main(["data", "graph", "--n", "40", "--seed", "1", "--difficulty", "2..5", "--family", "grid", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records == get_task("graph").generate(40, 1, (2, 5), family="grid")


@pytest.fixture(scope="module")
def tiny_shipped_mixture_run(tmp_path_factory):
    """The tiny test model (conftest) trained on configs/graph.yaml's training graphs."""
    from loopthink.training.loop import train
    from tests.conftest import tiny_config

    torch.set_num_threads(2)
    options = load_config("configs/graph.yaml").task.options
    out = tmp_path_factory.mktemp("runs") / "tiny_mixture"
    train(tiny_config(task={"options": options}, train={"threads": 1}), out, progress=False)
    return out


def test_trained_model_calls_targets_without_in_edges_unreachable(tiny_shipped_mixture_run):
    """A target with no in-edges attends to itself alone, so its state follows one map of its own
    past in every graph; trained on the chain construction alone (every target has in-edges) that
    map ends on "reachable" for most of them. The shipped training graphs must teach it."""
    from loopthink.training.rundir import load_run

    _, model, task = load_run(tiny_shipped_mixture_run)
    negatives = [r for r in task.generate(400, 9, (1, 3)) if not r["label"]]
    cut = [dict(r, edges=[e for e in r["edges"] if e[1] != r["target"]]) for r in negatives]
    batch = task.encode(cut)
    with torch.no_grad():
        logits = model(batch.inputs, 8, generator=torch.Generator().manual_seed(0)).logits
    assert float((logits.argmax(-1) == 0).float().mean()) >= 0.95
