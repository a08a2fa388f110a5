"""Reading a run config: YAML files (with ``base:`` chains), ``key=value`` overrides, bounds on
size, retired keys, and validation errors as one line that names each offending key
(``model.d_model: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from loopthink.config.schema import RunConfig


class ConfigError(ValueError):
    """A configuration is invalid. The message names the offending key."""


MAX_CONFIG_BYTES = 1024 * 1024  # a config file
MAX_CONFIG_NODES = 10_000  # values in a loaded config, counted through YAML aliases (a 1 KB alias bomb is billions)


def _format_error(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{loc}: {msg}")
    return "invalid config: " + "; ".join(lines)  # one line, every problem named


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {key}: {p!r} is not a section")
        d = nxt
    d[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["model.d_model=128", "train.steps.max=16"]`` -> nested dict; values parsed as YAML."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. train.iters=500)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: not a YAML value ({_yaml_problem(e)})") from None
        _set_dotted(out, key.strip(), value)
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_size(data: Any, where: str, budget: int = MAX_CONFIG_NODES) -> None:
    """ConfigError if ``data`` holds more than ``budget`` values, each alias counted again (so a
    YAML alias bomb is stopped after ``budget`` visits, not expanded)."""
    stack, seen = [data], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            raise ConfigError(f"{where}: more than {budget} values (YAML aliases counted each time they are used)")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


# Keys no longer settable, with the value now built in: a run directory written while they were
# still keys (its config.yaml lists every key) loads unchanged when it holds that value.
RETIRED: dict[tuple[str, ...], Any] = {
    ("train", "betas"): [0.9, 0.98],
    ("train", "eval_steps"): None,
    ("train", "steps", "sigma"): 0.5,
    # in-house probes, measured and not taken (docs/archive.md); off is what every run trained with
    ("model", "null_key"): False,
    ("model", "update_dropout_eval"): False,
    ("model", "state_noise"): 0.0,
    ("model", "latch"): False,
    ("model", "latch_bias"): -4.0,
    ("model", "latch_cost"): 0.0,
    ("model", "entity_state"): False,
    ("model", "readout_feedback"): "off",
    ("train", "steps", "follow_curriculum"): False,
    ("train", "node_loss_steps"): "final",
    ("train", "idle_prefix"): 0,
}


def _drop_retired(data: Any) -> Any:
    for path, builtin in RETIRED.items():
        node = data
        for sec in path[:-1]:
            node = node.get(sec) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        value = node[path[-1]]
        if (list(value) if isinstance(value, (list, tuple)) else value) != builtin:
            raise ConfigError(f"{'.'.join(path)}: no longer a setting (fixed at {builtin}), got {value!r}")
        data = _without(data, path)
    return data


def _without(d: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    head, rest = path[0], path[1:]
    return {k: _without(v, rest) if k == head and rest else v for k, v in d.items() if not (k == head and not rest)}


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    check_size(data, "config")
    data = _drop_retired(data)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from None


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as a dict. ``base: OTHER.yaml`` (relative to the file) is loaded first and
    this file's keys are merged over it, so a variant states only what it changes."""
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a config")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deep") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    check_size(data, str(path))
    base = data.pop("base", None)
    if base is None:
        return data
    return deep_merge(read_yaml(_base_path(path, base, seen[0] if seen else path), seen + (path,)), data)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line: the problem and where (PyYAML's own message spans several lines)."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _base_path(path: Path, base: Any, top: Path) -> Path:
    """``base:`` of ``path``: a relative .yaml/.yml file, within the directory above the chain's first
    file (``configs/baselines/x.yaml`` may use ``../graph.yaml``; nothing further out)."""
    if not isinstance(base, str) or not base.endswith((".yaml", ".yml")):
        raise ConfigError(f"{path}: base: expected a .yaml file name, got {base!r}")
    root = top.parent.parent
    target = (path.parent / base).resolve()
    if Path(base).is_absolute() or not target.is_relative_to(root):
        raise ConfigError(f"{path}: base: {base!r} is outside {root} (bases must sit beside the config or one folder up)")
    return target


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    data = read_yaml(Path(path))
    return config_from_dict(deep_merge(data, parse_overrides(overrides or [])))


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
