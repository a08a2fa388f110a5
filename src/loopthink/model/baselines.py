"""Baselines trained with the same data, budget, loop and evaluation as the recurrent model.

``RunConfig.arch`` picks one; ``RunConfig.baseline`` holds its settings (validated here, errors
name the key: ``baseline.layers: must be >= 1``). Every baseline is a :class:`SteppedModel` with
LoopModel's ``forward(inputs, steps, *, bptt, h0, generator, frozen, return_step_logits,
return_states, keep_steps)`` -> :class:`LoopOutput`, built on the same ``iterate`` loop, so training,
``loopthink eval`` and the trajectory diagnostics run unchanged.

One convention holds for every arch: ``step_logits[t]`` is what the model answers when allowed
``t + 1`` steps (so evaluation can read all step budgets from one rollout):

* ``transformer``: untied layers of a fixed depth (``fixed_depth.py``, :class:`FixedDepthTransformer`);
* ``act``: Universal Transformer + Adaptive Computation Time (``act.py``, :class:`ACTModel`);
* ``ponder``: PonderNet (``ponder.py``, :class:`PonderNetModel`).

``act`` and ``ponder`` need ``train.loss: final`` (they bring their own objective), and no
baseline supports ``train.loss: progressive`` (its restart from a detached state is specific to
the recurrent model).
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from loopthink.config import ConfigError, ModelConfig, RunConfig
from loopthink.model.act import ACTModel
from loopthink.model.core import LoopModel
from loopthink.model.fixed_depth import FixedDepthTransformer
from loopthink.model.interfaces import build_interface
from loopthink.model.layers import Block
from loopthink.model.ponder import PonderNetModel

# ---- settings ------------------------------------------------------------------------------
# key -> (type, default, check, description of the check)
_Spec = tuple[type, Any, Any, str]
SETTINGS: dict[str, dict[str, _Spec]] = {
    "transformer": {
        "layers": (int, None, lambda v: v >= 1, "must be >= 1"),
        "match": (str, "none", lambda v: v in ("none", "params"), "must be 'none' or 'params'"),
    },
    "act": {
        "tau": (float, 0.01, lambda v: v >= 0, "must be >= 0"),
        "eps": (float, 0.01, lambda v: 0 < v < 1, "must be in (0, 1)"),
        "halt_bias": (float, 1.0, lambda v: math.isfinite(v), "must be finite"),
        "halted": (str, "copy", lambda v: v in ("copy", "continue"), "must be 'copy' or 'continue'"),
    },
    "ponder": {
        "beta": (float, 0.01, lambda v: v >= 0, "must be >= 0"),
        "lambda_p": (float, 0.2, lambda v: 0 < v < 1, "must be in (0, 1)"),
    },
}


def baseline_settings(cfg: RunConfig) -> dict[str, Any]:
    """``cfg.baseline`` checked against ``cfg.arch``, with defaults filled in."""
    arch = cfg.arch
    if arch not in SETTINGS:
        raise ConfigError(f"arch: {arch!r} is not a baseline (one of {', '.join(SETTINGS)})")
    spec = SETTINGS[arch]
    for key in cfg.baseline:
        if key not in spec:
            raise ConfigError(f"baseline.{key}: unknown key for arch={arch} (known: {', '.join(spec)})")
    out: dict[str, Any] = {}
    for key, (typ, default, check, what) in spec.items():
        v = cfg.baseline.get(key, default)
        if v is None and default is None:
            out[key] = None
            continue
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or isinstance(v, bool):
            raise ConfigError(f"baseline.{key}: expected {typ.__name__}, got {v!r}")
        if not check(v):
            raise ConfigError(f"baseline.{key}: {what}, got {v!r}")
        out[key] = v
    loss = cfg.train.loss
    if loss == "progressive":
        raise ConfigError(f"train.loss: 'progressive' is for arch=recurrent only, not arch={arch}")
    if arch in ("act", "ponder") and loss != "final":
        raise ConfigError(f"train.loss: must be 'final' for arch={arch} (it brings its own objective), got {loss!r}")
    return out


def build_baseline(cfg: RunConfig, task: Any, vocab_size: int = 0) -> nn.Module:
    """The baseline model ``cfg.arch`` describes (``cfg.baseline`` holds its settings)."""
    s = baseline_settings(cfg)
    if cfg.arch == "transformer":
        layers = s["layers"] if s["layers"] is not None else cfg.train.steps.max
        mcfg = cfg.model
        if s["match"] == "params":
            target = count_params(LoopModel(cfg.model, task.interface, task.num_classes, vocab_size))
            mcfg = match_width(cfg.model, task.interface, task.num_classes, vocab_size, layers, target)
        return FixedDepthTransformer(mcfg, task.interface, task.num_classes, vocab_size, layers, task.per_position)
    if cfg.arch == "act":
        return ACTModel(cfg.model, task.interface, task.num_classes, vocab_size, task.per_position, **s)
    return PonderNetModel(cfg.model, task.interface, task.num_classes, vocab_size, task.per_position, **s)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def match_width(mcfg: ModelConfig, interface: str, num_classes: int, vocab_size: int, layers: int, target: int) -> ModelConfig:
    """Width for a ``layers``-deep transformer with about ``target`` parameters.

    Depth is kept (the hop tasks need one layer per hop, so trading depth for width would make a
    strawman); ``n_heads`` and the ratio ``d_ff / d_model`` are kept; ``d_model`` runs over the
    multiples of ``2 * n_heads`` (heads divide it, head dim even) and the one whose exact
    parameter count is closest to ``target`` wins.
    """
    step = 2 * mcfg.n_heads
    ratio = mcfg.d_ff / mcfg.d_model

    def dims(d: int) -> tuple[int, int]:
        return d, max(1, round(d * ratio))

    def count(d: int) -> int:
        d, ff = dims(d)
        iface = count_params(build_interface(interface, mcfg, vocab_size, d))
        block = count_params(Block(d, mcfg.n_heads, ff, 0.0, mcfg.layerscale))
        return iface + layers * block + 2 * d + (d + 1) * num_classes  # + final LayerNorm + head

    best, d = None, step
    while True:
        c = count(d)
        if best is None or abs(c - target) < abs(best[1] - target):
            best = (d, c)
        if c >= target:
            break
        d += step
    d, ff = dims(best[0])
    return mcfg.model_copy(update={"d_model": d, "d_ff": ff})
