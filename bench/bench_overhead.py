"""Framework overhead: loopthink's training loop vs a bare PyTorch loop, same model, batches, steps.

    python bench/bench_overhead.py [--iters 60] [--json-out PATH]

Both loops see the identical seeded batches and a fixed T. The loopthink time per iteration is
read from its own metrics.jsonl (first to last logged row, so start-up and the final validation
are excluded); the bare loop is timed over the same iterations. Target (issue 7): overhead <= 10%.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from _common import emit
from loopthink.config import load_config
from loopthink.model import build_model
from loopthink.model.core import cross_entropy
from loopthink.tasks import get_task
from loopthink.training.batches import Prefetcher
from loopthink.training.loop import make_optimizer, train


def bare_loop(cfg, iters: int) -> float:
    """Seconds per iteration of the plainest loop: sample, forward, loss, backward, clip, step."""
    task = get_task(cfg.task.name, **cfg.task.options)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, task)
    opt = make_optimizer(model, cfg.train)
    data = Prefetcher(task, cfg, 0)  # same batches as train(); generation overlaps as in train()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        batch, steps = next(data)
        loss = cross_entropy(model(batch.inputs, steps).logits, batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        times.append(time.perf_counter() - t)
    data.close()
    return sum(times[10:]) / len(times[10:])


def loopthink_loop(cfg, iters: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, Path(tmp) / "run", progress=False)
        rows = [json.loads(x) for x in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "loss" in r]
    first, last = logged[0], logged[-1]
    return (last["time"] - first["time"]) / (last["iter"] - first["iter"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--config", default="configs/graph.yaml")
    p.add_argument("--json-out")
    args = p.parse_args()
    over = [
        f"train.iters={args.iters}",
        "train.steps.mode=fixed",
        "train.steps.max=12",
        f"train.eval_every={args.iters}",
        f"train.checkpoint_every={args.iters}",
        "train.log_every=10",
        "train.eval_n=16",
    ]
    cfg = load_config(args.config, over)
    lt = loopthink_loop(cfg, args.iters)
    bare = bare_loop(cfg, args.iters)
    lt2 = loopthink_loop(cfg, args.iters)  # twice, around the bare loop, against drift
    lt_mean = (lt + lt2) / 2
    emit(
        {
            "bench": "overhead",
            "loopthink_s_per_iter": lt_mean,
            "bare_s_per_iter": bare,
            "overhead": lt_mean / bare - 1,
            "target": 0.10,
            "iters": args.iters,
        },
        args.json_out,
    )


if __name__ == "__main__":
    main()
