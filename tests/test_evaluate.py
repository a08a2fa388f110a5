"""Evaluation, frontier and compare: metrics on known cases, one-pass == per-T passes, CLI outputs."""

import csv
import json

import numpy as np
import pytest

from loopthink.analysis.accuracy import difficulty_keys, evaluate_records, predict_over_steps
from loopthink.analysis.frontier import frontier_line
from loopthink.analysis.stats import wilson_interval
from loopthink.checkpoint import load_run
from loopthink.cli import main
from loopthink.tasks.formats import write_jsonl


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 0) == (0.0, 1.0)


def test_frontier_line_known_rows():
    rows = [
        {"steps": s, "difficulty": d, "accuracy": a}
        for s, d, a in [(1, 1, 0.97), (2, 1, 0.99), (1, 2, 0.5), (2, 2, 0.96), (1, 3, 0.5), (2, 3, 0.6)]
    ]
    assert frontier_line(rows) == {1: 1, 2: 2, 3: None}


def test_one_rollout_reads_every_step_count(tiny_graph_run):
    _, model, task = load_run(tiny_graph_run)
    records = task.generate(120, 5, (1, 4))
    steps = [1, 2, 4, 8]
    together = predict_over_steps(model, task, records, steps, batch_size=50)
    for j, s in enumerate(steps):  # same seeded initial states -> identical predictions
        assert np.array_equal(together[j], predict_over_steps(model, task, records, [s], batch_size=50)[0])
    res = evaluate_records(model, task, records, steps)
    assert set(res["by_difficulty"]) == set(difficulty_keys(task, records)) and "unreachable" in res["by_difficulty"]
    assert res["steps"]["8"]["accuracy"] > 0.85  # trained on hops 1..3 with 4..6 steps


def test_eval_frontier_compare_cli(tiny_graph_run, tmp_path, capsys):
    _, _, task = load_run(tiny_graph_run)
    data = tmp_path / "d.jsonl"
    write_jsonl(data, task.generate(60, 9, (1, 3)))
    assert (
        main(["eval", str(tiny_graph_run), "--data", str(data), "--steps", "2,6", "--json", "--halt", "convergence", "--max-steps", "12"])
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 60 and set(res["steps"]) == {"2", "6"}
    assert 1 <= res["halting"]["mean_steps"] <= 12 and 0 <= res["halting"]["accuracy"] <= 1

    out = tmp_path / "front"
    assert main(["frontier", str(tiny_graph_run), "--steps", "1,2,4", "--difficulty", "1..4", "--n-per-cell", "40", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "frontier.csv")))
    assert list(rows[0]) == ["steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"] and len(rows) == 12
    assert all(float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"]) for r in rows)
    assert (out / "frontier.png").stat().st_size > 1000 and (out / "frontier.svg").exists()
    assert "smallest steps" in capsys.readouterr().out

    cmp = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(tiny_graph_run),
                str(tiny_graph_run),
                "--labels",
                "a,b",
                "--difficulty",
                "1..3",
                "--n",
                "30",
                "--candidates",
                "2,4",
                "--out",
                str(cmp),
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert [c["label"] for c in res["runs"]] == ["a", "b"] and res["runs"][0]["accuracy"] == res["runs"][1]["accuracy"]
    assert (cmp / "compare.png").exists()
