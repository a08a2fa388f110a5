"""Crash-safe checkpoints: safetensors for tensors, JSON/YAML for everything else, never pickle.

A run directory looks like::

    runs/NAME/config.yaml           the validated config (YAML)
    runs/NAME/model.safetensors     latest weights (what eval/frontier/diagnose load)
    runs/NAME/metrics.jsonl         one JSON object per logged iteration / validation
    runs/NAME/checkpoint/           model + optimizer + trainer.json, replaced as a whole

The checkpoint directory is written as ``checkpoint.tmp`` and swapped in by renames
(``checkpoint`` -> ``checkpoint.old``, ``checkpoint.tmp`` -> ``checkpoint``), with ``trainer.json``
written last, so a kill at any moment leaves at least one complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from loopthink.config import ConfigError, RunConfig, dump_config, load_config

CKPT, TMP, OLD = "checkpoint", "checkpoint.tmp", "checkpoint.old"


class RunError(ValueError):
    """A run directory or checkpoint is missing, incomplete or does not match the model."""


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    _fsync_write(tmp, text.encode())
    os.replace(tmp, path)


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---- optimizer state <-> flat tensors + JSON ------------------------------------------------
def _optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors = {f"state.{idx}.{name}": t for idx, st in sd["state"].items() for name, t in st.items() if torch.is_tensor(t)}
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = t
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# ---- run directory ---------------------------------------------------------------------------
def save_checkpoint(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, trainer: dict[str, Any]) -> None:
    tmp = run / TMP
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = model.state_dict()
    atomic_save_tensors(tmp / "model.safetensors", weights)
    opt_tensors, opt_meta = _optimizer_to_flat(opt)
    atomic_save_tensors(tmp / "optimizer.safetensors", opt_tensors)
    atomic_write_text(tmp / "trainer.json", json.dumps({**trainer, "optimizer": opt_meta}, indent=1))  # last: marks complete
    if (run / CKPT).exists():
        shutil.rmtree(run / OLD, ignore_errors=True)
        os.replace(run / CKPT, run / OLD)
    os.replace(tmp, run / CKPT)
    shutil.rmtree(run / OLD, ignore_errors=True)
    atomic_save_tensors(run / "model.safetensors", weights)


def latest_checkpoint(run: Path) -> Path | None:
    """The newest complete checkpoint directory (``checkpoint``, else ``checkpoint.old``)."""
    for name in (CKPT, OLD):
        if (run / name / "trainer.json").is_file():
            return run / name
    return None


def checkpointed_iteration(run: Path) -> int | None:
    """The iteration the newest complete checkpoint holds; None without one."""
    ckpt = latest_checkpoint(run)
    return None if ckpt is None else json.loads((ckpt / "trainer.json").read_text())["iter"]


def load_checkpoint(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise RunError(f"{run}: no complete checkpoint to resume from")
    trainer = json.loads((ckpt / "trainer.json").read_text())
    load_weights(ckpt / "model.safetensors", model)
    _optimizer_from_flat(opt, _read_tensors(ckpt / "optimizer.safetensors"), trainer.pop("optimizer"))
    return trainer


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise RunError(f"{path}: unreadable safetensors file ({e})") from None


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load weights, naming missing, unexpected and mis-shaped tensors instead of a PyTorch traceback."""
    if not path.is_file():
        raise RunError(f"{path}: no weights file")
    tensors = _read_tensors(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected[:8])}{' ...' if len(unexpected) > 8 else ''}")
    if shapes:
        problems.append("shape mismatch: " + "; ".join(shapes[:8]))
    if problems:
        raise RunError(f"{path} does not match the model ({'; '.join(problems)})")
    model.load_state_dict(tensors)


def write_run_config(run: Path, cfg: RunConfig) -> None:
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / "config.yaml", dump_config(cfg))


def read_run_config(run: str | Path) -> RunConfig:
    run = Path(run)
    if not run.is_dir():
        raise RunError(f"{run}: not a directory (expected a run directory made by `loopthink train`)")
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run}: not a run (no config.yaml)")
    try:
        return load_config(run / "config.yaml")
    except ConfigError as e:
        raise RunError(f"{run}/config.yaml: {e}") from None


def load_run(run: str | Path, device: str = "cpu") -> tuple[RunConfig, torch.nn.Module, Any]:
    """(config, model in eval mode, task) of a trained run directory."""
    from loopthink.model import build_model
    from loopthink.tasks import get_task

    run = Path(run)
    cfg = read_run_config(run)
    task = get_task(cfg.task.name, **cfg.task.options)
    model = build_model(cfg, task)
    load_weights(run / "model.safetensors", model)
    return cfg, model.to(device).eval(), task
