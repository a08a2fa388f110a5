"""Kill a real training process at arbitrary moments (checkpoint writes included) and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml

from loopthink.training.rundir import latest_checkpoint, load_run
from tests.conftest import TINY


def write_config(path):
    cfg = json.loads(json.dumps(TINY))
    cfg["train"].update(iters=60, checkpoint_every=1, eval_every=30, log_every=1, threads=1)
    path.write_text(yaml.safe_dump(cfg))
    return path


def train_cmd(config, out, resume=False):
    return [sys.executable, "-m", "loopthink.cli", "train", str(config), "--out", str(out), "--no-progress"] + (
        ["--resume"] if resume else []
    )


def rows(run):
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_killed_run_resumes_to_the_same_result(tmp_path):
    config = write_config(tmp_path / "c.yaml")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ref = tmp_path / "ref"
    first = subprocess.run(train_cmd(config, ref), env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr

    run = tmp_path / "run"
    kills = 0
    for delay in (4.0, 1.3, 2.1, 0.7):  # seconds after start: lands in steps and checkpoint writes alike
        proc = subprocess.Popen(
            train_cmd(config, run, resume=latest_checkpoint(run) is not None), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        ckpt = latest_checkpoint(run)
        if ckpt is not None:  # whatever survived is complete and loadable
            json.loads((ckpt / "trainer.json").read_text())
            load_run(run)
    assert kills >= 1
    done = subprocess.run(train_cmd(config, run, resume=latest_checkpoint(run) is not None), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert rows(run) == rows(ref)
