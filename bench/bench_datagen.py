"""Data-generation throughput on one CPU thread: instances per second.

    python bench/bench_datagen.py --seconds 3 [--json-out results.json]

Measures graph ``sample_batch`` (the training path, hops 1..8, batch 1024) and logic ``generate``
(depth 1..6; canonical, and the written-forms mixture of ``configs/variants/logic_forms.yaml``), plus the
record/encode paths for reference. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

try:
    from loopthink.tasks import get_task
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from loopthink.tasks import get_task


def rate(step: Callable[[int], int], seconds: float) -> float:
    """Instances/second of ``step(i)`` (returns instances made), after one warm-up call."""
    step(0)
    made, i, start = 0, 1, time.perf_counter()
    while time.perf_counter() - start < seconds:
        made += step(i)
        i += 1
    return made / (time.perf_counter() - start)


def cases(batch: int) -> dict[str, tuple[Callable[[int], int], str]]:
    from loopthink.config import load_config

    graph, logic, text = get_task("graph"), get_task("logic"), get_task("text")
    forms = get_task("logic", **load_config(Path(__file__).resolve().parents[1] / "configs" / "variants" / "logic_forms.yaml").task.options)
    mixed = get_task("text", story={"people": [8, 20], "facts": [8, 28], "share": 0.25})
    long = get_task("text", story={"people": [20, 30], "facts": [30, 50]})
    rng = np.random.default_rng(0)
    return {
        "graph.sample_batch": (lambda i: len(graph.sample_batch(batch, rng, (1, 8))), "hops 1..8"),
        "graph.generate": (lambda i: len(graph.generate(batch, i, (1, 8))), "hops 1..8, records"),
        "logic.generate": (lambda i: len(logic.generate(batch, i, (1, 6))), "depth 1..6, records"),
        "logic.sample_batch": (lambda i: len(logic.sample_batch(batch, rng, (1, 6))), "depth 1..6, + encode"),
        "logic.forms_batch": (lambda i: len(forms.sample_batch(batch, rng, (1, 6))), "logic_forms.yaml, + encode"),
        "text.generate": (lambda i: len(text.generate(batch, i, (1, 4))), "hops 1..4, records"),
        "text.sample_batch": (lambda i: len(text.sample_batch(batch, rng, (1, 4))), "hops 1..4, + encode"),
        "text.sample_batch mix": (lambda i: len(mixed.sample_batch(batch, rng, (1, 4))), "configs/text.yaml's"),
        "text.sample_batch long": (lambda i: len(long.sample_batch(batch, rng, (1, 4))), "20-30 people, 30-50 facts"),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    ap.add_argument("--batch", type=int, default=1024, help="instances per call (default 1024)")
    ap.add_argument("--json-out", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # the number that matters: one core feeding one training process

    results: dict[str, float] = {}
    print(f"{'case':<24} {'what':<26} {'instances/s':>12}")
    for name, (step, what) in cases(args.batch).items():
        results[name] = round(rate(step, args.seconds), 1)
        print(f"{name:<24} {what:<26} {results[name]:>12,.0f}")
    line = {"bench": "datagen", "batch": args.batch, "seconds": args.seconds, "instances_per_s": results}
    print(json.dumps(line))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(line, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
