"""Halting evaluated: accuracy, steps and premature exits of a rule on test instances, Pareto
curves of every rule family, and the whole ``loopthink halt`` measurement of a run. The exit rule
comes from :mod:`.calibration`; :mod:`.reporting` writes and prints the result. For a per-position
task an answer is right when every labelled position is (exact match) and a premature exit is an
instance whose answer at exit differs at any position from its answer at ``max_steps``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loopthink.analysis.accuracy import bucket_order, difficulty_keys, labels_of
from loopthink.analysis.answers_over_steps import correct, differ, position_hits
from loopthink.analysis.halting.calibration import CalibrationSource, Rollouts, choose_exit_rule, read_records
from loopthink.analysis.halting.conformal import DEFAULT_ALPHA
from loopthink.analysis.halting.features import StepFeatures
from loopthink.analysis.halting.rules import (
    CONVERGENCE_THRESHOLD,
    KL_THRESHOLD,
    ConformalRule,
    ConvergenceRule,
    ExitRule,
    KLRule,
    num,
)
from loopthink.analysis.halting.runtime import halt_records, simulate
from loopthink.analysis.stats import wilson_interval
from loopthink.model.core import SteppedModel
from loopthink.tasks import DataError, Task
from loopthink.training.rundir import RunError, load_run

KL_SWEEP = tuple(float(x) for x in np.logspace(-10, -1, 19))
CONVERGENCE_SWEEP = tuple(float(x) for x in np.logspace(-2.5, 0, 21))


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else 0.0, "k": k, "n": n, "ci_low": lo, "ci_high": hi}


def _point(steps: torch.Tensor, preds: torch.Tensor, final: torch.Tensor, labels: torch.Tensor, max_steps: int) -> dict[str, Any]:
    prem = int(differ(preds, final, 1).sum())
    mean = float(steps.double().mean())
    return {
        "accuracy": float(correct(preds, labels, 1).double().mean()),
        "mean_steps": mean,
        "compute_saved": 1 - mean / max_steps,
        "premature_exit_rate": prem / len(preds),
        "premature_exit": _rate(prem, len(preds)),
    }


def pareto_curves(
    test: StepFeatures, labels: torch.Tensor, min_steps: int, conformal: list[ConformalRule] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Accuracy vs mean steps on the recorded test rollouts for: fixed depth (every example runs t
    steps), the KL and convergence rules over :data:`KL_SWEEP` / :data:`CONVERGENCE_SWEEP`, and the
    given calibrated conformal rules (one per alpha)."""
    T = test.steps
    final = test.prediction[-1].cpu()
    labels = labels.cpu()
    curves: dict[str, list[dict[str, Any]]] = {"fixed": []}
    for t in range(min_steps, T + 1):
        p = test.prediction[t - 1].cpu()
        curves["fixed"].append({"param": t, **_point(torch.full(p.shape[:1], t, dtype=torch.long), p, final, labels, T)})
    sweeps: list[tuple[str, list[ExitRule], list[Any]]] = [
        ("kl", [KLRule(x) for x in KL_SWEEP], list(KL_SWEEP)),
        ("convergence", [ConvergenceRule(x) for x in CONVERGENCE_SWEEP], list(CONVERGENCE_SWEEP)),
    ]
    if conformal:
        sweeps.append(("conformal", list(conformal), [r.alpha for r in conformal]))
    for name, rules, params in sweeps:
        pts = []
        for rule, param in zip(rules, params):
            s, p = simulate(rule, test, min_steps)
            pt = {"param": param, **_point(s.cpu(), p.cpu(), final, labels, T)}
            if isinstance(rule, ConformalRule):
                pt["lambda"] = num(rule.lam)
            pts.append(pt)
        curves[name] = pts
    return curves


