"""Training and validation data read from a file (``task.train_data``, ``task.val_data``).

Without a file, training batches come from the task's generator (``batches.training_item``); with
one, :class:`FileData` serves them. Its order is a function of ``(seed, iteration)`` alone, as the
generated data is, so a run resumed from a checkpoint sees exactly what an uninterrupted run sees.

Order: the file is read as one endless stream of epochs, each a fresh permutation of all records
seeded by ``(seed, epoch)``; batch ``k`` holds stream positions ``[k * B, (k + 1) * B)`` (``B`` =
``train.batch_size``; under torchrun ``k = iteration * world + rank``). A batch can straddle two
epochs, so one epoch is ``N / (B * world)`` iterations and ``train.epochs: E`` means
``train.iters = ceil(E * N / (B * world))``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from loopthink.config import ConfigError, RunConfig
from loopthink.tasks import Batch, DataError, Task
from loopthink.tasks.files import read_records


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` records in epoch ``epoch``: a permutation seeded by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch, 0xDA7A]).permutation(n)


class FileData:
    """Training batches drawn from validated records, in the seeded order of the module docstring."""

    def __init__(self, task: Task, records: list[dict], batch_size: int, seed: int, world: int = 1):
        if not records:
            raise DataError("no training records")
        self.task, self.records, self.batch_size, self.seed, self.world = task, records, batch_size, seed, world
        self._orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def iters_for(self, epochs: float) -> int:
        """Iterations that make ``epochs`` passes over the records."""
        return max(1, math.ceil(epochs * len(self) / (self.batch_size * self.world)))

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            if len(self._orders) > 2:  # a batch spans at most two epochs; keep the cache small
                self._orders.pop(min(self._orders))
            self._orders[epoch] = epoch_order(self.seed, epoch, len(self))
        return self._orders[epoch]

    def indices(self, it: int, rank: int = 0) -> np.ndarray:
        """Record indices of the batch of iteration ``it`` on ``rank``."""
        n = len(self)
        start = (it * self.world + rank) * self.batch_size
        pos = np.arange(start, start + self.batch_size)
        return np.concatenate([self._order(e)[pos[pos // n == e] % n] for e in np.unique(pos // n)])

    def batch(self, it: int, rank: int = 0) -> Batch:
        return self.task.encode([self.records[i] for i in self.indices(it, rank)])


def training_data(task: Task, cfg: RunConfig, world: int = 1) -> FileData | None:
    """The file data of ``task.train_data``, validated up front; None when training on generated data."""
    if cfg.task.train_data is None:
        return None
    _, records = read_records(cfg.task.train_data, task.name)
    return FileData(task, records, cfg.train.batch_size, cfg.train.seed, world)


def with_epochs(cfg: RunConfig, data: FileData | None) -> RunConfig:
    """``cfg`` with ``train.iters`` set from ``train.epochs`` (unchanged when epochs is unset)."""
    if cfg.train.epochs is None:
        return cfg
    if data is None:
        raise ConfigError("train.epochs needs task.train_data (generated data has no epochs; set train.iters)")
    train = cfg.train.model_copy(update={"iters": data.iters_for(cfg.train.epochs)})
    return cfg.model_copy(update={"train": train})


def file_validation_sets(task: Task, path: str | Path) -> dict[int, Batch]:
    """The records of ``task.val_data`` as one encoded batch per difficulty."""
    _, records = read_records(path, task.name)
    by_difficulty: dict[int, list[dict]] = {}
    for rec in records:
        by_difficulty.setdefault(task.difficulty_of(rec), []).append(rec)
    return {d: task.encode(recs) for d, recs in sorted(by_difficulty.items())}
