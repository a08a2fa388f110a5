"""Depth-recurrent model (core.py), task interfaces (interfaces.py), layers, and baselines."""

from __future__ import annotations

from torch import nn

from loopthink.config import RunConfig
from loopthink.model.core import LoopModel, LoopOutput
from loopthink.model.interfaces import Context
from loopthink.tasks import Task

__all__ = ["Context", "LoopModel", "LoopOutput", "build_model"]


def build_model(cfg: RunConfig, task: Task) -> nn.Module:
    """The model a run config describes (``arch``: the recurrent model or a baseline)."""
    vocab = len(task.vocab)
    if cfg.arch == "recurrent":
        return LoopModel(cfg.model, task.interface, task.num_classes, vocab)
    from loopthink.model.baselines import build_baseline

    return build_baseline(cfg, task, vocab)
