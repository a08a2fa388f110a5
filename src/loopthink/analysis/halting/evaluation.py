"""Halting evaluated: accuracy, steps and premature exits of a rule on test instances, Pareto
curves of every rule family, and the whole ``loopthink halt`` measurement of a run."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loopthink.analysis.accuracy import bucket_order, difficulty_keys, labels_of
from loopthink.analysis.halting.conformal import CALIB_SEED_OFFSET, DEFAULT_ALPHA, PROBE_SEED_OFFSET, calibrate_conformal, fit_probe
from loopthink.analysis.halting.features import StepFeatures
from loopthink.analysis.halting.rules import (
    CONVERGENCE_THRESHOLD,
    KL_THRESHOLD,
    ConformalRule,
    ConvergenceRule,
    ExitRule,
    KLRule,
    make_rule,
    num,
)
from loopthink.analysis.halting.runtime import halt_records, record_records, simulate
from loopthink.analysis.stats import wilson_interval
from loopthink.model.core import SteppedModel
from loopthink.tasks import DataError, Task
from loopthink.tasks.files import read_run_records
from loopthink.training.rundir import RunError, load_run

ALPHA_SWEEP = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
KL_SWEEP = tuple(float(x) for x in np.logspace(-10, -1, 19))
CONVERGENCE_SWEEP = tuple(float(x) for x in np.logspace(-2.5, 0, 21))


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else 0.0, "k": k, "n": n, "ci_low": lo, "ci_high": hi}


def _point(steps: torch.Tensor, preds: torch.Tensor, final: torch.Tensor, labels: torch.Tensor, max_steps: int) -> dict[str, Any]:
    prem = int((preds != final).sum())
    mean = float(steps.double().mean())
    return {
        "accuracy": float((preds == labels).double().mean()),
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
        curves["fixed"].append({"param": t, **_point(torch.full_like(p, t), p, final, labels, T)})
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
            "accuracy": float((preds[sel] == labels[sel]).double().mean()),
            "accuracy_at_max": float((final[sel] == labels[sel]).double().mean()),
            "mean_steps": float(s.mean()),
            "steps_p10": float(q[0]),
            "steps_median": float(q[1]),
            "steps_p90": float(q[2]),
            "steps_min": int(s.min()),
            "steps_max": int(s.max()),
            "premature_exit_rate": float((preds[sel] != final[sel]).double().mean()),
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


def read_records(path: str, task: Any) -> list[dict]:
    """The instances of a record file (any format), which must be of the run's task and not empty."""
    return read_run_records(path, task.name, "the run")


