"""Where training metrics go: ``train.loggers: [jsonl, tensorboard, wandb]``.

``metrics.jsonl`` in the run directory is always written and is the source of truth: every
command reads it, and a resumed run first truncates it to the checkpoint, so it equals an
uninterrupted run's. The other sinks mirror its rows as they are logged:

* ``tensorboard``: event files in ``RUN/tensorboard`` (``tensorboard --logdir RUN``), through
  ``torch.utils.tensorboard``; needs ``pip install 'loopthink[tensorboard]'``;
* ``wandb``: a Weights & Biases run in ``train.wandb_project``, its files under ``RUN/wandb``; the run
  id is derived from the run directory, so ``--resume`` continues the same W&B run. ``WANDB_MODE``
  (``offline``, ``disabled``) applies as usual; needs ``pip install 'loopthink[wandb]'``.

A resumed run re-logs the iterations after its checkpoint; the mirrors then hold those twice
(TensorBoard shows both, W&B keeps the later), the JSONL once.

A row is ``{"iter", "loss", "acc", "steps", "lr", "grad_norm", "time"}`` at a log step or
``{"iter", "val": {difficulty: accuracy}, "val_steps"}`` at a validation.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

from loopthink.config import ConfigError

SCALARS = ("loss", "acc", "steps", "lr", "grad_norm")


class Logger(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """A row as flat scalar names: ``train/loss`` ..., ``val/3`` (accuracy at difficulty 3)."""
    out = {f"train/{k}": float(row[k]) for k in SCALARS if k in row}
    out.update({f"val/{d}": float(a) for d, a in row.get("val", {}).items()})
    return out


class JsonlLogger:
    def __init__(self, path: Path):
        self.f = open(path, "a")

    def log(self, row: dict[str, Any]) -> None:
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class TensorBoardLogger:
    def __init__(self, logdir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.loggers: tensorboard needs the tensorboard package: pip install 'loopthink[tensorboard]'") from None
        self.writer = SummaryWriter(str(logdir))

    def log(self, row: dict[str, Any]) -> None:
        for name, value in scalars(row).items():
            self.writer.add_scalar(name, value, row["iter"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, run: Path, project: str, config: dict[str, Any]):
        try:
            import wandb
        except ImportError:
            raise ConfigError("train.loggers: wandb needs the wandb package: pip install 'loopthink[wandb]'") from None
        (run / "wandb").mkdir(parents=True, exist_ok=True)
        run_id = hashlib.sha1(str(run.resolve()).encode()).hexdigest()[:16]
        self.run = wandb.init(project=project, name=run.name, id=run_id, resume="allow", dir=str(run), config=config)

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(scalars(row), step=row["iter"])

    def close(self) -> None:
        self.run.finish()


class Loggers:
    """Every configured sink; ``log`` sends a row to each."""

    def __init__(self, sinks: list[Logger]):
        self.sinks = sinks

    def log(self, row: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.log(row)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def open_loggers(run: Path, names: list[str], wandb_project: str = "loopthink", config: dict[str, Any] | None = None) -> Loggers:
    """The sinks of ``train.loggers`` for the run directory ``run``; JSONL always, first."""
    sinks: list[Logger] = [JsonlLogger(run / "metrics.jsonl")]
    try:
        if "tensorboard" in names:
            sinks.append(TensorBoardLogger(run / "tensorboard"))
        if "wandb" in names:
            sinks.append(WandbLogger(run, wandb_project, config or {}))
    except BaseException:
        Loggers(sinks).close()
        raise
    return Loggers(sinks)
