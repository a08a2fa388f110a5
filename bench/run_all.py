"""`make bench`: run every benchmark on the CPU and collect the results in bench/results.json.

Each script prints one JSON line last; a failing script is recorded with its error and the rest go
on. Sizes are chosen so the whole run fits in about 30 minutes on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (name, script, arguments)
BENCHES = [
    ("datagen", "bench_datagen.py", ["--seconds", "3"]),
    ("memory", "bench_memory.py", []),
    ("overhead", "bench_overhead.py", []),
    ("train_targets", "train_targets.py", ["--tasks", "graph", "--out", str(ROOT / "runs" / "bench")]),
    ("frontier", "bench_frontier.py", ["--run", str(ROOT / "runs" / "bench" / "graph")]),
    ("diagnose", "bench_diagnose.py", [str(ROOT / "runs" / "bench" / "graph")]),
    ("halting", "bench_halting.py", [str(ROOT / "runs" / "bench" / "graph")]),
    ("sweep", "bench_sweep.py", []),
    ("step", "bench_step.py", ["configs/variants/text_stories.yaml", "--iters", "20", "--repeats", "2"]),
    ("attention", "attention.py", []),
]


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", help="comma-separated bench names to (re)run; their results replace those in results.json")
    only = p.parse_args().only
    names = [b[0] for b in BENCHES]
    chosen = names if not only else only.split(",")
    if set(chosen) - set(names):
        p.error(f"unknown bench(es) {sorted(set(chosen) - set(names))}; choose from {names}")
    path = HERE / "results.json"
    results: dict = json.loads(path.read_text()) if only and path.exists() else {}
    failed = []
    for name, script, args in BENCHES:
        if name not in chosen:
            continue
        if not (HERE / script).exists():
            results[name] = {"skipped": f"{script} not present"}
            continue
        print(f"== {name}: {script} {' '.join(args)}", file=sys.stderr, flush=True)
        t0 = time.time()
        proc = subprocess.run([sys.executable, str(HERE / script), *args], cwd=ROOT, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
        if proc.returncode or not lines:
            failed.append(name)
            results[name] = {"error": proc.stderr.strip().splitlines()[-5:], "returncode": proc.returncode}
        else:
            results[name] = json.loads(lines[-1])
        results[name]["wall_seconds"] = round(time.time() - t0, 1)
        print(json.dumps(results[name])[:400], file=sys.stderr, flush=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
