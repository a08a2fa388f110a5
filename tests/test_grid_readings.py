"""An evaluation ensemble of a maze model reads the grid in the square's eight orientations: the turns
are isometries, the ensemble equals reading eight turned maze files (built here from the strings) and
averaging back, and a grid task whose answer does not turn with the grid gets no turns."""

import json

import pytest
import torch

from loopthink.analysis.accuracy import ensemble_renumbering, evaluate_records, readings_over_steps
from loopthink.cli import main
from loopthink.config import load_config
from loopthink.model.build import build_model
from loopthink.tasks.maze import MazeTask
from loopthink.training.rundir import load_run

SMALL = ["model.d_model=16", "model.d_ff=32"]


def maze_model():
    torch.manual_seed(0)
    task = MazeTask()
    return build_model(load_config("configs/maze.yaml", SMALL), task).eval(), task


def test_the_eight_turns_are_distinct_isometries_of_the_grid():
    model, task = maze_model()
    inputs = task.encode(task.generate(2, 0, (7, 7))).inputs
    real = inputs["mask"][0]
    maps = []
    for member in range(8):
        turned = model.interface.renumbered(inputs, torch.Generator(), member)
        r, c = turned["row"][0][real], turned["col"][0][real]
        r0, c0 = inputs["row"][0][real], inputs["col"][0][real]
        # city-block distances between every pair of cells are kept, so neighbours stay neighbours
        d = (r[:, None] - r).abs() + (c[:, None] - c).abs()
        assert torch.equal(d, (r0[:, None] - r0).abs() + (c0[:, None] - c0).abs())
        assert torch.equal(turned["tokens"], inputs["tokens"])
        maps.append(tuple(torch.stack([r, c], 1).flatten().tolist()))
    assert maps[0] == tuple(torch.stack([r0, c0], 1).flatten().tolist())  # reading 0 is the plain one
    assert len(set(maps)) == 8


def turn(grid: list[list], member: int) -> list[list]:
    """The grid mirrored left-right when ``member`` >= 4, then turned a quarter clockwise ``member`` % 4 times."""
    if member >= 4:
        grid = [row[::-1] for row in grid]
    for _ in range(member % 4):
        grid = [[grid[len(grid) - 1 - j][i] for j in range(len(grid))] for i in range(len(grid[0]))]
    return grid


def turned_record(rec: dict, member: int) -> tuple[dict, list[int]]:
    """The maze written turned, and for each of its cells (row-major) the original cell's index."""
    side = len(rec["rows"])
    index = turn([[r * side + c for c in range(side)] for r in range(side)], member)
    where = {index[i][j]: (i, j) for i in range(side) for j in range(side)}
    rows = ["".join(row) for row in turn([list(row) for row in rec["rows"]], member)]
    path = [list(where[r * side + c]) for r, c in rec["path"]]
    return {"task": "maze", "rows": rows, "path": path}, [v for row in index for v in row]


def test_an_ensemble_of_turns_is_the_mean_over_turned_maze_files():
    model, task = maze_model()
    records = task.generate(6, 3, (7, 7))
    steps = [3, 5]
    (chunk, scores, _), *rest = readings_over_steps(model, task, records, steps, batch_size=64, ensemble=8)
    assert not rest and sorted(chunk) == list(range(6))
    expected = torch.zeros_like(scores)
    readings = []
    for member in range(8):
        for k, i in enumerate(chunk):
            turned, origin = turned_record(records[i], member)
            (_, logits, _), *_ = readings_over_steps(model, task, [turned], steps)
            probs = logits.float().softmax(-1)
            back = torch.zeros_like(probs)
            back[:, 0, origin] = probs[:, 0, : len(origin)]
            expected[:, k] += back[:, 0]
            readings.append(back)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert not torch.allclose(readings[0], readings[6 * 3], atol=1e-3)  # the orientations read differently


def test_turns_need_a_task_whose_answer_turns_with_the_grid(tmp_path, capsys):
    model, task = maze_model()
    fixed = type("FixedMaze", (MazeTask,), {"symmetric": False})()
    with pytest.raises(ValueError, match="ensemble needs"):
        ensemble_renumbering(model, 2, fixed)
    with pytest.raises(ValueError, match="8 turns"):
        ensemble_renumbering(model, 9, task)
    assert ensemble_renumbering(model, 8, task) is not None
    data = tmp_path / "m.jsonl"
    assert main(["data", "maze", "--n", "4", "--difficulty", "5..7", "--out", str(data)]) == 0
    run = tmp_path / "trained"
    tiny = [*SMALL, "train.iters=2", "train.batch_size=4", "train.eval_n=4", "train.threads=1"]
    assert main(["train", "configs/maze.yaml", *tiny, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--steps", "2,4", "--ensemble", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    _, trained, _ = load_run(run)
    records = [json.loads(line) for line in data.read_text().splitlines()]
    assert out == json.loads(json.dumps(evaluate_records(trained, task, records, [2, 4], ensemble=8)))
    assert main(["eval", str(run), "--data", str(data), "--steps", "2", "--ensemble", "9"]) == 2
    assert "8 turns" in capsys.readouterr().err
