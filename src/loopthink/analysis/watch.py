"""One instance of a per-position task watched over the steps: after every step, is each position's
answer right, and how sure is the model of the right answer? The carry travelling along a sum, a
maze's path growing from S and G — ``loopthink watch`` draws it (:mod:`loopthink.plots.watch`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from loopthink.tasks import IGNORE, Task


@dataclass
class Watch:
    """Per step t = 1..T and real position: ``right`` (bool (T, L)) and ``confidence`` (T, L), the
    probability the readout gives the right class; ``coords`` (L, 2) row/col for a grid, else None."""

    right: np.ndarray
    confidence: np.ndarray
    labels: np.ndarray  # (L,) the right class per position
    tokens: np.ndarray  # (L,) the input token per position
    coords: np.ndarray | None

    def solved_at(self) -> int | None:
        """The first step after which every position is right and stays right; None if never."""
        wrong = np.flatnonzero(~self.right.all(1))
        if len(wrong) == 0:
            return 1
        return int(wrong[-1]) + 2 if wrong[-1] + 1 < len(self.right) else None

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.right),
            "positions": int(self.right.shape[1]),
            "solved_at": self.solved_at(),
            "exact_match": self.right.all(1).astype(int).tolist(),
            "position_accuracy": [round(float(v), 4) for v in self.right.mean(1)],
        }


@torch.no_grad()
def watch(model: nn.Module, task: Task, record: dict, steps: int, seed: int = 0) -> Watch:
    """Roll ``record`` out for ``steps`` steps (one rollout, every step's readout)."""
    if not task.per_position:
        raise ValueError(f"task {task.name!r} answers once per instance; watch draws per-position answers")
    batch = task.encode([record])
    gen = torch.Generator().manual_seed(seed)
    logits = model(batch.inputs, steps, generator=gen, return_step_logits=True).step_logits[:, 0]  # (T, L, C)
    real = batch.labels[0] != IGNORE
    labels = batch.labels[0][real]
    probs = logits[:, real].float().softmax(-1)
    confidence = probs.gather(-1, labels.expand(probs.shape[0], -1)[..., None])[..., 0]
    right = probs.argmax(-1) == labels
    inputs = batch.inputs
    coords = torch.stack([inputs["row"][0], inputs["col"][0]], -1)[real].numpy() if "row" in inputs and "col" in inputs else None
    return Watch(right.numpy(), confidence.numpy(), labels.numpy(), inputs["tokens"][0][real].numpy(), coords)
