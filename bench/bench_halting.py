"""Wall-clock gain of adaptive halting: the same batch run for T_max steps vs with an exit rule.

    python bench/bench_halting.py RUN [--rule convergence|kl|conformal] [--max-steps 64]
                                      [--batch 512] [--repeats 3] [--threads 1] [--json-out results.json]

Times, on one batch of mixed difficulty (training LO .. 2x training HI, seed 4321):

* ``full``: ``model(inputs, T_max)`` -- the plain full-depth rollout (one readout at the end);
* ``never``: ``halt`` with a rule that never fires -- the full rollout plus per-step readouts and
  exit features (the overhead halting pays per step);
* ``halted``: ``halt`` with the rule -- finished rows leave the batch, later steps are cheaper.

The three cases run interleaved, ``--repeats`` rounds after a warm-up round; reports medians (and
the ratio of minima as ``speedup_min``), the speed-up full/halted, steps saved (1 - mean steps /
T_max, the ideal speed-up being T_max / mean steps) and how many predictions differ from the full
rollout's. ``--rule conformal`` first fits and calibrates the probe (alpha ``--alpha``) on two
splits generated with other seeds. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

try:
    from loopthink.analysis import halting as H
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from loopthink.analysis import halting as H
from loopthink.training.rundir import load_run  # noqa: E402


def timed_interleaved(cases: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Wall times of every case over ``repeats`` rounds, the cases interleaved within a round so that
    load from other processes hits them alike (one warm-up round first); and each case's last result."""
    out = {name: fn() for name, fn in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, out


def build_rule(args: argparse.Namespace, model: Any, task: Any, rng: tuple[int, int], opts: dict[str, Any]) -> H.ExitRule:
    if args.rule != "conformal":
        return H.make_rule(args.rule, args.threshold)
    probe_recs = task.generate(args.n_probe, args.seed + H.PROBE_SEED_OFFSET, rng, **opts)
    calib_recs = task.generate(args.n_calib, args.seed + H.CALIB_SEED_OFFSET, rng, **opts)
    probe_feats, _ = H.record_records(model, task, probe_recs, args.max_steps, args.seed + H.PROBE_SEED_OFFSET, args.batch)
    calib_feats, _ = H.record_records(model, task, calib_recs, args.max_steps, args.seed + H.CALIB_SEED_OFFSET, args.batch)
    return H.calibrate_conformal(H.fit_probe(probe_feats, args.min_steps), calib_feats, args.alpha, args.min_steps)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="trained run directory (e.g. a `loopthink train configs/graph.yaml` run)")
    ap.add_argument("--rule", choices=("kl", "convergence", "conformal"), default="convergence")
    ap.add_argument("--threshold", type=float, help="kl/convergence threshold (default: the library default)")
    ap.add_argument("--alpha", type=float, default=H.DEFAULT_ALPHA, help="conformal: allowed premature-exit rate")
    ap.add_argument("--max-steps", type=int, default=64)
    ap.add_argument("--min-steps", type=int, default=1)
    ap.add_argument("--batch", type=int, default=512, help="batch size (default 512)")
    ap.add_argument("--difficulty", help="LO..HI (default: training LO .. 2x training HI)")
    ap.add_argument("--n-probe", type=int, default=500)
    ap.add_argument("--n-calib", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported; default 5)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json-out", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    cfg, model, task = load_run(args.run, args.device)
    lo_t, hi_t = cfg.task.train_difficulty
    if args.difficulty:
        from loopthink.commands.argtypes import parse_range

        rng = parse_range(args.difficulty)
    else:
        rng = (max(1, lo_t), 2 * hi_t)
    opts = {**cfg.task.options, **cfg.eval.options}
    rule = build_rule(args, model, task, rng, opts)
    batch = task.encode(task.generate(args.batch, args.seed, rng, **opts)).to(args.device)
    T, m = args.max_steps, args.min_steps
    gen = lambda: torch.Generator(args.device).manual_seed(args.seed)  # noqa: E731 - same initial state every run

    def sync(x: Any) -> Any:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return x

    cases = {
        "full": lambda: sync(model(batch.inputs, T, generator=gen())),
        "never": lambda: sync(H.halt(model, batch.inputs, H.NeverStop(), T, m, generator=gen())),
        "halted": lambda: sync(H.halt(model, batch.inputs, rule, T, m, generator=gen())),
    }
    with torch.no_grad():
        times, outs = timed_interleaved(cases, args.repeats)
    full_s, never_s, halted_s = (statistics.median(times[k]) for k in ("full", "never", "halted"))
    full, res = outs["full"], outs["halted"]
    mean_steps = float(res.steps_used.double().mean())
    full_pred = full.logits.argmax(-1)
    results: dict[str, Any] = {
        "run": str(args.run),
        "rule": rule.describe() if args.rule != "conformal" else {"rule": "conformal", "alpha": args.alpha, "lambda": H._num(rule.lam)},  # type: ignore[attr-defined]
        "device": args.device,
        "threads": args.threads,
        "batch": args.batch,
        "difficulty": list(rng),
        "max_steps": T,
        "full_s": round(full_s, 4),
        "never_stop_s": round(never_s, 4),
        "halted_s": round(halted_s, 4),
        "speedup": round(full_s / halted_s, 3),
        "speedup_min": round(min(times["full"]) / min(times["halted"]), 3),
        "repeats": args.repeats,
        "per_step_overhead": round(never_s / full_s - 1, 4),
        "mean_steps": round(mean_steps, 3),
        "steps_saved": round(1 - mean_steps / T, 4),
        "ideal_speedup": round(T / mean_steps, 3),
        "changed_predictions": round(float((res.predictions != full_pred).double().mean()), 4),
        "accuracy_full": round(float((full_pred == batch.labels).double().mean()), 4),
        "accuracy_halted": round(float((res.predictions == batch.labels).double().mean()), 4),
    }
    print(f"{'case':<34} {'wall s':>8}")
    print(f"{'full rollout, T_max=' + str(T):<34} {full_s:>8.3f}")
    print(f"{'halt() with a never-firing rule':<34} {never_s:>8.3f}")
    print(f"{'halt() with ' + args.rule:<34} {halted_s:>8.3f}")
    print(
        f"speed-up {results['speedup']:.2f}x (ideal {results['ideal_speedup']:.2f}x); mean steps {mean_steps:.1f}/{T}, "
        f"steps saved {results['steps_saved']:.1%}; predictions changed {results['changed_predictions']:.2%}"
    )
    print(json.dumps(results))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
