"""Depth-recurrent model (core.py) with its config beside it (config.py), task interfaces
(interfaces.py), layers, and baselines.

The names below load on first use (PEP 562): the run config (:mod:`loopthink.config`) composes
:class:`~loopthink.model.config.ModelConfig`, so importing this package must not import the run
config back before it exists.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Context", "LoopModel", "LoopOutput", "ModelConfig", "build_model"]
_WHERE = {
    "Context": "loopthink.model.interfaces",
    "LoopModel": "loopthink.model.core",
    "LoopOutput": "loopthink.model.core",
    "ModelConfig": "loopthink.model.config",
    "build_model": "loopthink.model.build",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'loopthink.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
