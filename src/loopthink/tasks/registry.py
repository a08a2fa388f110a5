"""The registry of task families: the only list of task names.

Three sources, looked up in this order:

* :func:`register_task` calls in this process (a notebook, a script, a test);
* the entry-point group ``loopthink.tasks`` of every installed package, ``NAME = "module:Class"``
  (loopthink's own tasks are declared there too; see ``docs/tasks.md`` for a plug-in package);
* the built-in table below, so a source checkout that is not pip-installed still has its tasks.

Classes are imported on first use, so importing one task does not import the others.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points

from loopthink.tasks.base import DataError, Task

GROUP = "loopthink.tasks"
BUILTIN = {
    "graph": "loopthink.tasks.graph:GraphTask",
    "logic": "loopthink.tasks.logic:LogicTask",
    "text": "loopthink.tasks.text:TextTask",
    "prefix_sums": "loopthink.tasks.prefix_sums:PrefixSumsTask",
    "addition": "loopthink.tasks.addition:AdditionTask",
    "maze": "loopthink.tasks.maze:MazeTask",
}
_REGISTERED: dict[str, type[Task]] = {}


@lru_cache(maxsize=1)
def installed() -> dict[str, str]:
    """``{name: "module:Class"}`` of the ``loopthink.tasks`` entry points (read once; ``installed.cache_clear()`` rereads)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def task_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*BUILTIN, *installed(), *_REGISTERED]))


def register_task(name: str, cls: type[Task]) -> type[Task]:
    """Make ``cls`` the task ``name`` in this process (``task.name: NAME`` in configs, ``loopthink data NAME``).

    Registering another class under a taken name is an error; the same class again is a no-op."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise DataError(f"register_task({name!r}, ...): expected a subclass of loopthink.tasks.Task, got {cls!r}")
    if getattr(cls, "name", name) != name:
        raise DataError(f"register_task({name!r}, ...): the class says its name is {cls.name!r}")
    known = _REGISTERED.get(name)
    if known is None and name in task_names():
        known = task_class(name)
    if known is not None and known is not cls:
        raise DataError(f"task {name!r} is already registered ({known.__module__}.{known.__qualname__})")
    cls.name = name
    _REGISTERED[name] = cls
    return cls


def _load(name: str, target: str) -> type[Task]:
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise DataError(f"task {name!r}: cannot load {target!r} ({e})") from None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise DataError(f"task {name!r}: {target!r} is not a subclass of loopthink.tasks.Task")
    if getattr(cls, "name", None) != name:
        raise DataError(f"task {name!r}: {target!r} says its name is {getattr(cls, 'name', None)!r}")
    return cls


def task_class(name: str) -> type[Task]:
    if name in _REGISTERED:
        return _REGISTERED[name]
    target = installed().get(name) or BUILTIN.get(name)
    if target is None:
        raise DataError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _load(name, target)