def _probe_and_calibration(
    task: Any, calib_data: str | None, rng: tuple[int, int], n_probe: int, n_calib: int, seed: int, opts: dict[str, Any]
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """(probe-training records, calibration records, their source): a file split in half, or two
    generated sets with seeds disjoint from the test seed."""
    if calib_data:
        pool = read_records(calib_data, task)
        if len(pool) < 4:
            raise DataError(f"{calib_data}: need at least 4 instances to split into probe/calibration")
        perm = np.random.default_rng(seed).permutation(len(pool))
        half = len(pool) // 2
        return [pool[i] for i in perm[:half]], [pool[i] for i in perm[half:]], {"calib_data": calib_data}
    probe_records = task.generate(n_probe, seed + PROBE_SEED_OFFSET, rng, **opts)
    calib_records = task.generate(n_calib, seed + CALIB_SEED_OFFSET, rng, **opts)
    source = {"difficulty": list(rng), "probe_seed": seed + PROBE_SEED_OFFSET, "calib_seed": seed + CALIB_SEED_OFFSET}
    return probe_records, calib_records, source


def conformal_rules_for(
    model: SteppedModel,
    task: Task,
    probe_records: list[dict],
    calib_records: list[dict],
    alphas: Sequence[float],
    max_steps: int,
    min_steps: int,
    seed: int,
    batch_size: int,
    device: str,
    say: Any = None,
) -> list[ConformalRule]:
    """One calibrated :class:`ConformalRule` per alpha, all from one probe (fitted on ``probe_records``)."""
    say = say or (lambda msg: None)
    say(f"probe: recording {len(probe_records)} rollouts of {max_steps} steps")
    probe_feats, _ = record_records(model, task, probe_records, max_steps, seed + PROBE_SEED_OFFSET, batch_size, device)
    probe = fit_probe(probe_feats, min_steps)
    say(f"calibration: recording {len(calib_records)} rollouts")
    calib_feats, _ = record_records(model, task, calib_records, max_steps, seed + CALIB_SEED_OFFSET, batch_size, device)
    return [calibrate_conformal(probe, calib_feats, a, min_steps) for a in alphas]


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


def _summary(
    rule: str,
    alpha: float,
    exit_rule: ExitRule,
    point: dict[str, Any],
    final: torch.Tensor,
    labels: torch.Tensor,
    max_steps: int,
    min_steps: int,
    by_diff: dict[str, Any],
) -> dict[str, Any]:
    """The one-line summary (``loopthink halt --json``), also the head of ``halting.json``."""
    spec = exit_rule.describe()
    return {
        "rule": rule,
        "alpha": alpha if rule == "conformal" else None,
        "threshold": spec.get("threshold", spec.get("lambda")),
        "accuracy": point["accuracy"],
        "accuracy_at_max": float((final == labels).double().mean()),
        "mean_steps": point["mean_steps"],
        "max_steps": max_steps,
        "min_steps": min_steps,
        "compute_saved": point["compute_saved"],
        "premature_exit_rate": point["premature_exit_rate"],
        "premature_exit_ci": [point["premature_exit"]["ci_low"], point["premature_exit"]["ci_high"]],
        "n": len(labels),
        "by_difficulty": by_diff,
    }


def _exit_rule(
    model: SteppedModel,
    task: Task,
    rule: str,
    alpha: float,
    threshold: float | None,
    calib: tuple[str | None, int, int],
    rng: tuple[int, int],
    opts: dict[str, Any],
    max_steps: int,
    min_steps: int,
    seed: int,
    batch_size: int,
    device: str,
    say: Any,
) -> tuple[ExitRule, list[ConformalRule], dict[str, Any]]:
    """(the rule, the calibrated conformal rule of every alpha of :data:`ALPHA_SWEEP` (conformal
    only), calibration info). ``calib`` = (calibration file or None, n_probe, n_calib). Conformal:
    the probe on one split, calibration on another, both disjoint from the test set."""
    if rule != "conformal":
        return make_rule(rule, threshold), [], {}
    calib_data, n_probe, n_calib = calib
    probe_records, calib_records, source = _probe_and_calibration(task, calib_data, rng, n_probe, n_calib, seed, opts)
    info = {"source": source, "n_probe": len(probe_records), "n_calib": len(calib_records)}
    alphas = sorted(set(ALPHA_SWEEP) | {alpha})
    rules = conformal_rules_for(model, task, probe_records, calib_records, alphas, max_steps, min_steps, seed, batch_size, device, say)
    chosen = rules[alphas.index(alpha)]
    if not math.isfinite(chosen.lam):
        print(
            f"warning: alpha={alpha} cannot be certified with {len(calib_records)} calibration instances "
            f"(needs n >= 1/alpha - 1); every example runs {max_steps} steps",
            file=sys.stderr,
        )
    return chosen, rules, info


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
    cfg, model, task = load_run(run, device)
    if not isinstance(model, SteppedModel):
        raise RunError(f"{run}: model {type(model).__name__} has no step-wise interface to halt")
    opts = {**cfg.task.options, **cfg.eval.options}
    lo_t, hi_t = cfg.task.train_difficulty
    T, m = max_steps, min_steps
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    test_records, rng, test_source = _test_set(task, data, difficulty, (lo_t, hi_t), n, seed, opts)

    calib = (calib_data, n_probe, n_calib)
    exit_rule, conformal_rules, calib_info = _exit_rule(
        model, task, rule, alpha, threshold, calib, rng, opts, T, m, seed, batch_size, device, say
    )

    # test: full rollouts (reference, Pareto curves) and the halted run on the same initial states
    say(f"test: recording {len(test_records)} full rollouts")
    test_feats, full_wall = record_records(model, task, test_records, T, seed, batch_size, device)
    say("test: halted run")
    preds, steps, halted_wall = halt_records(model, task, test_records, exit_rule, T, m, seed, batch_size, device)
    labels = torch.as_tensor(labels_of(task, test_records))
    final = test_feats.prediction[-1].cpu()
    keys = difficulty_keys(task, test_records)
    sim_steps, _ = simulate(exit_rule, test_feats, m)

    point = _point(steps, preds, final, labels, T)
    summary = _summary(rule, alpha, exit_rule, point, final, labels, T, m, by_difficulty(keys, steps, preds, final, labels))
    curves = pareto_curves(test_feats, labels, m, conformal_rules)
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
        "wall_time": {
            "full_rollout_s": full_wall,
            "halted_s": halted_wall,
            "speedup": full_wall / max(halted_wall, 1e-9),
            "note": "full rollout = T_max steps with per-step readouts (recording); halted = halt() on the same batches",
        },
        "simulated_exit_agreement": float((sim_steps.cpu() == steps).double().mean()),
        "steps_histogram": np.bincount(steps.numpy(), minlength=T + 1)[1:].tolist(),
        "pareto": curves,
        "defaults": {"kl_threshold": KL_THRESHOLD, "convergence_threshold": CONVERGENCE_THRESHOLD},
    }
    if conformal_rules:
        out["alpha_sweep"] = [
            {"alpha": r.alpha, "lambda": num(r.lam), "calibration_risk": r.calibration["empirical_risk"], **pt}
            for r, pt in zip(conformal_rules, curves["conformal"])
        ]
    return HaltingEvaluation(out, summary, keys, labels, preds, final, steps, bool(conformal_rules))


