"""The report's sections read from the run directories themselves: the overview of all runs, and
per run its config and its training log."""

from __future__ import annotations

import json
import math

from loopthink.plots.training import figure_png_bytes, mean_val, training_figure, val_keys, val_overlay_figure
from loopthink.report.artefacts import MAX_TRAIN_TABLE_ROWS, RunInfo, parameter_count
from loopthink.report.html import Page, command_hint, esc, fmt, img_tag, kv_table, mean_of, q, table
from loopthink.tasks import get_task
from loopthink.training.rundir import latest_checkpoint


def overview_section(page: Page, runs: list[RunInfo]) -> str:
    out = page.heading(2, "overview", "Overview")
    rows = []
    for i, r in enumerate(runs):
        last = r.train_rows[-1] if r.train_rows else {}
        lastv = r.val_rows[-1] if r.val_rows else {}
        rows.append(
            [
                f'<a href="#run{i}">{esc(r.label)}</a>',
                esc(r.cfg.task.name),
                esc(r.cfg.arch),
                fmt(f"{r.cfg.task.train_difficulty[0]}..{r.cfg.task.train_difficulty[1]}"),
                f"{r.iterations_done} / {r.cfg.train.iters}",
                fmt(last.get("loss")),
                fmt(last.get("acc")),
                fmt(mean_val(lastv) if lastv else None),
                fmt(last.get("time")),
            ]
        )
    out += table(
        ["run", "task", "arch", "trained on", "iterations", "final loss", "final train acc", "last val acc (mean)", "time (s)"],
        rows,
        left=3,
        raw=True,
    )
    if len(runs) > 1:
        fig = val_overlay_figure([(r.label, r.val_rows) for r in runs])
        out += img_tag(
            figure_png_bytes(fig), "validation accuracy of all runs", "mean validation accuracy over each run's training difficulties"
        )
        page.images += 1
    return out


def config_section(page: Page, r: RunInfo, anchor: str) -> str:
    cfg = r.cfg
    tc = cfg.train
    steps = tc.steps
    step_text = (
        f"{steps.mode} {steps.min}..{steps.max}"
        if steps.mode == "uniform"
        else f"{steps.mode} (mean {steps.mean}, min {steps.min}, max {steps.max})"
    )
    try:
        yaml_text = (r.path / "config.yaml").read_text()
    except OSError as e:
        yaml_text = f"(cannot read config.yaml: {e})"
    facts = [
        ("run directory", str(r.path)),
        ("task", cfg.task.name),
        ("training difficulty", f"{cfg.task.train_difficulty[0]}..{cfg.task.train_difficulty[1]}"),
        ("architecture", cfg.arch),
        ("d_model / heads / d_ff", f"{cfg.model.d_model} / {cfg.model.n_heads} / {cfg.model.d_ff}"),
        ("blocks per step", cfg.model.blocks_per_step),
        ("parameters (model.safetensors)", parameter_count(r.path)),
        ("training steps T", step_text),
        ("loss", tc.loss),
        ("iterations x batch", f"{tc.iters} x {tc.batch_size}"),
        ("learning rate", tc.lr),
        ("seed", tc.seed),
    ]
    if cfg.task.options:
        facts.insert(3, ("task options", json.dumps(cfg.task.options)))
    return (
        page.heading(3, anchor, "Config")
        + f'<div class="cols"><div>{kv_table(facts)}</div>'
        + f'<details open><summary>config.yaml</summary><pre class="config">{esc(yaml_text)}</pre></details></div>'
    )


def training_section(page: Page, r: RunInfo, anchor: str) -> str:
    out = page.heading(3, anchor, "Training")
    if not r.train_rows and not r.val_rows:
        return out + _no_training_log(r)
    name = _difficulty_name(r.cfg.task.name)
    fig = training_figure(r.train_rows, r.val_rows, title=r.label, difficulty_name=name)
    out += img_tag(
        figure_png_bytes(fig),
        f"training curves of {r.label}",
        "loss, training accuracy of the logged batch, validation accuracy per difficulty (from metrics.jsonl)",
    )
    page.images += 1
    if r.bad_lines:
        out += f'<p class="muted">{r.bad_lines} unreadable line(s) in metrics.jsonl skipped.</p>'
    last = r.train_rows[-1] if r.train_rows else {}
    done, iters = r.iterations_done, r.cfg.train.iters
    summary = [
        ("iterations logged", f"{done} of {iters}" + ("" if done >= iters else " (incomplete: continue with --resume)")),
        ("final loss", last.get("loss")),
        ("final training accuracy", last.get("acc")),
        ("wall time (s)", last.get("time")),
    ]
    return out + kv_table(summary) + _validation_table(r, name) + _training_log(r)


def _no_training_log(r: RunInfo) -> str:
    metrics = r.path / "metrics.jsonl"
    problem = f"{metrics} is missing" if not metrics.exists() else f"{metrics} has no readable rows"
    cmd = f"loopthink train {q(r.path / 'config.yaml')} --out {q(r.path)}"
    if latest_checkpoint(r.path) is not None:
        then = "(continues from the last checkpoint; the log covers the iterations from there on)"
        return command_hint("No training log", cmd + " --resume", problem, then)
    return command_hint("No training log", cmd, problem, "then run the report again.")


def _validation_table(r: RunInfo, name: str) -> str:
    keys = val_keys(r.val_rows)
    if not keys:
        return ""
    rows = []
    for row in r.val_rows:
        accs = [row["val"].get(k) for k in keys]
        rows.append([row["iter"], row.get("val_steps")] + accs + [mean_of(accs)])
    header = ["iteration", "T"] + [f"{name} {k}" for k in keys] + ["mean"]
    return f"<h4>Validation accuracy per {esc(name)} (fixed seeded sets, T = val_steps)</h4>" + table(
        header, rows, left=0, acc_cols=range(2, len(keys) + 3)
    )


def _training_log(r: RunInfo) -> str:
    """The logged training rows, at most about MAX_TRAIN_TABLE_ROWS of them (and always the last)."""
    if not r.train_rows:
        return ""
    k = max(1, math.ceil(len(r.train_rows) / MAX_TRAIN_TABLE_ROWS))
    picked = r.train_rows[::k]
    if picked[-1] is not r.train_rows[-1]:
        picked.append(r.train_rows[-1])
    cols = [c for c in ("iter", "loss", "acc", "steps", "lr", "grad_norm", "time") if any(c in row for row in picked)]
    note = f" (every {k}th row; all {len(r.train_rows)} rows are in {r.path / 'metrics.jsonl'})" if k > 1 else ""
    return (
        f"<details><summary>training log{esc(note)}</summary>"
        + table(cols, [[row.get(c) for c in cols] for row in picked], left=0)
        + "</details>"
    )


def _difficulty_name(task: str) -> str:
    try:
        return get_task(task).difficulty_name
    except Exception:  # noqa: BLE001 - a label only
        return "difficulty"
