"""Crash-safe checkpoints: safetensors for tensors, JSON/YAML for everything else, never pickle.

A run directory looks like::

    runs/NAME/config.yaml           the validated config (YAML)
    runs/NAME/model.safetensors     latest weights (what eval/frontier/diagnose load; the moving
                                    average of the weights with train.ema)
    runs/NAME/metrics.jsonl         one JSON object per logged iteration / validation
    runs/NAME/checkpoint/           model + optimizer (+ average) + trainer.json, replaced as a whole

The checkpoint directory is written as ``checkpoint.tmp`` and swapped in by renames
(``checkpoint`` -> ``checkpoint.old``, ``checkpoint.tmp`` -> ``checkpoint``), with ``trainer.json``
written last, so a kill at any moment leaves at least one complete checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any, TextIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.optim.swa_utils import AveragedModel

from loopthink.atomic import atomic_copy, atomic_save_tensors, atomic_write_text
from loopthink.config import DEVICE_PATTERN, ConfigError, RunConfig, dump_config, load_config
from loopthink.model import build_model
from loopthink.tasks import get_task

CKPT, TMP, OLD = "checkpoint", "checkpoint.tmp", "checkpoint.old"
AVERAGE = "average.safetensors"  # in a checkpoint of a run with train.ema: the weights' moving average
LOCK_FILE = "train.lock"  # held by the one `loopthink train` writing into a run directory


class RunError(ValueError):
    """A run directory or checkpoint is missing, incomplete or does not match the model."""


def exclusive_lock(path: Path, busy: str) -> TextIO:
    """Hold an exclusive lock on ``path`` (created if missing) until the returned file is closed or
    the process dies; RunError(``busy``) if another process holds it. One writer per directory."""
    try:
        f = open(path, "w")
    except OSError as e:
        raise RunError(f"{path}: cannot create the lock file ({e.strerror})") from None
    try:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - not POSIX
        pass
    except OSError:
        f.close()
        raise RunError(busy) from None
    return f


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
def save_checkpoint(
    run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, trainer: dict[str, Any], average: AveragedModel | None = None
) -> None:
    """Write the checkpoint as ``checkpoint.tmp``, then the run's ``model.safetensors``, then swap.
    The weights go first so a crash never leaves a newer checkpoint beside older weights (a run
    that looks finished with stale weights); resuming rewrites them from the checkpoint anyway.

    ``average`` (``train.ema``): the moving average of the weights, kept in the checkpoint beside
    the trained weights and published as the run's ``model.safetensors`` in their place."""
    tmp = run / TMP
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        weights = model.state_dict()
        atomic_save_tensors(tmp / "model.safetensors", weights)
        if average is not None:
            atomic_save_tensors(tmp / AVERAGE, average.state_dict())
            weights = average.module.state_dict()
        opt_tensors, opt_meta = _optimizer_to_flat(opt)
        atomic_save_tensors(tmp / "optimizer.safetensors", opt_tensors)
        atomic_write_text(tmp / "trainer.json", json.dumps({**trainer, "optimizer": opt_meta}, indent=1))  # marks complete
        atomic_save_tensors(run / "model.safetensors", weights)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if (run / CKPT).exists():
        shutil.rmtree(run / OLD, ignore_errors=True)
        os.replace(run / CKPT, run / OLD)
    os.replace(tmp, run / CKPT)
    shutil.rmtree(run / OLD, ignore_errors=True)


