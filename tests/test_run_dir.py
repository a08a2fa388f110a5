"""A run directory stays consistent under crashes, torn files, concurrent writers and full disks."""

import errno
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from loopthink import atomic
from loopthink.training.loop import train
from loopthink.training.rundir import CKPT, LOCK_FILE, OLD, RunError, exclusive_lock, latest_checkpoint, load_run
from tests.conftest import tiny_config

FAST = {"iters": 12, "checkpoint_every": 4, "eval_every": 6, "log_every": 2, "threads": 1, "batch_size": 16, "eval_n": 16}


def fast_config(**train_keys):
    return tiny_config(train={**FAST, **train_keys})


def rows(run):
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in (run / "metrics.jsonl").read_text().splitlines()]


def same_tensors(a, b):
    ta, tb = load_file(str(a)), load_file(str(b))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    train(fast_config(), out, progress=False)
    return out


def test_stale_weights_of_a_finished_run_are_repaired_on_resume(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    early = tmp_path / "early"
    train(fast_config(), early, progress=False, stop_at=4)
    shutil.copy(early / "model.safetensors", run / "model.safetensors")  # a crash left older weights beside
    assert not same_tensors(run / "model.safetensors", run / CKPT / "model.safetensors")
    train(fast_config(), run, resume=True, progress=False)
    assert same_tensors(run / "model.safetensors", run / CKPT / "model.safetensors")


@pytest.mark.parametrize("fail_at", range(6))
def test_a_crash_at_any_file_operation_of_a_checkpoint_leaves_a_consistent_run(reference, tmp_path, monkeypatch, fail_at):
    """The k-th rename of the final save_checkpoint fails (as a kill would stop it there); resuming
    then finishes with the reference's metrics and weights that match the checkpoint."""
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=8)
    calls, real_replace = [0], os.replace

    def failing_replace(src, dst):
        calls[0] += 1
        if calls[0] == fail_at + 1:
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(), run, resume=True, progress=False)
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert latest_checkpoint(run) is not None
    load_run(run)
    train(fast_config(), run, resume=True, progress=False)
    assert rows(run) == rows(reference)
    assert same_tensors(run / "model.safetensors", reference / "model.safetensors")
    assert not list(run.rglob("*.tmp"))


def test_torn_trainer_json_falls_back_to_the_previous_checkpoint(reference, tmp_path):
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=4)
    shutil.copytree(run / CKPT, tmp_path / "at4")
    train(fast_config(), run, progress=False, resume=True, stop_at=8)
    shutil.copytree(tmp_path / "at4", run / OLD)  # the previous checkpoint, as left mid-swap
    (run / CKPT / "trainer.json").write_text('{"iter": 8, "va')  # torn
    assert latest_checkpoint(run) == run / OLD
    train(fast_config(), run, resume=True, progress=False)
    assert rows(run) == rows(reference)


def test_torn_trainer_json_without_a_previous_checkpoint_is_a_one_line_error(tmp_path):
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=4)
    (run / CKPT / "trainer.json").write_text("{")
    with pytest.raises(RunError, match="nothing to resume"):
        train(fast_config(), run, resume=True, progress=False)
    with pytest.raises(RunError, match="already holds a run"):  # and a fresh start does not overwrite it
        train(fast_config(), run, progress=False)


def test_torn_last_metrics_line_is_dropped_on_resume(reference, tmp_path):
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=8)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"iter": 9, "lo')
    train(fast_config(), run, resume=True, progress=False)
    assert rows(run) == rows(reference)


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=4)
    before = (run / "metrics.jsonl").read_text()
    holder = exclusive_lock(run / LOCK_FILE, "busy")
    try:
        with pytest.raises(RunError, match="another `loopthink train`"):
            train(fast_config(), run, resume=True, progress=False)
    finally:
        holder.close()
    assert (run / "metrics.jsonl").read_text() == before
    train(fast_config(), run, resume=True, progress=False)  # released: the resume goes ahead


def test_out_that_is_a_file_or_a_foreign_directory_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        train(fast_config(), tmp_path / "f", progress=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not part of a run"):
        train(fast_config(), tmp_path / "home", progress=False)
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["notes.txt"]


def test_disk_full_during_a_checkpoint_leaves_no_temp_file_and_the_run_resumes(reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(fast_config(), run, progress=False, stop_at=4)
    real = atomic.fsync_write

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "fsync_write", full)
    with pytest.raises(OSError, match="No space left"):
        train(fast_config(), run, resume=True, progress=False)
    monkeypatch.setattr(atomic, "fsync_write", real)
    assert not list(run.rglob("*.tmp")) and latest_checkpoint(run) == run / CKPT
    train(fast_config(), run, resume=True, progress=False)
    assert rows(run) == rows(reference)
