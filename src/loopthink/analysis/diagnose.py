"""The whole ``loopthink diagnose`` measurement of a run: summaries of K runs per example on a
JSONL file or on generated examples, analysed by :mod:`loopthink.analysis.dynamics`, as the
``dynamics.json`` object and its text summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from loopthink.analysis.dynamics import analyse
from loopthink.analysis.monitor import TARGET
from loopthink.analysis.summaries import Summaries, summarise
from loopthink.tasks import DataError
from loopthink.tasks.files import read_run_records
from loopthink.training.rundir import load_run


def clean_json(x: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def summary_json(data: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` stdout object."""
    out = {
        "per_step": [{k: r[k] for k in ("step", "commitment", "convergence", "lens_accuracy")} for r in data["per_step"]],
        "decision_step": data["decision_step"],
        "monitor": {"t0": data["monitor"]["t0"], "auroc": data["monitor"]["auroc"]},
        "commitment_correct": data["commitment_correct"],
        "commitment_wrong": data["commitment_wrong"],
    }
    if data.get("note"):
        out["note"] = data["note"]
    return out


def summary_text(data: dict[str, Any]) -> str:
    name = data.get("difficulty_name", "difficulty")
    lines = []
    if data.get("note"):
        lines.append(f"note: {data['note']}")
    lines.append(
        f"{data['n']} examples x {data['runs']} runs x {data['steps']} steps; accuracy {data['accuracy']:.3f}, consistency {data['consistency']:.3f}"
    )
    lines.append(f"{name:>12} {'n':>6} {'acc':>6} {'consist':>8} {'commit@T':>9} {'decision':>9}")
    for k, row in data["by_difficulty"].items():
        lines.append(
            f"{k:>12} {row['n']:>6} {row['accuracy']:>6.3f} {row['consistency']:>8.3f} {row['commitment_final']:>9.3f} {row['decision_step_mean']:>9.2f}"
        )
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    st = data["decision_step_stats"]
    lines.append(
        f"decision step vs {name}: Spearman {fmt(st['spearman_with_difficulty'])}, slope of medians {fmt(st['slope_per_difficulty'])} steps per unit"
    )
    sp = data["correctness_split"]
    lines.append(
        f"commitment at T: correct {fmt(sp['commitment_correct'])} (n={sp['n_correct']}), wrong {fmt(sp['commitment_wrong'])} (n={sp['n_wrong']}),"
        f" AUROC {fmt(sp['auroc_commitment_for_correct'])}"
    )
    mon = data["monitor"]
    if mon.get("per_t0"):
        lines.append(
            "monitor AUROC (held-out seed): "
            + ", ".join(f"t0={m['t0']}: {fmt(m['auroc'])}" for m in mon["per_t0"])
            + f"  [headline t0={mon['t0']}]"
        )
    return "\n".join(lines)


# ---- the whole diagnosis of a run ----------------------------------------------------------------
DEFINITIONS = {
    "convergence": "||h_t - h_{t-1}|| / ||h_{t-1}|| over real tokens at step t, mean over runs, then examples",
    "kl": "KL(p_t || p_{t-1}) of successive readouts (step 1 vs uniform), mean over runs, then examples",
    "commitment": "mean pairwise cosine similarity of the K runs' token-averaged states (Trajectory.mean_state) at step t (0 = initial state); identical states count 1",
    "consistency": "fraction of the K runs whose answer equals the majority answer (ties -> lowest class index)",
    "decision_step": "per run, the first step after which the prediction never changes within T; example = mean over runs",
    "lens_accuracy": "accuracy of the readout applied after step t, over examples x runs",
    "correct": "the majority answer of the K runs at T equals the label",
    "monitor_target": TARGET,
}


# For a task answered at every position (added to the definitions of its dynamics.json).
PER_POSITION_ANSWER = (
    "an answer is the vector of the predictions at the instance's labelled positions: right when every one is (exact match),"
    " changed when any one changed; majority = the most common whole answer of the K runs (ties -> lexicographically smallest);"
    " kl and entropy = the max over those positions, max_prob = the min"
)


def split_seeds(seed: int) -> tuple[int, int]:
    """Seeds of the monitor's fit examples and of its held-out examples."""
    return seed, seed + 1_000_003


def check_settings(steps: int, runs: int, n: int | None, t0: int | None, batch_size: int) -> None:
    """DataError naming the option for a setting :func:`diagnose_run` cannot use."""
    if steps < 1:
        raise DataError(f"--steps must be at least 1, got {steps}")
    if runs < 1:
        raise DataError(f"--runs must be at least 1, got {runs}")
    if n is not None and n < 2:
        raise DataError(f"--n must be at least 2, got {n}")
    if t0 is not None and not 1 <= t0 < steps:
        raise DataError(f"--t0 must be in 1..{steps - 1} (below --steps), got {t0}")
    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")


