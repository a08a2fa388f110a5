"""Typed run configuration, loaded from YAML and validated before anything runs.

The sections (:mod:`loopthink.config.schema`) map one-to-one onto constructor arguments:
``model`` -> :class:`loopthink.model.LoopModel`, ``task`` -> :func:`loopthink.tasks.get_task`,
``train`` -> :func:`loopthink.training.loop.train`. Reading files and overrides is
:mod:`loopthink.config.loading`. Unknown keys and bad values fail with a message that names the
key (``model.d_model: ...``).
"""

from __future__ import annotations

from loopthink.config.loading import (
    RETIRED,
    ConfigError,
    config_from_dict,
    deep_merge,
    dump_config,
    load_config,
    parse_overrides,
)
from loopthink.config.schema import (
    DEVICE_PATTERN,
    MAX_DIFFICULTY,
    MAX_STEPS,
    EvalConfig,
    ModelConfig,
    RunConfig,
    StepsConfig,
    TaskConfig,
    TrainConfig,
)

__all__ = [
    "DEVICE_PATTERN", "MAX_DIFFICULTY", "MAX_STEPS", "RETIRED",
    "ConfigError", "EvalConfig", "ModelConfig", "RunConfig", "StepsConfig", "TaskConfig", "TrainConfig",
    "config_from_dict", "deep_merge", "dump_config", "load_config", "parse_overrides",
]  # fmt: skip
