"""Metric sinks: JSONL always; TensorBoard and W&B (offline) mirror its rows."""

import pytest

from loopthink.config import ConfigError
from loopthink.training.loggers import open_loggers, scalars
from loopthink.training.loop import train
from tests.conftest import tiny_config
from tests.test_train import metrics

SHORT = {"iters": 8, "log_every": 2, "eval_every": 4, "checkpoint_every": 8, "threads": 1}


def test_scalars_flatten_log_and_validation_rows():
    assert scalars({"iter": 4, "loss": 0.5, "acc": 0.75, "steps": 5, "lr": 0.001, "grad_norm": 1.5, "time": 2.0}) == {
        "train/loss": 0.5,
        "train/acc": 0.75,
        "train/steps": 5.0,
        "train/lr": 0.001,
        "train/grad_norm": 1.5,
    }
    assert scalars({"iter": 4, "val": {"1": 0.9, "2": 0.5}, "val_steps": 6}) == {"val/1": 0.9, "val/2": 0.5}


def test_tensorboard_mirrors_the_jsonl_rows(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tiny_config(train={**SHORT, "loggers": ["jsonl", "tensorboard"]}), tmp_path / "run", progress=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    rows = metrics(tmp_path / "run")
    for tag, key in (("train/loss", "loss"), ("train/acc", "acc")):
        got = [(e.step, round(e.value, 4)) for e in events.Scalars(tag)]
        assert got == [(r["iter"], round(r[key], 4)) for r in rows if key in r]
    val = [(e.step, round(e.value, 4)) for e in events.Scalars("val/2")]
    assert val == [(r["iter"], round(r["val"]["2"], 4)) for r in rows if "val" in r] and len(val) == 2


def test_wandb_offline_run_is_written_beside_the_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(tiny_config(train={**SHORT, "loggers": ["wandb"], "wandb_project": "tests"}), tmp_path / "run", progress=False)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    assert [r["iter"] for r in metrics(tmp_path / "run") if "loss" in r] == [2, 4, 6, 8]  # JSONL stays on


def test_a_missing_sink_package_is_a_config_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match=r"pip install 'loopthink\[tensorboard\]'"):
        open_loggers(tmp_path, ["jsonl", "tensorboard"])
