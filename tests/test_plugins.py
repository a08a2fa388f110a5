"""Plug-in tasks: a task defined outside src/ (tests/plugins/parity_task.py) registers, trains,
evaluates and draws its frontier through the CLI; entry points register a package's tasks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loopthink.cli import main
from loopthink.config import ConfigError, config_from_dict
from loopthink.tasks import DataError, Task, get_task, register_task, task_names
from loopthink.tasks.formats import read_jsonl
from tests.conftest import tiny_dict
from tests.plugins.parity_task import ParityTask

ROOT = Path(__file__).resolve().parents[1]
# The shared tiny recipe on the plug-in task, with 128 validation instances per length for the
# accuracy check below (and one thread, checkpoints and log rows less often).
PARITY = tiny_dict(task={"name": "parity"}, train={"eval_n": 128, "checkpoint_every": 150, "log_every": 50, "threads": 1})


def draw_frontier(tmp_path, difficulty: str, n_per_cell: int) -> dict:
    """``loopthink frontier`` of tmp_path/run at T = 1 and 4 into tmp_path/fr: its grid."""
    out = tmp_path / "fr"
    argv = [
        "frontier",
        str(tmp_path / "run"),
        "--steps",
        "1,4",
        "--difficulty",
        difficulty,
        "--n-per-cell",
        str(n_per_cell),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    return json.loads((out / "frontier.json").read_text())


def test_parity_task_trains_evaluates_and_draws_its_frontier_through_the_cli(tmp_path, capsys):
    register_task("parity", ParityTask)
    assert "parity" in task_names()
    (tmp_path / "parity.yaml").write_text(yaml.safe_dump(PARITY))
    data = tmp_path / "test.jsonl"
    assert main(["data", "parity", "--n", "200", "--difficulty", "1..6", "--seed", "7", "--out", str(data), "--p-one", "0.5"]) == 0
    assert main(["train", str(tmp_path / "parity.yaml"), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "validation accuracy at T=6: length 1 " in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r["val"] for r in rows if "val" in r][-1]
    assert set(val) == {"1", "2", "3"} and val["1"] >= 0.9, val  # length 1 is learned in 150 iterations; chance is 0.5
    assert main(["eval", str(tmp_path / "run"), "--data", str(data), "--steps", "2,6", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 and set(result["by_difficulty"]) == {str(d) for d in range(1, 7)}
    grid = draw_frontier(tmp_path, "1..5", n_per_cell=40)
    assert grid["task"] == "parity" and grid["difficulty_name"] == "length" and len(grid["rows"]) == 10
    assert (tmp_path / "fr" / "frontier.png").stat().st_size > 0


def test_task_names_are_checked_against_the_registry():
    with pytest.raises(ConfigError, match=r"task\.name: .*unknown task 'nope'; known tasks: graph, logic, text"):
        config_from_dict({"task": {"name": "nope", "train_difficulty": [1, 2]}})

    class Graph(ParityTask):
        name = "graph"

    with pytest.raises(DataError, match=r"task 'graph' is already registered \(loopthink\.tasks\.graph\.GraphTask\)"):
        register_task("graph", Graph)
    with pytest.raises(DataError, match="subclass of loopthink.tasks.Task"):
        register_task("thing", dict)

    class Renamed(Task):
        name = "other"

    with pytest.raises(DataError, match="says its name is 'other'"):
        register_task("thing", Renamed)


def test_an_installed_package_registers_through_its_entry_point(tmp_path):
    """A distribution on the path with ``[loopthink.tasks] parity = ...`` is found without any
    register_task call (a fresh process, so nothing is registered in-process)."""
    dist = tmp_path / "parity_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: parity-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[loopthink.tasks]\nparity = tests.plugins.parity_task:ParityTask\n")
    code = (
        "from loopthink.tasks import task_names, get_task; from loopthink.cli import main; "
        f"assert 'parity' in task_names(); raise SystemExit(main(['data', 'parity', '--n', '5', '--difficulty', '2..4', '--out', {str(tmp_path / 'p.jsonl')!r}]))"
    )
    env_path = f"{tmp_path}:{ROOT}:{ROOT / 'src'}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(r["task"] == "parity" and 2 <= len(r["bits"]) <= 4 for r in rows)
    assert get_task("graph").name == "graph"  # built-ins resolve whether or not the package is installed


def test_a_per_position_plug_in_trains_evaluates_and_draws_its_frontier_through_the_cli(tmp_path, capsys):
    """tests/plugins/running_max_task.py answers at every token: the loss covers every labelled
    position, eval reports the exact match as accuracy with the per-position accuracy beside it."""
    from tests.plugins.running_max_task import RunningMaxTask

    register_task("running_max", RunningMaxTask)
    spec = tiny_dict(task={"name": "running_max", "train_difficulty": [1, 4]}, train={"iters": 150, "eval_n": 64, "threads": 1})
    (tmp_path / "rm.yaml").write_text(yaml.safe_dump(spec))
    data = tmp_path / "test.jsonl"
    assert main(["data", "running_max", "--n", "100", "--difficulty", "1..6", "--seed", "3", "--out", str(data)]) == 0
    assert main(["check", str(data)]) == 0
    assert main(["train", str(tmp_path / "rm.yaml"), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--data", str(data), "--steps", "1,4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    step = result["steps"]["4"]
    assert result["n"] == 100 and set(result["by_difficulty"]) == {str(d) for d in range(1, 7)}
    # exact match never exceeds the share of positions right; length 1 is learned (chance: 1/4 per position)
    assert 0 <= step["accuracy"] <= step["position_accuracy"] <= 1 and result["by_difficulty"]["1"]["4"] >= 0.9, result
    grid = draw_frontier(tmp_path, "1..3", n_per_cell=20)
    assert grid["task"] == "running_max" and len(grid["rows"]) == 6
    assert main(["watch", str(tmp_path / "run"), "--data", str(data), "--index", "2", "--steps", "6", "--out", str(tmp_path / "w")]) == 0
    seen = json.loads((tmp_path / "w" / "watch.json").read_text())
    n = len(read_jsonl(data)[1][2]["digits"])
    assert seen["steps"] == 6 and seen["positions"] == n and len(seen["position_accuracy"]) == 6
    assert (tmp_path / "w" / "watch.png").stat().st_size > 0
