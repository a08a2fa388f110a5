"""Frontier evaluation throughput (issue 4/7 targets).

    python bench/bench_frontier.py [--run runs/demo] [--n-per-cell 500] [--json-out PATH]

1. The full default grid: steps 1,2,4,8,16,32,64 x difficulty 1..32, n per cell, timed end to end
   (target: < 5 minutes for the default graph model on this CPU).
2. One rollout of the largest T (reading per-step readouts) vs one rollout per step count, on a
   few difficulties, as a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import emit, model_for
from loopthink.analysis.accuracy import predict_over_steps
from loopthink.analysis.frontier import frontier_grid

STEPS = [1, 2, 4, 8, 16, 32, 64]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", default="runs/demo")
    p.add_argument("--n-per-cell", type=int, default=500)
    p.add_argument("--max-difficulty", type=int, default=32)
    p.add_argument("--json-out")
    args = p.parse_args()
    cfg, model, task, source = model_for(args.run)
    torch.set_num_threads(torch.get_num_threads())

    t0 = time.perf_counter()
    rows = frontier_grid(model, task, STEPS, list(range(1, args.max_difficulty + 1)), args.n_per_cell, seed=99, options=cfg.task.options)
    grid_s = time.perf_counter() - t0

    records = [r for d in (4, 12, 24) for r in task.generate(200, 7 + d, (d, d))]
    t0 = time.perf_counter()
    one = predict_over_steps(model, task, records, STEPS, batch_size=200)
    one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    per = [predict_over_steps(model, task, records, [s], batch_size=200)[0] for s in STEPS]
    per_s = time.perf_counter() - t0
    same = all((one[j] == per[j]).mean() > 0.97 for j in range(len(STEPS)))  # random h0 differs per call
    emit(
        {
            "bench": "frontier",
            "model": source,
            "grid_cells": len(rows),
            "n_per_cell": args.n_per_cell,
            "grid_seconds": grid_s,
            "grid_target_seconds": 300,
            "one_pass_seconds": one_s,
            "pass_per_T_seconds": per_s,
            "speedup": per_s / one_s,
            "predictions_agree": bool(same),
        },
        args.json_out,
    )


if __name__ == "__main__":
    main()
