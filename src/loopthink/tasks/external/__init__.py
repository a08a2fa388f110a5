"""Test sets from generators written outside loopthink's own, for external validity.

Each task's module (``EXTERNAL_MODULES``) defines ``FAMILIES``: family name -> ``fn(n, seed,
difficulty)`` returning ``n`` records (or fewer where the family has no instance of some
difficulty) in the task's documented JSONL format (``docs/formats.md``), with balanced labels
where the task has two. A record may carry ``bucket``, the difficulty it was generated for;
``loopthink validity`` groups by it, else by the task's own ``difficulty_of``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from loopthink.tasks.base import DataError

Family = Callable[[int, int, tuple[int, int]], list[dict]]

EXTERNAL_MODULES = {
    "graph": "loopthink.tasks.external.graph_nx",
    "text": "loopthink.tasks.external.text_stories",
    "logic": "loopthink.tasks.external.logic_infix",
    "prefix_sums": "loopthink.tasks.external.prefix_sums_other",
    "addition": "loopthink.tasks.external.addition_other",
    "maze": "loopthink.tasks.external.maze_other",
}


def external_families(task_name: str) -> dict[str, Family]:
    """The external families of ``task_name``, imported on first use; {} where it has none yet."""
    if task_name not in EXTERNAL_MODULES:
        raise DataError(f"no external families for task {task_name!r}; known: {', '.join(EXTERNAL_MODULES)}")
    module = EXTERNAL_MODULES[task_name]
    try:
        return dict(importlib.import_module(module).FAMILIES)
    except ModuleNotFoundError as e:
        if e.name != module:  # the module exists but one of its own imports is missing
            raise
        return {}


__all__ = ["EXTERNAL_MODULES", "Family", "external_families"]