def by_difficulty(
    keys: list[str], steps: torch.Tensor, preds: torch.Tensor, final: torch.Tensor, labels: torch.Tensor
) -> dict[str, dict[str, Any]]:
    arr = np.array(keys)
    out: dict[str, dict[str, Any]] = {}
    for k in sorted(set(keys), key=bucket_order):
        sel = torch.from_numpy(arr == k)
        s = steps[sel].double()
        q = torch.quantile(s, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
        out[k] = {
            "n": int(sel.sum()),
            "accuracy": float(correct(preds[sel], labels[sel], 1).double().mean()),
            "accuracy_at_max": float(correct(final[sel], labels[sel], 1).double().mean()),
            "mean_steps": float(s.mean()),
            "steps_p10": float(q[0]),
            "steps_median": float(q[1]),
            "steps_p90": float(q[2]),
            "steps_min": int(s.min()),
            "steps_max": int(s.max()),
            "premature_exit_rate": float(differ(preds[sel], final[sel], 1).double().mean()),
        }
    return out


# ---- the whole evaluation of a run ----------------------------------------------------------
@dataclass
class HaltingEvaluation:
    """:func:`evaluate_halting`'s result: ``halting.json``'s content, the one-line summary and the
    per-example arrays behind ``halting_examples.csv`` and the steps-by-difficulty picture."""

    data: dict[str, Any]
    summary: dict[str, Any]
    keys: list[str]
    labels: torch.Tensor
    predictions: torch.Tensor
    final: torch.Tensor
    steps: torch.Tensor
    conformal: bool


def check_settings(rule: str, alpha: float, threshold: float | None, max_steps: int, min_steps: int, **counts: int) -> None:
    """DataError naming the option for a setting :func:`evaluate_halting` cannot use."""
    if max_steps < 1:
        raise DataError(f"--max-steps must be >= 1, got {max_steps}")
    if not 1 <= min_steps <= max_steps:
        raise DataError(f"--min-steps must be in 1..{max_steps}, got {min_steps}")
    if not 0 < alpha < 1:
        raise DataError(f"--alpha must be in (0, 1), got {alpha}")
    if threshold is not None and rule == "conformal":
        raise DataError("--threshold applies to kl/convergence; the conformal rule picks its threshold from --alpha")
    if threshold is not None and threshold <= 0:
        raise DataError(f"--threshold must be > 0, got {threshold}")
    for name, value in counts.items():
        if value < 1:
            raise DataError(f"--{name.replace('_', '-')} must be >= 1")


@dataclass
class _TestRun:
    """The test instances run twice from the same initial states: full rollouts of ``max_steps``
    (the reference and the Pareto curves) and the halted run; the rule replayed on the full ones."""

    features: StepFeatures
    full_wall: float
    predictions: torch.Tensor
    steps: torch.Tensor
    halted_wall: float
    labels: torch.Tensor
    final: torch.Tensor
    keys: list[str]
    simulated_steps: torch.Tensor


def _test_set(
    task: Task, data: str | None, difficulty: tuple[int, int] | None, train: tuple[int, int], n: int, seed: int, opts: dict[str, Any]
) -> tuple[list[dict], tuple[int, int], dict[str, Any]]:
    """(test records, their difficulty range, where they came from): a file, or generated."""
    if data:
        records = read_records(data, task)
        diffs = [task.difficulty_of(r) for r in records]
        return records, (max(1, min(diffs)), max(1, max(diffs))), {"data": data}
    rng = difficulty or (max(1, train[0]), 2 * train[1])
    return task.generate(n, seed, rng, **opts), rng, {"difficulty": list(rng), "n": n, "seed": seed}


def _run_test(rollouts: Rollouts, records: list[dict], exit_rule: ExitRule, say: Callable[[str], None]) -> _TestRun:
    """Full rollouts and the halted run of ``records`` on the same initial states."""
    say(f"test: recording {len(records)} full rollouts")
    feats, full_wall = rollouts.record(records)
    say("test: halted run")
    preds, steps, halted_wall = rollouts.halt(records, exit_rule)
    labels = torch.as_tensor(labels_of(rollouts.task, records))
    final = feats.prediction[-1].cpu()
    keys = difficulty_keys(rollouts.task, records)
    sim_steps, _ = simulate(exit_rule, feats, rollouts.min_steps)
    return _TestRun(feats, full_wall, preds, steps, halted_wall, labels, final, keys, sim_steps)


def _summary(rule: str, alpha: float, exit_rule: ExitRule, point: dict[str, Any], test: _TestRun, rollouts: Rollouts) -> dict[str, Any]:
    """The one-line summary (``loopthink halt --json``), also the head of ``halting.json``."""
    spec = exit_rule.describe()
    return {
        "rule": rule,
        "alpha": alpha if rule == "conformal" else None,
        "threshold": spec.get("threshold", spec.get("lambda")),
        "accuracy": point["accuracy"],
        "accuracy_at_max": float(correct(test.final, test.labels, 1).double().mean()),
        "mean_steps": point["mean_steps"],
        "max_steps": rollouts.max_steps,
        "min_steps": rollouts.min_steps,
        "compute_saved": point["compute_saved"],
        "premature_exit_rate": point["premature_exit_rate"],
        "premature_exit_ci": [point["premature_exit"]["ci_low"], point["premature_exit"]["ci_high"]],
        "n": len(test.labels),
        "by_difficulty": by_difficulty(test.keys, test.steps, test.predictions, test.final, test.labels),
    }


def _wall_time(test: _TestRun) -> dict[str, Any]:
    """The two runs' wall times: what halting saves in time, not only in steps."""
    return {
        "full_rollout_s": test.full_wall,
        "halted_s": test.halted_wall,
        "speedup": test.full_wall / max(test.halted_wall, 1e-9),
        "note": "full rollout = T_max steps with per-step readouts (recording); halted = halt() on the same batches",
    }


def _per_position(test: _TestRun) -> dict[str, Any]:
    """For a per-position task: per-position accuracy with halting and at T_max, beside the exact
    match that ``accuracy`` reports (the instance exits as a whole)."""
    if test.labels.ndim == 1:
        return {}
    rate = lambda answers: (lambda hit, n: hit / max(n, 1))(*position_hits(answers, test.labels))  # noqa: E731
    return {"per_position": True, "position_accuracy": rate(test.predictions), "position_accuracy_at_max": rate(test.final)}


def _alpha_sweep(rules: list[ConformalRule], points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each calibrated alpha's lambda and calibration risk beside its point on the test Pareto curve."""
    return [
        {"alpha": r.alpha, "lambda": num(r.lam), "calibration_risk": r.calibration["empirical_risk"], **pt} for r, pt in zip(rules, points)
    ]


def _stepped_run(run: str | Path, device: str) -> tuple[Any, SteppedModel, Task]:
    """(config, model, task) of a run whose model can be halted step by step."""
    cfg, model, task = load_run(run, device)
    if not isinstance(model, SteppedModel):
        raise RunError(f"{run}: model {type(model).__name__} has no step-wise interface to halt")
    return cfg, model, task


def evaluate_halting(
    run: str | Path,
    rule: str = "conformal",
    alpha: float = DEFAULT_ALPHA,
    threshold: float | None = None,
    max_steps: int = 64,
    min_steps: int = 1,
    difficulty: tuple[int, int] | None = None,
    data: str | None = None,
    calib_data: str | None = None,
    n: int = 1000,
    n_calib: int = 1000,
    n_probe: int = 500,
    seed: int = 1234,
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = False,
) -> HaltingEvaluation:
    """Halt a run's test instances (a JSONL file, or generated over ``difficulty``, default training
    LO .. 2x training HI) with an exit rule, against full ``max_steps`` rollouts of the same states."""
    check_settings(rule, alpha, threshold, max_steps, min_steps, n=n, n_calib=n_calib, n_probe=n_probe, batch_size=batch_size)
    cfg, model, task = _stepped_run(run, device)
    opts = {**cfg.task.options, **cfg.eval.options}
    lo_t, hi_t = cfg.task.train_difficulty
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    rollouts = Rollouts(model, task, max_steps, min_steps, seed, batch_size, device)
    test_records, rng, test_source = _test_set(task, data, difficulty, (lo_t, hi_t), n, seed, opts)
    source = CalibrationSource(calib_data, n_probe, n_calib, rng, opts)
    exit_rule, conformal_rules, calib_info = choose_exit_rule(rollouts, rule, alpha, threshold, source, say)
    test = _run_test(rollouts, test_records, exit_rule, say)

    point = _point(test.steps, test.predictions, test.final, test.labels, max_steps)
    summary = _summary(rule, alpha, exit_rule, point, test, rollouts)
    curves = pareto_curves(test.features, test.labels, min_steps, conformal_rules)
    out = {
        **summary,
        "run": str(run),
        "task": task.name,
        "difficulty_name": task.difficulty_name,
        "train_difficulty": [lo_t, hi_t],
        "test": test_source,
        "rule_spec": exit_rule.describe(),
        "calibration": calib_info or None,
        "premature_exit": point["premature_exit"],
        "wall_time": _wall_time(test),
        "simulated_exit_agreement": float((test.simulated_steps.cpu() == test.steps).double().mean()),
        "steps_histogram": np.bincount(test.steps.numpy(), minlength=max_steps + 1)[1:].tolist(),
        **_per_position(test),
        "pareto": curves,
        "defaults": {"kl_threshold": KL_THRESHOLD, "convergence_threshold": CONVERGENCE_THRESHOLD},
    }
    if conformal_rules:
        out["alpha_sweep"] = _alpha_sweep(conformal_rules, curves["conformal"])
    return HaltingEvaluation(out, summary, test.keys, test.labels, test.predictions, test.final, test.steps, bool(conformal_rules))


def halting_summary(
    model: SteppedModel, task: Task, records: list[dict], rule: ExitRule, max_steps: int, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Accuracy, mean steps and compute saved with per-example halting, overall and per difficulty."""
    preds, steps, _ = halt_records(model, task, records, rule, max_steps, 1, seed, device=device)
    right = correct(preds, torch.as_tensor(labels_of(task, records)), 1).double()
    keys = np.array(difficulty_keys(task, records))
    by = {
        k: {"accuracy": float(right[keys == k].mean()), "mean_steps": float(steps[keys == k].double().mean())}
        for k in sorted(set(keys.tolist()), key=bucket_order)
    }
    mean_steps = float(steps.double().mean())
    return {
        "rule": rule.describe(),
        "max_steps": max_steps,
        "accuracy": float(right.mean()),
        "mean_steps": mean_steps,
        "compute_saved": 1 - mean_steps / max_steps,
        "by_difficulty": by,
    }
