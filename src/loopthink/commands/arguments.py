"""Helpers shared by the commands: task options as ``--name value`` and left-over ``key=value``
overrides (the argument types are :mod:`loopthink.commands.argtypes`)."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from loopthink.tasks import DataError


def task_options(extra: list[str]) -> dict[str, Any]:
    """``--num-nodes 8,24 --distractor-density 2`` -> {"num_nodes": [8, 24], ...} (values as YAML)."""
    opts: dict[str, Any] = {}
    it = iter(extra)
    for tok in it:
        if not tok.startswith("--"):
            raise DataError(f"unexpected argument {tok!r}")
        key, _, val = tok[2:].partition("=")
        if not val:
            val = next(it, None)
            if val is None:
                raise DataError(f"option --{key} needs a value")
        parsed = yaml.safe_load(val)
        if isinstance(parsed, str) and "," in parsed:
            parsed = [yaml.safe_load(v) for v in parsed.split(",")]
        opts[key.replace("-", "_")] = parsed
    return opts


def absorb_extra(extra: list[str], args: argparse.Namespace) -> None:
    """Arguments argparse left over: ``key=value`` overrides written after the options join
    ``args.overrides`` (where the command has them); anything else is an error."""
    overrides = getattr(args, "overrides", None)
    if extra and isinstance(overrides, list) and all("=" in t and not t.startswith("-") for t in extra):
        overrides += extra
        return
    if extra:
        raise DataError(f"unexpected arguments: {' '.join(extra)}")
