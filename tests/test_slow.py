"""Opt-in (`make test-slow` / `pytest -m slow`): the shipped graph config trains to its documented
accuracy on the CPU, in and out of distribution. Takes several minutes."""

import pytest

from loopthink.analysis.accuracy import evaluate_records
from loopthink.config import load_config
from loopthink.training.loop import train
from loopthink.training.rundir import load_run


@pytest.mark.slow
def test_graph_config_reaches_the_frontier_targets(tmp_path):
    cfg = load_config("configs/graph.yaml")
    train(cfg, tmp_path / "graph", progress=False)
    _, model, task = load_run(tmp_path / "graph")
    inside = evaluate_records(model, task, task.generate(400, 1, (1, 8)), [16])
    assert inside["steps"]["16"]["accuracy"] >= 0.995
    beyond = evaluate_records(model, task, task.generate(400, 2, (9, 16)), [32, 64])
    assert max(v["accuracy"] for v in beyond["steps"].values()) >= 0.95
