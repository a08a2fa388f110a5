"""Task knowledge lives with the task: no module outside ``tasks/`` names a task, and each task
states what the rest of the library asks of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from loopthink.model.interfaces import INTERFACES
from loopthink.tasks import IGNORE, TASK_NAMES, get_task

SRC = Path(__file__).resolve().parents[1] / "src" / "loopthink"


def test_no_module_outside_tasks_names_a_task():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "tasks":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in TASK_NAMES:
                hits.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not hits, "task names outside tasks/:\n" + "\n".join(hits)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_states_its_interface_buckets_and_node_labels(name):
    task = get_task(name)
    assert task.interface in INTERFACES
    assert 0.0 <= task.heatmap_floor < 1.0
    records = task.generate(16, 3, (5, 7) if name == "maze" else (1, 3))  # the smallest maze has side 5
    keys = [task.difficulty_key(r) for r in records]
    assert all(k == str(task.difficulty_of(r)) or not k.isdigit() for k, r in zip(keys, records))
    batch = task.encode(records)
    if task.per_position:  # its labels are per position already: (B, L), IGNORE on padding only
        assert batch.labels.shape == batch.padding_mask().shape
        assert torch.equal(batch.labels != IGNORE, batch.padding_mask())
        return
    allowed = task.node_targets(batch.inputs)
    assert allowed.shape[:2] == batch.padding_mask().shape and allowed.shape[2] == task.num_classes
    assert allowed.any()


def test_graph_reports_unreachable_queries_in_a_bucket_of_their_own():
    task = get_task("graph")
    records = task.generate(20, 1, (1, 3))
    keys = {r["label"]: task.difficulty_key(r) for r in records}
    assert keys[False] == "unreachable" and keys[True].isdigit()
