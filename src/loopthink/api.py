"""Entry points of the Python API that are not one library function already (see ``docs/api.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopthink.config import RunConfig, config_from_dict, deep_merge, load_config, parse_overrides


def as_config(config: RunConfig | Mapping[str, Any] | str | Path, overrides: list[str] | None = None) -> RunConfig:
    """A run config from a :class:`RunConfig`, a dict of its sections, or a YAML file, with
    ``key=value`` overrides applied (``["train.iters=500"]``), validated."""
    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    data = config.model_dump(mode="json") if isinstance(config, RunConfig) else dict(config)
    return config_from_dict(deep_merge(data, parse_overrides(overrides or [])))


def train_run(
    config: RunConfig | Mapping[str, Any] | str | Path,
    out: str | Path,
    overrides: list[str] | None = None,
    *,
    resume: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train a run into the directory ``out``, as ``loopthink train CONFIG --out OUT`` does;
    returns ``{"iter", "val", "last", "seconds"}`` (``val``: accuracy per validation difficulty).
    Load the result with :func:`loopthink.load_run`."""
    from loopthink.training.loop import train

    return train(as_config(config, overrides), out, resume=resume, progress=progress)
