"""Helpers shared by bench/ and scripts/: import path, run loading, training and measuring, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def emit(result: dict, json_out: str | None) -> None:
    """Print the result as one JSON line and optionally write it to a file."""
    line = json.dumps(result)
    print(line)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=1))


def model_for(run: str | None, config: str = "configs/graph.yaml"):
    """(cfg, model, task, source): a trained run if given and present, else an untrained model of
    the config (same architecture and compute; timings do not depend on the weights)."""
    from loopthink.config import load_config
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from loopthink.training.rundir import load_run

    if run and (Path(run) / "model.safetensors").exists():
        cfg, model, task = load_run(run)
        return cfg, model, task, f"trained run {run}"
    cfg = load_config(ROOT / config)
    task = get_task(cfg.task.name, **cfg.task.options)
    return cfg, build_model(cfg, task).eval(), task, f"untrained {config} (no run at {run})"


def train_and_measure(config: Path, run: Path, n: int, retrain: bool, overrides: list[str], seed: int = 555) -> dict:
    """Train ``config`` into ``run`` (unless a finished run is there), then accuracy per range of
    ``eval.difficulties`` at every ``eval.steps`` on ``n`` fresh instances (seed disjoint from training).

    Returns {"train_seconds", "iters", "ranges": {"lo..hi": {"accuracy_by_steps", "best_steps",
    "best_accuracy"}}, "timed": "here" | "log"}; a reused run's train_seconds is the training time
    its metrics.jsonl logged (None if it logged none), "timed": "log".
    """
    import shutil
    import time

    from loopthink.analysis.accuracy import evaluate_records
    from loopthink.config import load_config
    from loopthink.training.loop import train
    from loopthink.training.rundir import load_run

    cfg = load_config(config, overrides)
    seconds, timed = None, "log"
    if retrain or not (run / "model.safetensors").exists():
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.time()
        train(cfg, run, progress=sys.stderr.isatty())
        seconds, timed = time.time() - t0, "here"
    else:
        seconds = logged_train_seconds(run)
    trained, model, task = load_run(run)  # evaluation settings come from the config asked for, not the run's copy
    ranges = {}
    for i, (lo, hi) in enumerate(cfg.eval.difficulties):
        records = task.generate(n, seed + i, (lo, hi), **{**cfg.task.options, **cfg.eval.options})
        res = evaluate_records(model, task, records, cfg.eval.steps, batch_size=256)
        acc = {s: v["accuracy"] for s, v in res["steps"].items()}
        best = max(acc, key=lambda s: acc[s])
        ranges[f"{lo}..{hi}"] = {"accuracy_by_steps": acc, "best_steps": int(best), "best_accuracy": acc[best]}
    return {"train_seconds": seconds, "timed": timed, "iters": iterations_done(run, trained.train.iters), "ranges": ranges}


def iterations_done(run: Path, planned: int) -> int:
    """The iterations a run's last checkpoint holds (a run stopped early has fewer than planned)."""
    from loopthink.training.rundir import checkpointed_iteration

    done = checkpointed_iteration(run)
    return planned if done is None else done


def logged_train_seconds(run: Path) -> float | None:
    """Training seconds a run's metrics.jsonl logged: each ``time`` counts from the start of its
    segment (a resumed run starts again at 0), so the total is the sum of each segment's last."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    times = [row["time"] for row in map(json.loads, path.read_text().splitlines()) if "time" in row]
    if not times:
        return None
    return sum(a for a, b in zip(times, times[1:]) if b < a) + times[-1]


def train_time_text(result: dict) -> str:
    """'512 s', or '512 s (logged by the reused run)', or 'reused run'."""
    secs = result["train_seconds"]
    if secs is None:
        return "reused run"
    return f"{secs:.0f} s" + (" (logged by the reused run)" if result.get("timed") == "log" else "")
