"""``loopthink sweep --launcher submitit`` through submitit's local executor: the local launcher's
run layout, a half-trained run resumed by its job, finished runs skipped on a second call."""

import pytest

from loopthink.cli import main
from loopthink.config import load_config
from loopthink.training.loop import train
from tests.test_sweep import ITERS, sweep_json, write_config
from tests.test_train import metrics

submitit = pytest.importorskip("submitit")


def test_submitit_sweep_has_the_local_layout_and_resumes(tmp_path):
    config = write_config(tmp_path / "c.yaml")
    out = tmp_path / "S"
    train(load_config(config, ["train.seed=1"]), out / "seed1", progress=False, stop_at=ITERS // 2)  # as if a job timed out
    args = ["sweep", str(config), "--seeds", "0,1", "--launcher", "submitit", "--cluster", "local", "--wait", "--out", str(out)]
    assert main(args) == 0, sweep_json(out)
    plan = sweep_json(out)
    assert plan["launcher"] == "submitit" and plan["status"] == "finished"
    assert [(r["dir"], r["status"], r["action"]) for r in plan["runs"]] == [
        ("seed0", "finished", "trained"),
        ("seed1", "finished", "resumed"),
    ]
    assert all(r["job_id"] and set(r["val"]) == {"1", "2", "3"} for r in plan["runs"])
    train(load_config(config, ["train.seed=1"]), tmp_path / "whole", progress=False)
    assert metrics(out / "seed1") == metrics(tmp_path / "whole")  # the resumed job equals an uninterrupted run
    assert main(args) == 0  # everything finished: nothing is submitted again
    assert [r["action"] for r in sweep_json(out)["runs"]] == ["skipped", "skipped"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["seed0", "seed1", "submitit"]
