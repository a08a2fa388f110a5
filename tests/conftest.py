"""Shared fixtures. ``tiny_graph_run`` trains one small graph model once per test session (~20 s)
so that evaluation, diagnostics and halting are tested on a model that really learned something."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from loopthink.config import config_from_dict

TINY = {
    "task": {"name": "graph", "train_difficulty": [1, 3]},
    "model": {"d_model": 32, "n_heads": 2, "d_ff": 64},
    "train": {
        "iters": 150,
        "batch_size": 64,
        "lr": 3e-3,
        "warmup": 10,
        "steps": {"mode": "uniform", "min": 4, "max": 6},
        "eval_every": 150,
        "eval_n": 64,
        "checkpoint_every": 50,
        "log_every": 10,
        "threads": 2,
    },
    "eval": {"steps": [1, 2, 4, 8]},
}


def tiny_dict(**sections) -> dict:
    """TINY with each given section's keys replaced (one level deep), as a plain dict."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    for key, val in sections.items():
        data[key] = {**data.get(key, {}), **val}
    return data


def tiny_config(**sections):
    return config_from_dict(tiny_dict(**sections))


@pytest.fixture(scope="session")
def tiny_graph_run(tmp_path_factory) -> Path:
    from loopthink.training.loop import train

    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("runs") / "tiny_graph"
    train(tiny_config(), out, progress=False)
    return out
