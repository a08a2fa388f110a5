"""Readout rules of one rollout: the answer after the last step against the mean probability over
the last half of the steps, from the same rollout (the same compute).

    python bench/readout_mean.py RUN --data FILE [FILE ...] [--steps 32,64] [--json OUT]

For each step count T: ``last`` is the readout after step T (what ``loopthink eval`` reports),
``mean`` the class of the mean of the readout's probabilities over steps ceil(T/2)..T. Where the
answer wavers between steps far past the training range, the mean smooths it at no cost. Works on
any task's run; the records are read in ``loopthink eval``'s batches, so ``last`` equals its numbers.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from _common import emit
from loopthink.analysis.accuracy import labels_of, size_sorted_chunks
from loopthink.checkpoint import load_run
from loopthink.tasks.formats import read_jsonl


@torch.no_grad()
def step_probabilities(model: torch.nn.Module, task, records: list[dict], t_max: int, batch_size: int = 256) -> np.ndarray:
    """(t_max, N, C) readout probabilities after every step, drawn as ``predict_over_steps`` draws."""
    out = np.zeros((t_max, len(records), task.num_classes), dtype=np.float32)
    for k, chunk in enumerate(size_sorted_chunks(records, batch_size)):
        inputs = task.encode([records[i] for i in chunk]).inputs
        gen = torch.Generator().manual_seed(k)  # predict_over_steps' generator for chunk k of seed 0
        logits = model(inputs, t_max, generator=gen, return_step_logits=True).step_logits
        out[:, chunk] = logits.float().softmax(-1).numpy()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--steps", default="32,64")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    _, model, task = load_run(args.run)
    table = {}
    for path in args.data:
        _, records = read_jsonl(path, task.name)
        labels = labels_of(task, records)
        probs = step_probabilities(model, task, records, max(steps))
        row = {}
        for t in steps:
            last = float((probs[t - 1].argmax(-1) == labels).mean())
            mean = float((probs[math.ceil(t / 2) - 1 : t].mean(0).argmax(-1) == labels).mean())
            row[str(t)] = {"last": round(last, 3), "mean": round(mean, 3)}
            print(f"{path} T={t}: last {last:.3f}  mean over steps {math.ceil(t / 2)}..{t} {mean:.3f}", flush=True)
        table[path] = row
    emit({"bench": "readout_mean", "run": args.run, "results": table}, args.json)


if __name__ == "__main__":
    main()
