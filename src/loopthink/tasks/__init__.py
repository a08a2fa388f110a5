"""Procedural, seeded, verifiable task families. ``get_task(name, **options)`` builds one."""

from __future__ import annotations

import importlib
from typing import Any

from loopthink.tasks.base import UNREACHABLE, Batch, DataError, Task

# Lazy so that importing one task does not import the others.
_REGISTRY = {
    "graph": ("loopthink.tasks.graph", "GraphTask"),
    "logic": ("loopthink.tasks.logic", "LogicTask"),
    "text": ("loopthink.tasks.text", "TextTask"),
}
TASK_NAMES = tuple(_REGISTRY)


def task_class(name: str) -> type[Task]:
    if name not in _REGISTRY:
        raise DataError(f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def get_task(name: str, **options: Any) -> Task:
    return task_class(name)(options=options)


__all__ = ["UNREACHABLE", "Batch", "DataError", "Task", "TASK_NAMES", "get_task", "task_class"]
