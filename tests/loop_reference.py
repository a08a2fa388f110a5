"""Seeded tiny models of every arch, run through every path that iterates the recurrence (forward
with every option, the training losses and their gradients, ``rollout``, ``halt``). The outputs
were recorded once, as a SHA-256 of each tensor's bytes (plus its shape and sum, to read a failure
by), in ``tests/loop_reference.json`` by the code before the single-loop rewrite;
``tests/test_loop_reference.py`` checks that today's code reproduces every one bit for bit.
The digests are of float32 CPU kernels with one thread: a CPU with other vector units may differ
in the last bits, and then the test says so rather than passing on a tolerance.

Regenerate (only when a numerical change is intended): ``python -m tests.loop_reference``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from loopthink.analysis.halting import KLRule, halt
from loopthink.analysis.trajectory import rollout
from loopthink.config import config_from_dict
from loopthink.model import build_model
from loopthink.tasks import get_task
from loopthink.training.losses import compute_loss

PATH = Path(__file__).with_suffix(".json")
ARCHS = ("recurrent", "transformer", "act", "ponder")
TASKS = ("graph", "logic", "text")
# (name, model overrides, arch) variants of the recurrent core worth their own reference
VARIANTS = {
    "recurrent": {"layerscale": 1.0},
    "recurrent_concat_depth": {"layerscale": 1.0, "injection": "concat", "depth_embedding": 8, "gate": False},
    "transformer": {"layerscale": 1.0},
    "act": {"layerscale": 1.0},
    "act_continue": {"layerscale": 1.0},
    "ponder": {"layerscale": 1.0},
}
ARCH_OF = {"recurrent_concat_depth": "recurrent", "act_continue": "act"}
BASELINE = {"act": {"halt_bias": -1.0}, "act_continue": {"halted": "continue", "halt_bias": -1.0}, "transformer": {"layers": 3}}


def _config(task: str, variant: str, loss: str = "final", node_loss: float = 0.0):
    arch = ARCH_OF.get(variant, variant)
    return config_from_dict(
        {
            "task": {"name": task, "train_difficulty": [1, 3]},
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "dropout": 0.1, "max_entities": 24, **VARIANTS[variant]},
            "train": {"loss": loss, "node_loss": node_loss, "steps": {"max": 4, "bptt": 2}},
            "arch": arch,
            "baseline": BASELINE.get(variant, {}),
        }
    )


def _model(task_name: str, variant: str, **train):
    cfg = _config(task_name, variant, **train)
    task = get_task(task_name)
    torch.manual_seed(0)
    return cfg, task, build_model(cfg, task)


def _fields(prefix: str, out, into: dict[str, torch.Tensor]) -> None:
    for name in ("logits", "step_logits", "states", "final_state", "aux_loss", "halt_steps", "halt_probs", "ponder_logits"):
        v = getattr(out, name, None)
        if v is not None:
            into[f"{prefix}.{name}"] = v.detach().clone()


def outputs() -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    ref: dict[str, torch.Tensor] = {}
    for task_name in TASKS:
        for variant in VARIANTS:
            key = f"{task_name}.{variant}"
            cfg, task, m = _model(task_name, variant)
            batch = task.sample_batch(6, np.random.default_rng(1), (1, 4))
            inp = batch.inputs
            m.eval()
            gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
            _fields(f"{key}.fwd", m(inp, 5, generator=gen(), return_step_logits=True, return_states="pooled"), ref)
            frozen = torch.tensor([True, False, False, True, False, False])
            _fields(f"{key}.frozen", m(inp, 4, generator=gen(), frozen=frozen, return_states="full"), ref)
            h0 = m(inp, 2, generator=gen()).final_state
            _fields(f"{key}.h0", m(inp, 3, h0=h0, return_step_logits=True), ref)
            traj = rollout(m, inp, 5, generator=gen())
            for f in ("step_logits", "pooled", "rel_change", "mean_state", "max_token_change"):
                ref[f"{key}.rollout.{f}"] = getattr(traj, f)
            res = halt(m, inp, KLRule(1e-3), 6, min_steps=2, generator=gen())
            ref[f"{key}.halt.logits"], ref[f"{key}.halt.steps_used"] = res.logits, res.steps_used
            losses = [("final", 0.0)] if variant in ("act", "act_continue", "ponder") else [("final", 0.0), ("every", 0.5)]
            if variant.startswith("recurrent"):
                losses.append(("progressive", 0.0))
            for loss, node_loss in losses:
                cfg, task, m = _model(task_name, variant, loss=loss, node_loss=node_loss)
                m.train()
                torch.manual_seed(7)
                value, logits = compute_loss(m, batch, 4, cfg.train, np.random.default_rng(3), task)
                value.backward()
                ref[f"{key}.train_{loss}.loss"] = value.detach()
                ref[f"{key}.train_{loss}.logits"] = logits.detach()
                ref[f"{key}.train_{loss}.grad"] = torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])
    return ref


def digest(t: torch.Tensor) -> dict[str, object]:
    """What the reference keeps of a tensor: its exact bytes' SHA-256, shape, dtype and sum."""
    t = t.detach().contiguous().cpu()
    raw = t.numpy().tobytes()
    return {"sha256": hashlib.sha256(raw).hexdigest(), "shape": list(t.shape), "dtype": str(t.dtype), "sum": float(t.double().sum())}


if __name__ == "__main__":
    lines = [f"{json.dumps(k)}: {json.dumps(digest(v))}" for k, v in sorted(outputs().items())]
    PATH.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {PATH}")
