"""The model a run config describes: the recurrent model or one of its baselines."""

from __future__ import annotations

from torch import nn

from loopthink.config import RunConfig
from loopthink.model.baselines import build_baseline
from loopthink.model.core import LoopModel
from loopthink.tasks import Task


def build_model(cfg: RunConfig, task: Task) -> nn.Module:
    """The model ``cfg`` describes (``arch``: the recurrent model or a baseline)."""
    vocab = len(task.vocab)
    if cfg.arch == "recurrent":
        return LoopModel(cfg.model, task.interface, task.num_classes, vocab, task.per_position)
    return build_baseline(cfg, task, vocab)