def write_outputs(ev: HaltingEvaluation, out: Path) -> None:
    """``halting.json`` and ``halting_examples.csv`` (one row per test instance) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "halting.json").write_text(json.dumps(ev.data, indent=1))
    with open(out / "halting_examples.csv", "w") as f:
        f.write("index,difficulty,label,prediction,prediction_at_max,steps_used\n")
        for i in range(len(ev.keys)):
            f.write(f"{i},{ev.keys[i]},{int(ev.labels[i])},{int(ev.predictions[i])},{int(ev.final[i])},{int(ev.steps[i])}\n")


def summary_text(data: dict[str, Any]) -> str:
    T = data["max_steps"]
    pe = data["premature_exit"]
    rule = data["rule"] + (f" (alpha={data['alpha']})" if data["alpha"] is not None else f" (threshold={data['threshold']:g})")
    lines = [
        f"rule {rule}, T_max={T}, min_steps={data['min_steps']}, n={data['n']}",
        f"accuracy {data['accuracy']:.4f} with halting vs {data['accuracy_at_max']:.4f} at T_max "
        f"({100 * (data['accuracy'] - data['accuracy_at_max']):+.2f} points)",
        f"mean steps {data['mean_steps']:.2f} of {T}: compute saved {data['compute_saved']:.1%}; "
        f"wall time {data['wall_time']['halted_s']:.2f}s halted vs {data['wall_time']['full_rollout_s']:.2f}s full",
        f"premature exits {pe['k']}/{pe['n']} = {pe['rate']:.4f} (95% CI {pe['ci_low']:.4f}..{pe['ci_high']:.4f})"
        + (f" vs alpha {data['alpha']}" if data["alpha"] is not None else ""),
        "",
        f"{data['difficulty_name']:>12} {'n':>6} {'acc':>7} {'acc@max':>8} {'mean':>6} {'p10':>5} {'med':>5} {'p90':>5} {'max':>5}",
    ]
    for k, r in data["by_difficulty"].items():
        lines.append(
            f"{k:>12} {r['n']:>6} {r['accuracy']:>7.3f} {r['accuracy_at_max']:>8.3f} {r['mean_steps']:>6.1f} "
            f"{r['steps_p10']:>5.0f} {r['steps_median']:>5.0f} {r['steps_p90']:>5.0f} {r['steps_max']:>5}"
        )
    if data.get("alpha_sweep"):
        lines += ["", f"{'alpha':>8} {'premature':>10} {'95% CI':>17} {'accuracy':>9} {'mean steps':>11}"]
        for r in data["alpha_sweep"]:
            pe = r["premature_exit"]
            lines.append(
                f"{r['alpha']:>8g} {pe['rate']:>10.4f} {pe['ci_low']:>8.4f}..{pe['ci_high']:<7.4f} {r['accuracy']:>9.4f} {r['mean_steps']:>11.2f}"
            )
    return "\n".join(lines)


# ---- exit rules by name, for `eval --halt` and the Python API -------------------------------------
def rule_from_spec(
    spec: str,
    model: SteppedModel,
    task: Task,
    difficulty: tuple[int, int],
    options: dict[str, Any],
    max_steps: int,
    seed: int = 1234,
    n_probe: int = 500,
    n_calib: int = 1000,
    min_steps: int = 1,
    device: str = "cpu",
) -> ExitRule:
    """``kl[:THRESHOLD]``, ``convergence[:THRESHOLD]`` or ``conformal[:ALPHA]`` -> an exit rule.

    The conformal rule is fitted and calibrated here on freshly generated instances of
    ``difficulty`` (seeds offset from ``seed``, so disjoint from test data made with ``seed``)."""
    name, _, value = spec.partition(":")
    try:
        number = float(value) if value else None
    except ValueError:
        raise DataError(f"--halt {spec!r}: {value!r} is not a number") from None
    if name in ("kl", "convergence"):
        return make_rule(name, number)
    if name != "conformal":
        raise DataError(f"--halt {spec!r}: rule must be kl, convergence or conformal")
    alpha = DEFAULT_ALPHA if number is None else number
    if not 0 < alpha < 1:
        raise DataError(f"--halt {spec!r}: alpha must be in (0, 1)")
    probe_records = task.generate(n_probe, seed + PROBE_SEED_OFFSET, difficulty, **options)
    calib_records = task.generate(n_calib, seed + CALIB_SEED_OFFSET, difficulty, **options)
    probe_feats, _ = record_records(model, task, probe_records, max_steps, seed + PROBE_SEED_OFFSET, device=device)
    calib_feats, _ = record_records(model, task, calib_records, max_steps, seed + CALIB_SEED_OFFSET, device=device)
    return calibrate_conformal(fit_probe(probe_feats, min_steps), calib_feats, alpha, min_steps)


def halting_summary(
    model: SteppedModel, task: Task, records: list[dict], rule: ExitRule, max_steps: int, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Accuracy, mean steps and compute saved with per-example halting, overall and per difficulty."""
    preds, steps, _ = halt_records(model, task, records, rule, max_steps, 1, seed, device=device)
    correct = (preds == torch.as_tensor(labels_of(task, records))).double()
    keys = np.array(difficulty_keys(task, records))
    by = {
        k: {"accuracy": float(correct[keys == k].mean()), "mean_steps": float(steps[keys == k].double().mean())}
        for k in sorted(set(keys.tolist()), key=bucket_order)
    }
    mean_steps = float(steps.double().mean())
    return {
        "rule": rule.describe(),
        "max_steps": max_steps,
        "accuracy": float(correct.mean()),
        "mean_steps": mean_steps,
        "compute_saved": 1 - mean_steps / max_steps,
        "by_difficulty": by,
    }
