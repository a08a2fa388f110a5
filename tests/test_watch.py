"""`loopthink watch` on a grid task: a maze run (a few iterations: the picture, not the accuracy,
is under test) draws its panels and writes per-step numbers that agree with a hand count."""

import json
import shutil

import numpy as np
import torch

from loopthink.analysis.watch import Watch, watch
from loopthink.cli import main
from loopthink.config import load_config
from loopthink.tasks import get_task
from loopthink.training.loop import train
from loopthink.training.rundir import load_run


def test_solved_at_is_the_step_from_which_every_position_stays_right():
    right = np.array([[0, 1], [1, 1], [1, 0], [1, 1], [1, 1]], dtype=bool)
    w = Watch(right, right.astype(float), np.zeros(2), np.zeros(2), None)
    assert w.solved_at() == 4 and w.summary()["exact_match"] == [0, 1, 0, 1, 1]
    assert Watch(right[:3], right[:3].astype(float), np.zeros(2), np.zeros(2), None).solved_at() is None


def test_watch_a_maze_through_the_cli(tmp_path, capsys):
    small = [
        "train.iters=2",
        "train.batch_size=4",
        "train.eval_every=2",
        "train.eval_n=4",
        "train.threads=1",
        "model.d_model=16",
        "model.d_ff=32",
    ]
    train(load_config("configs/maze.yaml", small), tmp_path / "run", progress=False)
    data = tmp_path / "m.jsonl"
    assert main(["data", "maze", "--n", "3", "--difficulty", "7..7", "--out", str(data)]) == 0
    assert main(["watch", str(tmp_path / "run"), "--data", str(data), "--index", "1", "--steps", "5", "--out", str(tmp_path / "w")]) == 0
    seen = json.loads((tmp_path / "w" / "watch.json").read_text())
    assert seen["positions"] == 49 and seen["steps"] == 5 and (tmp_path / "w" / "watch.png").stat().st_size > 0
    _, model, task = load_run(tmp_path / "run")
    record = [json.loads(line) for line in data.read_text().splitlines()][1]
    w = watch(model, task, record, 5)
    assert w.coords.shape == (49, 2) and seen["position_accuracy"] == [round(float(v), 4) for v in w.right.mean(1)]
    batch = task.encode([record])
    with torch.no_grad():  # step 5's answers, read straight off the model, match the picture's
        logits = model(batch.inputs, 5, generator=torch.Generator().manual_seed(0)).logits[0]
    assert np.array_equal((logits.argmax(-1) == batch.labels[0]).numpy(), w.right[-1])
    assert main(["watch", str(tmp_path / "run"), "--data", str(data), "--index", "9", "--out", str(tmp_path / "x")]) == 2
    assert "--index 9" in capsys.readouterr().err
    assert get_task("maze").per_position
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r0.html")]) == 0  # no watch yet: the command to make it
    assert "loopthink watch --data FILE" in (tmp_path / "r0.html").read_text()
    shutil.copytree(tmp_path / "w", tmp_path / "run" / "watch")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Watching it think" in page and 'alt="watch: watch.png"' in page
