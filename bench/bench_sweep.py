"""Wall-clock cost of a seed sweep against one run.

    python bench/bench_sweep.py [--config configs/graph.yaml] [--seeds 3] [--jobs 2] [--also-jobs 3]
                                [--workdir DIR] [--json-out results.json] [key=value overrides ...]

Times, as fresh processes (start-up included in both, as a sweep pays it per run):

* ``single``: ``loopthink train CONFIG train.seed=0`` alone, with torch's default threads (all
  cores): "one seed run alone" as a user would run it; also ``single_1thread`` for reference;
* ``sweep``: ``loopthink sweep CONFIG --seeds 0..S-1 [--jobs J]`` (default jobs: the sweep's own
  default, every run at once when runs <= 2x cores);
* with ``--also-jobs K``, the same sweep again with ``--jobs K`` (e.g. all runs at once).

and reports ``ratio = sweep / single``. Target: <= 1.8x for 3 seeds on 2 cores.
Bounds to read it against: perfect use of C cores gives ``S / min(C, J)`` (1.5x for 3 runs on 2
cores), but a sweep schedules whole runs, so with J slots it takes ``ceil(S / J)`` rounds
(2 rounds for 3 runs on 2 slots: about 2x); ``--jobs S`` runs every seed at once, time-sliced, and
can approach ``S / C``. Default overrides ``train.iters=300`` keep the single run at 1-2 minutes on
one core. Measure on an otherwise idle machine: the load average at start is reported.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit

DEFAULT_OVERRIDES = ["train.iters=300"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall


def sweep_once(config: str, overrides: list[str], seeds: int, jobs: int | None, out: Path, env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-m", "loopthink.cli", "sweep", config, *overrides, "--seeds", f"0..{seeds - 1}", "--out", str(out)] + (
        ["--jobs", str(jobs)] if jobs else []
    )
    wall = timed(cmd, env)
    sweep = json.loads((out / "sweep.json").read_text())
    return {"jobs": sweep.get("jobs", jobs), "wall_s": round(wall, 2), "run_wall_s": [r["wall_s"] for r in sweep["runs"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("overrides", nargs="*", help=f"key=value config overrides (default {' '.join(DEFAULT_OVERRIDES)})")
    ap.add_argument("--config", default=str(ROOT / "configs" / "graph.yaml"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="sweep --jobs (default: the sweep's default)")
    ap.add_argument("--also-jobs", type=int, default=None, help="time the sweep again with this many jobs")
    ap.add_argument("--workdir", default=None, help="where runs go (default: a temporary directory, removed)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    overrides = args.overrides or DEFAULT_OVERRIDES
    cores = os.cpu_count() or 1
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    )

    tmp = tempfile.TemporaryDirectory(prefix="bench_sweep_") if args.workdir is None else None
    work = Path(args.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        train = [sys.executable, "-m", "loopthink.cli", "train", args.config, *overrides, "train.seed=0", "--no-progress"]
        single = timed(train + ["--out", str(work / "single")], env)
        single_1 = timed(train + ["train.threads=1", "--out", str(work / "single_1thread")], env)
        sweeps = [sweep_once(args.config, overrides, args.seeds, args.jobs, work / "sweep", env)]
        if args.also_jobs:
            sweeps.append(sweep_once(args.config, overrides, args.seeds, args.also_jobs, work / f"sweep_j{args.also_jobs}", env))
    finally:
        if tmp is not None:
            tmp.cleanup()

    for s in sweeps:
        s["ratio"] = round(s["wall_s"] / single, 3)
        s["ideal_ratio"] = round(args.seeds / min(cores, s["jobs"]), 3)  # perfect use of the cores
        s["rounds_bound"] = math.ceil(args.seeds / s["jobs"])  # whole runs per slot, no time-slicing
    result = {
        "bench": "sweep",
        "config": str(args.config),
        "overrides": overrides,
        "cores": cores,
        "load_avg_at_start": load,
        "seeds": args.seeds,
        "single_s": round(single, 2),
        "single_1thread_s": round(single_1, 2),
        "sweep": sweeps[0],
        "ratio": sweeps[0]["ratio"],
        "target_ratio": 1.8,
        "meets_target": sweeps[0]["ratio"] <= 1.8,
        **({"also": sweeps[1]} if len(sweeps) > 1 else {}),
    }
    print(f"single run (default threads)    {single:8.1f} s   (cores {cores}, load avg at start {load})", file=sys.stderr)
    print(f"single run (1 thread)           {single_1:8.1f} s", file=sys.stderr)
    for s in sweeps:
        print(
            f"{args.seeds} seeds, --jobs {s['jobs']}             {s['wall_s']:8.1f} s   ratio {s['ratio']:.2f}x "
            f"(ideal {s['ideal_ratio']:.2f}x, whole-run rounds {s['rounds_bound']})",
            file=sys.stderr,
        )
    emit(result, args.json_out)


if __name__ == "__main__":
    main()
