"""Wall time of ``loopthink diagnose`` on 1,000 examples x 8 runs x 64 steps (target: < 3 min on CPU).

    python bench/bench_diagnose.py [RUN] [--n 1000 --runs 8 --steps 64] [--threads N] [--json-out PATH]

On a CPU shared with other jobs ``--threads 1`` is much faster than torch's default (OpenMP
threads spin while waiting for a core).

RUN defaults to an untrained model of ``configs/graph.yaml`` (same architecture and shapes as the
default graph model, so the same cost; the AUROC/decision-step numbers are only meaningful for a
trained RUN). Times the whole command (data generation, rollouts, analysis, pictures) in-process,
prints the command's text summary, then one JSON line with the seconds and headline numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
try:
    import loopthink  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))


def untrained_run(out: Path) -> Path:
    from loopthink.atomic import atomic_save_tensors
    from loopthink.config import load_config
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from loopthink.training.rundir import write_run_config

    cfg = load_config(ROOT / "configs" / "graph.yaml")
    torch.manual_seed(0)
    model = build_model(cfg, get_task(cfg.task.name, **cfg.task.options))
    write_run_config(out, cfg)
    atomic_save_tensors(out / "model.safetensors", model.state_dict())
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="run directory (default: untrained configs/graph.yaml model)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--difficulty", default=None, help="LO..HI (default: the run's training range)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--out", default=None, help="keep the diagnose output here (default: a temp dir)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from loopthink.analysis import diagnose as dynamics
    from loopthink.commands import diagnose

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else untrained_run(Path(tmp) / "untrained_graph")
        out = Path(args.out) if args.out else Path(tmp) / "diagnose"
        cmd = [str(run), "--n", str(args.n), "--runs", str(args.runs), "--steps", str(args.steps), "--out", str(out), "--json"]
        if args.difficulty:
            cmd += ["--difficulty", args.difficulty]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        parser = argparse.ArgumentParser()
        diagnose.add_arguments(parser)
        parsed = parser.parse_args(cmd)
        buf = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            diagnose.run(parsed)
        seconds = time.perf_counter() - start
        data = json.loads((out / "dynamics.json").read_text())
    print(dynamics.summary_text(data))
    result = {
        "bench": "diagnose",
        "run": str(args.run or "untrained configs/graph.yaml"),
        "n": args.n,
        "runs": args.runs,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 2),
        "examples_per_s": round(args.n / seconds, 2),
        "target_seconds": 180,
        "monitor": {"t0": data["monitor"]["t0"], "auroc": data["monitor"]["auroc"]},
        "decision_step": data["decision_step"],
        "accuracy": data["accuracy"],
    }
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
