"""Shared checks of the per-position tasks' tests (prefix_sums, addition, maze): a bad record read
through ``loopthink check`` is one ``FILE:LINE`` error with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from loopthink.cli import main
from loopthink.tasks import IGNORE, Batch
from loopthink.tasks.formats import read_jsonl, write_jsonl


def check_rejects(tmp_path: Path, capsys, good: dict, bad: dict, expect: str) -> None:
    """``loopthink check`` on a file of ``good`` then ``bad``: exit non-zero, one error naming
    line 2 and containing ``expect``."""
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    rc = main(["check", str(path)])
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err, err
    lines = [x for x in err.strip().splitlines() if not x.startswith("loopthink ")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:2: "), err
    assert expect in lines[0], err


def round_trip(tmp_path: Path, records: list[dict]) -> list[dict]:
    """The records written with ``write_jsonl`` and read back (validated and verified)."""
    path = tmp_path / "r.jsonl"
    write_jsonl(path, records)
    _, back = read_jsonl(path)
    assert back == records
    return back


def assert_same_batch(a: Batch, b: Batch) -> None:
    assert a.inputs.keys() == b.inputs.keys()
    for key in a.inputs:
        assert torch.equal(a.inputs[key], b.inputs[key]), key
    assert torch.equal(a.labels, b.labels) and torch.equal(a.difficulty, b.difficulty)


def assert_padding_ignored(batch: Batch) -> None:
    """Labels (B, L) like the tokens; IGNORE exactly where the mask is False; zeros in the inputs there."""
    mask = batch.inputs["mask"]
    assert batch.labels.shape == mask.shape and batch.labels.dtype == torch.long
    assert torch.equal(batch.labels == IGNORE, ~mask)
    for key, value in batch.inputs.items():
        if key != "mask":
            assert value.dtype == torch.long and value.shape == mask.shape, key
            assert not value[~mask].any(), key
