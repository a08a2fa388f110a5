"""Procedural, seeded, verifiable task families. ``get_task(name, **options)`` builds one;
:mod:`loopthink.tasks.registry` lists them (built-ins, entry points, :func:`register_task`)."""

from __future__ import annotations

from typing import Any

from loopthink.tasks.base import IGNORE, UNREACHABLE, Batch, DataError, Task
from loopthink.tasks.registry import BUILTIN, register_task, task_class, task_names

TASK_NAMES = tuple(BUILTIN)  # the built-in tasks; task_names() adds plug-ins


def get_task(name: str, **options: Any) -> Task:
    return task_class(name)(options=options)


__all__ = ["IGNORE", "UNREACHABLE", "Batch", "DataError", "Task", "TASK_NAMES", "get_task", "register_task", "task_class", "task_names"]
