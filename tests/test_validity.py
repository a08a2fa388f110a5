"""External-validity families and the ``loopthink validity`` report."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from loopthink.analysis.accuracy import labels_of, predict_over_steps
from loopthink.analysis.validity import family_seed
from loopthink.cli import main as cli_main
from loopthink.tasks import DataError, external, get_task
from loopthink.tasks.external import EXTERNAL_MODULES, external_families
from loopthink.tasks.graph import bfs_distances
from loopthink.training.rundir import load_run


def test_external_families_registry(monkeypatch):
    graph = external_families("graph")
    assert len(graph) >= 7 and "paper" in graph
    from loopthink.tasks.external.graph_nx import HELD_OUT

    assert set(HELD_OUT) < set(graph)
    monkeypatch.setitem(EXTERNAL_MODULES, "text", "loopthink.tasks.external.not_merged_yet")
    assert external.external_families("text") == {}
    with pytest.raises(DataError, match="no external families for task 'chess'"):
        external_families("chess")


@pytest.mark.parametrize("family", sorted(external_families("graph")))
def test_graph_nx_records_are_valid_and_balanced(family):
    task = get_task("graph")
    records = external_families("graph")[family](24, 5, (1, 4))
    assert records == external_families("graph")[family](24, 5, (1, 4))
    per_bucket = Counter((r["bucket"], r["label"]) for r in records)
    assert all(per_bucket[(b, True)] == per_bucket[(b, False)] for b, _ in per_bucket)
    for rec in records:
        task.validate(rec)
        dist = bfs_distances(rec["num_nodes"], rec["edges"], rec["source"])  # loopthink's BFS, not networkx
        assert (rec["target"] in dist) == rec["label"]
        if rec["label"]:
            assert dist[rec["target"]] == rec["hops"]
        if family != "paper":
            assert rec["bucket"] == (rec["hops"] if rec["label"] else rec["search_depth"])
        if family == "paper":
            h = rec["bucket"]
            assert max(h + 2, 10) <= rec["num_nodes"] <= min(max(h + 6, 16), 20)


def test_validity_report_matches_an_independent_count(tiny_graph_run, tmp_path, capsys):
    out = tmp_path / "validity"
    args = [
        "validity",
        str(tiny_graph_run),
        "--difficulty",
        "1..3",
        "--n-per-cell",
        "12",
        "--steps",
        "2,4",
        "--families",
        "gnp,paper",
        "--out",
        str(out),
    ]
    assert cli_main(args) == 0
    err = capsys.readouterr().err  # one progress line per finished family
    assert "validity: gnp done (36 records; 1 of 2 families)" in err and "paper done" in err
    data = json.loads((out / "validity.json").read_text())
    assert (out / "validity.png").exists() and (out / "validity.svg").exists()
    with open(out / "validity.csv") as f:
        assert len(list(csv.DictReader(f))) == len(data["rows"])

    _, model, task = load_run(tiny_graph_run)
    fams = external_families("graph")
    for name in ("gnp", "paper"):
        records = fams[name](36, family_seed(0, name), (1, 3))
        preds = predict_over_steps(model, task, records, [2, 4])
        labels = labels_of(task, records)
        for d in (1, 2, 3):
            idx = [i for i, r in enumerate(records) if r["bucket"] == d]
            right = [sum(int(preds[j, i] == labels[i]) for i in idx) for j in range(2)]
            best = 0 if right[0] >= right[1] else 1
            for c, label in enumerate(task.classes):
                mine = [i for i in idx if labels[i] == c]
                row = next(r for r in data["rows"] if (r["family"], r["label"], r["difficulty"]) == (name, label, d))
                assert row["n"] == len(mine) and row["steps"] == [2, 4][best]
                assert row["correct"] == sum(int(preds[best, i] == labels[i]) for i in mine)


def test_validity_rejects_unknown_family(tiny_graph_run, tmp_path, capsys):
    assert cli_main(["validity", str(tiny_graph_run), "--families", "gnp,moebius", "--out", str(tmp_path)]) == 2
    assert "unknown graph families moebius" in capsys.readouterr().err
