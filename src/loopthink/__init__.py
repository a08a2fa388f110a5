"""loopthink: depth-recurrent transformers. The Python API (``docs/api.md``)::

    from loopthink import LoopModel, ModelConfig, get_task, load_run, train_run, evaluate_records, register_task

Names are imported on first use, so ``import loopthink`` stays light (no torch until needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from loopthink.version import __version__

_API = {
    "LoopModel": "loopthink.model.core",
    "LoopOutput": "loopthink.model.core",
    "ModelConfig": "loopthink.config",
    "RunConfig": "loopthink.config",
    "load_config": "loopthink.config",
    "Task": "loopthink.tasks",
    "Batch": "loopthink.tasks",
    "get_task": "loopthink.tasks",
    "register_task": "loopthink.tasks",
    "task_names": "loopthink.tasks",
    "read_records": "loopthink.tasks.files",
    "write_records": "loopthink.tasks.files",
    "load_run": "loopthink.training.rundir",
    "train_run": "loopthink.api",
    "evaluate_records": "loopthink.analysis.accuracy",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'loopthink' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