def _trainer_state(ckpt: Path) -> dict[str, Any] | None:
    """``trainer.json`` of a checkpoint directory; None when missing or torn."""
    try:
        state = json.loads((ckpt / "trainer.json").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and type(state.get("iter")) is int else None


def latest_checkpoint(run: Path) -> Path | None:
    """The newest complete checkpoint directory (``checkpoint``, else ``checkpoint.old``), passing
    over one whose ``trainer.json`` is missing or torn."""
    for name in (CKPT, OLD):
        if _trainer_state(run / name) is not None:
            return run / name
    return None


def checkpointed_iteration(run: Path) -> int | None:
    """The iteration the newest complete checkpoint holds; None without one."""
    ckpt = latest_checkpoint(run)
    return None if ckpt is None else _trainer_state(ckpt)["iter"]  # type: ignore[index]


def load_checkpoint(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, average: AveragedModel | None = None) -> dict[str, Any]:
    """Load the newest checkpoint that reads back whole (else the previous one) into ``model``,
    ``opt`` and ``average``, and make the run's ``model.safetensors`` that checkpoint's weights
    (the average's, with one)."""
    problems = []
    for name in (CKPT, OLD):
        ckpt, trainer = run / name, _trainer_state(run / name)
        if trainer is None:
            problems.append(f"{ckpt}/trainer.json missing or torn")
            continue
        try:
            load_weights(ckpt / "model.safetensors", model)
            _optimizer_from_flat(opt, _read_tensors(ckpt / "optimizer.safetensors"), trainer.pop("optimizer"))
            if average is not None:
                load_weights(ckpt / AVERAGE, average)
        except (RunError, KeyError, ValueError, TypeError) as e:
            problems.append(f"{ckpt}: {e}")
            continue
        if average is not None:
            atomic_save_tensors(run / "model.safetensors", average.module.state_dict())
        else:
            atomic_copy(ckpt / "model.safetensors", run / "model.safetensors")
        return trainer
    raise RunError(f"{run}: no complete checkpoint to resume from ({'; '.join(problems)})")


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
    shapes = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
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
    run = Path(run)
    check_device(device)
    cfg = read_run_config(run)
    task = get_task(cfg.task.name, **cfg.task.options)
    model = build_model(cfg, task)
    load_weights(run / "model.safetensors", model)
    return cfg, model.to(device).eval(), task


def check_device(device: str) -> None:
    """RunError unless ``device`` names a device this machine has (``cpu``, ``cuda[:N]``, ``mps``)."""
    if not re.match(DEVICE_PATTERN, device):
        raise RunError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise RunError(f"device {device!r} is not available here ({torch.cuda.device_count()} CUDA device(s))")
    if device == "mps" and not torch.backends.mps.is_available():
        raise RunError("device 'mps' is not available here")


# What `train` (and `sweep`, train.log) put in a run directory before its config.yaml exists.
RUN_FILES = frozenset({"config.yaml", "metrics.jsonl", "model.safetensors", "train.log", "tensorboard", "wandb", LOCK_FILE, CKPT, TMP, OLD})


def open_run_dir(out: Path, resume: bool) -> Any:
    """Create ``out`` and take its lock (one ``train`` per run directory); refuse a file, a
    directory of other things, and, without ``resume``, a run that has a checkpoint."""
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: is a file; --out must name a run directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{out}: cannot create the run directory ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise RunError(f"{out}: the run directory is not writable")
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.endswith(".tmp"))
    if others and not (out / "config.yaml").is_file():  # a run may hold analysis outputs; anything else may not
        raise RunError(f"{out}: holds files that are not part of a run ({', '.join(others[:4])}); choose an empty or new --out")
    lock = exclusive_lock(out / LOCK_FILE, f"{out}: another `loopthink train` is writing to this run directory")
    if not resume and ((out / CKPT).exists() or (out / OLD).exists()):
        lock.close()
        raise RunError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and latest_checkpoint(out) is None:
        lock.close()
        raise RunError(f"{out}: nothing to resume (no complete checkpoint)")
    return lock


def truncate_metrics(path: Path, upto: int) -> None:
    """Drop rows logged after the checkpoint we resume from, so the resumed log equals an uninterrupted one."""
    if not path.exists():
        return
    rows = [ln for ln in path.read_text(errors="replace").splitlines() if _row_iter(ln) <= upto]
    atomic_write_text(path, "".join(r + "\n" for r in rows))


def _row_iter(line: str) -> float:
    """A metrics row's iteration; infinite (dropped) for a torn or foreign line."""
    try:
        row = json.loads(line)
    except ValueError:
        return math.inf
    return row.get("iter", 0) if isinstance(row, dict) and type(row.get("iter", 0)) is int else math.inf
