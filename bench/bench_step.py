"""Seconds per training step of a config, on batches made beforehand or by the training loop's
background thread, eager or with ``train.compile`` / ``train.amp`` as the config says.

    python bench/bench_step.py configs/variants/text_stories.yaml [KEY=VALUE ...] [--from 1400] [--iters 30] [--repeats 3] [--live]

The batches are those of iterations ``--from`` on (so the curriculum is where it is there); each
repeat times the same ``--iters`` steps after one untimed pass (compilation, allocator warm-up).
``--live`` draws them through ``batches.Prefetcher`` instead, as ``train`` does, so the cost of
generating them beside the step is included. Run it alone: the machine's other work is timed too.
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import emit
from loopthink.config import load_config
from loopthink.model import build_model
from loopthink.tasks import get_task
from loopthink.training.batches import Prefetcher, iteration_rng, training_item
from loopthink.training.loop import make_optimizer, step_speedups
from loopthink.training.losses import accumulate_gradients


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    p.add_argument("--from", dest="start", type=int, default=1400, help="first iteration whose batch is used")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--live", action="store_true", help="batches from the background thread, as in training")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    cfg = load_config(args.config, args.overrides)
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    task = get_task(cfg.task.name, **cfg.task.options)
    torch.manual_seed(tc.seed)
    model = build_model(cfg, task)
    amp = step_speedups(model, tc, "cpu")
    opt = make_optimizer(model, tc)

    def one_step(batch, steps: int, it: int) -> None:
        opt.zero_grad(set_to_none=True)
        accumulate_gradients(model, batch, steps, tc, iteration_rng(tc.seed, it), amp, task)
        opt.step()

    def timed_pass() -> float:
        its = range(args.start, args.start + args.iters)
        if args.live:
            data = Prefetcher(task, cfg, args.start)
            try:
                t0 = time.perf_counter()
                for it in its:
                    one_step(*next(data), it)
                return (time.perf_counter() - t0) / args.iters
            finally:
                data.close()
        items = [training_item(task, cfg, it) for it in its]
        t0 = time.perf_counter()
        for it, (batch, steps) in zip(its, items):
            one_step(batch, steps, it)
        return (time.perf_counter() - t0) / args.iters

    timed_pass()  # untimed: compilation, allocator warm-up
    seconds = [round(timed_pass(), 4) for _ in range(args.repeats)]
    print(f"{args.config} {' '.join(args.overrides)}: {min(seconds):.3f} s per step (repeats {seconds})", flush=True)
    emit(
        {
            "bench": "step",
            "config": args.config,
            "overrides": args.overrides,
            "from": args.start,
            "iters": args.iters,
            "live": args.live,
            "threads": torch.get_num_threads(),
            "seconds_per_step": seconds,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