def _generate(task: Any, n: int, seed: int, rng: tuple[int, int], opts: dict[str, Any], what: str) -> list[dict]:
    try:
        return task.generate(n, seed, rng, **opts)
    except ValueError as e:
        raise DataError(f"cannot generate {what} over {task.difficulty_name} {rng[0]}..{rng[1]}: {e}") from None


def _summaries_of_file(
    model: Any, task: Any, cfg: Any, path: str, n: int | None, seed: int, kw: dict[str, Any], run: Any
) -> tuple[Summaries, Summaries, Summaries, dict[str, Any]]:
    """(all, fit, held-out, source): the file is held out; the monitor is fitted on generated examples."""
    fit_seed, held_seed = split_seeds(seed)
    records = read_run_records(path, task.name, run)
    records = records[:n] if n else records
    if len(records) < 2:
        raise DataError(f"{path}: need at least 2 examples")
    d = [int(v) for v in task.encode(records).difficulty.tolist() if v >= 1]
    rng = (min(d), max(d)) if d else tuple(cfg.task.train_difficulty)
    opts = {**cfg.task.options, **cfg.eval.options}
    fit_records = _generate(task, len(records), fit_seed, rng, opts, "the monitor's fit examples")
    held = summarise(model, task, records, seed=held_seed, **kw)
    fit = summarise(model, task, fit_records, seed=fit_seed, **kw)
    what = f"{len(fit_records)} generated examples, {task.difficulty_name} {rng[0]}..{rng[1]}, seed {fit_seed}"
    return held, fit, held, {"data": str(path), "monitor_fit": what, "monitor_heldout": "the data file"}


def _summaries_generated(
    model: Any, task: Any, cfg: Any, rng: tuple[int, int], n: int, seed: int, kw: dict[str, Any]
) -> tuple[Summaries, Summaries, Summaries, dict[str, Any]]:
    """(all, fit, held-out, source) on two generated halves with seeds of their own."""
    fit_seed, held_seed = split_seeds(seed)
    opts = {**cfg.task.options, **cfg.eval.options}
    fit_records = _generate(task, n // 2, fit_seed, rng, opts, f"{task.name} examples")
    held_records = _generate(task, n - n // 2, held_seed, rng, opts, f"{task.name} examples")
    fit = summarise(model, task, fit_records, seed=fit_seed, **kw)
    held = summarise(model, task, held_records, seed=held_seed, **kw)
    source = {
        "difficulty": list(rng),
        "monitor_fit": f"{len(fit_records)} examples generated with seed {fit_seed}",
        "monitor_heldout": f"{len(held_records)} examples generated with seed {held_seed}",
    }
    return Summaries.concat([fit, held]), fit, held, source


def diagnose_run(
    run: str | Path,
    data: str | None = None,
    difficulty: tuple[int, int] | None = None,
    steps: int = 64,
    runs: int = 8,
    n: int | None = None,
    seed: int = 1234,
    t0: int | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """``dynamics.json``'s content: the run's dynamics on a JSONL file or on generated examples
    (``difficulty``, default the training range; ``n`` default 1000)."""
    check_settings(steps, runs, n, t0, batch_size)
    cfg, model, task = load_run(run, device)
    kw = dict(steps=steps, runs=runs, batch_size=batch_size, device=device, progress=progress)
    if data:
        all_, fit, held, source = _summaries_of_file(model, task, cfg, data, n, seed, kw, run)
    else:
        rng = difficulty or tuple(cfg.task.train_difficulty)
        all_, fit, held, source = _summaries_generated(model, task, cfg, rng, n or 1000, seed, kw)
    zeros = model.deterministic_init()
    note = None
    if zeros:
        note = (
            "init_state is zeros: the K runs start from the same state and are identical (commitment = 1, consistency = 1); computed anyway"
        )
    elif runs == 1:
        note = "--runs 1: commitment and consistency are 1 by definition"
    meta = {
        "run": str(run),
        "task": task.name,
        "difficulty_name": task.difficulty_name,
        "seed": seed,
        "init_state": cfg.model.init_state,
        "init_scale": cfg.model.init_scale,
        "identical_runs": bool(zeros or runs == 1),
        "note": note,
        **source,
        "definitions": {**DEFINITIONS, "answer": PER_POSITION_ANSWER} if task.per_position else DEFINITIONS,
    }
    return clean_json({**meta, **analyse(all_, fit, held, t0)})


def write_outputs(data: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "dynamics.json").write_text(json.dumps(data, indent=1))
