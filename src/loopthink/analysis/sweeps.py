"""Numbers over a sweep's seeds: ``eval`` of every seed's run with the mean and its 95% interval
(:func:`loopthink.analysis.stats.mean_ci`), ``eval --pool`` of the seeds as one pooled model, and
the validation summary ``loopthink sweep`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from loopthink.analysis.accuracy import ensemble_renumbering, evaluate_records, format_table
from loopthink.analysis.stats import INTERVAL_METHOD, mean_ci
from loopthink.sweeps.runner import Run
from loopthink.tasks import DataError
from loopthink.training.rundir import RunError, load_run


def sweep_eval(
    runs: Sequence[str | Path],
    records: list[dict],
    data_name: str,
    steps: list[int],
    device: str = "cpu",
    **kw: Any,
) -> dict[str, Any]:
    """The ``loopthink eval --json`` object of a sweep: every seed's run evaluated on the same
    records; accuracies are means over seeds with their 95% interval, per-seed values alongside."""
    results, seeds = [], []
    for run in runs:
        cfg, model, task = load_run(run, device)
        if data_name != task.name:
            raise DataError(f"the data holds {data_name} instances but {run} was trained on {task.name}")
        results.append(evaluate_records(model, task, records, steps, device=device, **kw))
        seeds.append(cfg.train.seed)
    keys = [str(s) for s in steps]
    out: dict[str, Any] = {"n": results[0]["n"], "seeds": seeds, "runs": [str(r) for r in runs], "interval": INTERVAL_METHOD, "steps": {}}
    for s in keys:
        ci = mean_ci([r["steps"][s]["accuracy"] for r in results], (0.0, 1.0))
        out["steps"][s] = {"accuracy": ci["mean"], "ci_low": ci["low"], "ci_high": ci["high"], "per_seed": ci["values"]}
        if "position_accuracy" in results[0]["steps"][s]:
            out["steps"][s]["position_accuracy"] = mean_ci([r["steps"][s]["position_accuracy"] for r in results], (0.0, 1.0))["mean"]
    for name in ("difficulty", "group"):
        if f"by_{name}" not in results[0]:
            continue
        means, per_seed, by_ci = {}, {}, {}
        for k in results[0][f"by_{name}"]:
            per_seed[k] = {s: [r[f"by_{name}"][k][s] for r in results] for s in keys}
            cis = {s: mean_ci(per_seed[k][s], (0.0, 1.0)) for s in keys}
            means[k] = {s: cis[s]["mean"] for s in keys}
            by_ci[k] = {s: [cis[s]["low"], cis[s]["high"]] for s in keys}
        out.update(
            {f"by_{name}": means, f"by_{name}_per_seed": per_seed, f"by_{name}_ci": by_ci, f"n_by_{name}": results[0][f"n_by_{name}"]}
        )
    if "group_key" in results[0]:
        out["group_key"] = results[0]["group_key"]
    out["difficulty_name"] = task.difficulty_name
    return out


def load_pool(runs: Sequence[str | Path], device: str = "cpu", ensemble: int = 1) -> tuple[list[Any], list[nn.Module], Any]:
    """(configs, models, task) of runs that answer as one pooled model; RunError unless they were all
    trained on one task (name and options), or if ``ensemble`` readings of one of them could not differ."""
    loaded = [load_run(run, device) for run in runs]
    first = loaded[0][0].task
    for run, (cfg, model, task) in zip(runs, loaded):
        if (cfg.task.name, cfg.task.options) != (first.name, first.options):
            raise RunError(
                f"{run}: its task ({cfg.task.name}, {cfg.task.options}) differs from {runs[0]}'s ({first.name}, {first.options}): a pool needs one task"
            )
        try:
            ensemble_renumbering(model, ensemble, task)
        except ValueError as e:
            raise RunError(f"{run}: --ensemble {ensemble}: {e}") from None
    return [c for c, _, _ in loaded], [m for _, m, _ in loaded], loaded[0][2]


def pool_eval(
    runs: Sequence[str | Path],
    records: list[dict],
    data_name: str,
    steps: list[int],
    device: str = "cpu",
    ensemble: int = 1,
    **kw: Any,
) -> dict[str, Any]:
    """The ``loopthink eval --json`` object of one pooled model: the runs (a sweep's seeds) answer
    every record together with their mean probability (``predict_over_steps`` with several
    models). len(runs) times the compute of one run; a measure apart from the mean over seeds."""
    cfgs, models, task = load_pool(runs, device, ensemble)
    if data_name != task.name:
        raise DataError(f"the data holds {data_name} instances but {runs[0]} was trained on {task.name}")
    result = evaluate_records(models, task, records, steps, device=device, ensemble=ensemble, **kw)
    seeds = [c.train.seed for c in cfgs]
    return {**result, "pooled": True, "seeds": seeds, "runs": [str(r) for r in runs], "difficulty_name": task.difficulty_name}


def format_sweep_table(result: dict[str, Any]) -> str:
    """The mean table of :func:`loopthink.analysis.accuracy.format_table`, then each step count's interval."""
    lines = [
        f"mean over {len(result['seeds'])} seeds ({', '.join(map(str, result['seeds']))})",
        format_table(result, result.get("difficulty_name", "difficulty")),
        "",
        "95% interval over seeds (Student t):",
    ]
    for s, v in result["steps"].items():
        per = " ".join(f"{a:.3f}" for a in v["per_seed"])
        lines.append(f"  T={s:>4}: {v['accuracy']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]   per seed: {per}")
    return "\n".join(lines)


def sweep_summary(runs: list[Run]) -> str:
    """Per grid point: mean validation accuracy (over training difficulties) with its seed interval."""
    lines = []
    by_point: dict[str, list[Run]] = {}
    for r in runs:
        by_point.setdefault(r.grid_point, []).append(r)
    for gp, rs in by_point.items():
        vals = [sum(r.val.values()) / len(r.val) for r in rs if r.status == "finished" and r.val]
        name = gp or "seeds"
        if vals:
            ci = mean_ci(vals, (0.0, 1.0))
            lines.append(f"{name}: val accuracy {ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}] over {ci['n']} seed(s)")
        else:
            lines.append(f"{name}: no finished run")
    return "\n".join(lines)
