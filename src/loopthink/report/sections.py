"""The report's sections: overview, config, training, frontier, comparison, dynamics, halting.
Each shows the numbers and pictures of an artefact, or the exact command that makes it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopthink.analysis.frontier import frontier_line
from loopthink.checkpoint import latest_checkpoint
from loopthink.plots.training import figure_png_bytes, mean_val, training_figure, val_keys, val_overlay_figure
from loopthink.report.artefacts import MAX_TRAIN_TABLE_ROWS, RunInfo, parameter_count, pictures, read_artefact
from loopthink.report.html import Page, Raw, command_hint, esc, fmt, img_tag, kv_table, q, table
from loopthink.tasks import get_task


def picture_block(kind: str, folder: Path, remake: str) -> tuple[str, int]:
    """HTML for an artefact's pictures, and how many were embedded."""
    pics = pictures(kind, folder)
    parts = []
    good = 0
    for name, png in pics:
        if png is None:
            parts.append(
                f'<p class="missing">{esc(folder / name)} is not a readable PNG (or is too large to embed); remake it with <code>{esc(remake)}</code>.</p>'
            )
        else:
            parts.append(img_tag(png, f"{kind}: {name}", name))
            good += 1
    if not pics:
        parts.append(f'<p class="missing">{esc(folder)} holds no PNG pictures; remake them with <code>{esc(remake)}</code>.</p>')
    cls = "figs" if good > 1 else ""
    return f'<div class="{cls}">{"".join(parts)}</div>', good


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
    metrics = r.path / "metrics.jsonl"
    if not r.train_rows and not r.val_rows:
        problem = f"{metrics} is missing" if not metrics.exists() else f"{metrics} has no readable rows"
        cmd = f"loopthink train {q(r.path / 'config.yaml')} --out {q(r.path)}"
        if latest_checkpoint(r.path) is not None:
            return out + command_hint(
                "No training log",
                cmd + " --resume",
                problem,
                "(continues from the last checkpoint; the log covers the iterations from there on)",
            )
        return out + command_hint("No training log", cmd, problem, "then run the report again.")
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
    done = max([row["iter"] for row in r.train_rows + r.val_rows if isinstance(row.get("iter"), (int, float))] or [0])
    summary = [
        (
            "iterations logged",
            f"{done} of {r.cfg.train.iters}" + ("" if done >= r.cfg.train.iters else " (incomplete: continue with --resume)"),
        ),
        ("final loss", last.get("loss")),
        ("final training accuracy", last.get("acc")),
        ("wall time (s)", last.get("time")),
    ]
    out += kv_table(summary)
    keys = val_keys(r.val_rows)
    if keys:
        out += f"<h4>Validation accuracy per {esc(name)} (fixed seeded sets, T = val_steps)</h4>"
        rows = [
            [row["iter"], row.get("val_steps")] + [row["val"].get(k) for k in keys] + [_mean([row["val"].get(k) for k in keys])]
            for row in r.val_rows
        ]
        out += table(["iteration", "T"] + [f"{name} {k}" for k in keys] + ["mean"], rows, left=0, acc_cols=range(2, len(keys) + 3))
    if r.train_rows:
        k = max(1, math.ceil(len(r.train_rows) / MAX_TRAIN_TABLE_ROWS))
        picked = r.train_rows[::k]
        if picked[-1] is not r.train_rows[-1]:
            picked.append(r.train_rows[-1])
        cols = [c for c in ("iter", "loss", "acc", "steps", "lr", "grad_norm", "time") if any(c in row for row in picked)]
        note = f" (every {k}th row; all {len(r.train_rows)} rows are in {metrics})" if k > 1 else ""
        out += f"<details><summary>training log{esc(note)}</summary>"
        out += table(cols, [[row.get(c) for c in cols] for row in picked], left=0) + "</details>"
    return out


def frontier_section(page: Page, r: RunInfo, anchor: str) -> str:
    folder, given = r.dirs["frontier"]
    out = page.heading(3, anchor, "Frontier: accuracy over steps x difficulty")
    cmd = f"loopthink frontier {q(r.path)} --out {q(folder)}"
    data, problem = read_artefact("frontier", folder)
    if data is None:
        return out + command_hint("No frontier", cmd, problem, _then(given, "frontier", folder))
    pics, n = picture_block("frontier", folder, cmd)
    page.images += n
    out += pics
    rows = [row for row in data.get("rows", []) if isinstance(row, dict) and {"steps", "difficulty", "accuracy"} <= set(row)]
    if not rows:
        return out + '<p class="missing">frontier.json has no grid rows.</p>'
    name = data.get("difficulty_name", "difficulty")
    steps = sorted({row["steps"] for row in rows})
    diffs = sorted({row["difficulty"] for row in rows}, key=lambda d: (isinstance(d, str), d))
    cell = {(row["steps"], row["difficulty"]): row for row in rows}
    lo, hi = (data.get("train_difficulty") or [None, None])[:2]
    trained = lambda d: lo is not None and isinstance(d, (int, float)) and lo <= d <= hi  # noqa: E731
    thr = data.get("threshold", 0.95)
    seeds = f" Mean over {len(data['seeds'])} seeds." if data.get("seeds") else ""
    n_cell = sorted({row.get("n") for row in rows if row.get("n") is not None})
    out += (
        f"<p>Accuracy per cell (rows: recurrence steps T; columns: {esc(name)}; * = inside the training range "
        f"{esc(lo)}..{esc(hi)}); {esc(', '.join(map(str, n_cell)))} instances per cell.{esc(seeds)}</p>"
    )
    header = ["T"] + [f"{d}{'*' if trained(d) else ''}" for d in diffs]
    body = [[s] + [cell.get((s, d), {}).get("accuracy") for d in diffs] for s in steps]
    out += table(header, body, left=1, acc_cols=range(1, len(diffs) + 1))
    line = data.get("frontier") or {str(k): v for k, v in frontier_line(rows, thr).items()}
    best = {}
    for d in diffs:
        cells = [row for row in rows if row["difficulty"] == d]
        b = max(cells, key=lambda row: (row["accuracy"], -row["steps"]))
        best[d] = b
    out += f"<h4>Smallest T reaching {thr:.0%} per {esc(name)}</h4>"
    out += table(
        [name, "frontier T", "best accuracy", "at T", "95% interval", "trained"],
        [
            [
                d,
                line.get(str(d)),
                best[d]["accuracy"],
                best[d]["steps"],
                f"{best[d]['ci_low']:.3f}..{best[d]['ci_high']:.3f}"
                if _num(best[d].get("ci_low")) and _num(best[d].get("ci_high"))
                else None,
                trained(d),
            ]
            for d in diffs
        ],
        left=1,
        acc_cols=[2],
    )
    return out


def compare_section(page: Page, found: list[tuple[Path, bool]], runs: list[RunInfo], anchor: str, level: int) -> str:
    out = page.heading(level, anchor, "Comparison: ablations and baselines")
    if len(runs) > 1:
        default = runs[0].dirs["compare"][0]
        cmd = f"loopthink compare {' '.join(q(r.path) for r in runs)} --out {q(default)}"
        hint_then = "then run the report again (it looks in each RUN/compare/), or pass --compare DIR."
    else:
        default = runs[0].dirs["compare"][0]
        cmd = f"loopthink compare {q(runs[0].path)} BASELINE_RUN [ABLATION_RUN ...] --out {q(default)}"
        hint_then = (
            "with the baseline / ablation runs to compare against (e.g. trained from configs/baselines/); then run the report again."
        )
    shown = [(f, g) for f, g in found if (f / "compare.json").is_file()]
    if not shown:
        problems = "; ".join(read_artefact("compare", f)[1] or "" for f, g in found if g)
        return out + command_hint("No comparison", cmd, problems or None, hint_then)
    for _i, (folder, _given) in enumerate(shown):
        data, problem = read_artefact("compare", folder)
        if len(shown) > 1:
            out += f"<h4>{esc(folder)}</h4>"
        if data is None:
            out += command_hint("Unreadable comparison", cmd, problem, hint_then)
            continue
        remake = f"loopthink compare RUN [RUN ...] --out {q(folder)}"
        pics, n = picture_block("compare", folder, remake)
        page.images += n
        out += pics
        curves = [c for c in data.get("runs", []) if isinstance(c, dict)]
        if not curves:
            out += '<p class="missing">compare.json lists no runs.</p>'
            continue
        diffs = list(curves[0].get("difficulty", []))
        lo, hi = (data.get("train_difficulty") or [None, None])[:2]
        trained = lambda d: lo is not None and isinstance(d, (int, float)) and lo <= d <= hi  # noqa: E731, B023 (used within this iteration)
        out += f"<p>Accuracy per difficulty on the same fresh instances ({esc(data.get('task', ''))}; * = training range; each run read at its step count T).</p>"
        rows = []
        for c in curves:
            accs = dict(zip(c.get("difficulty", []), c.get("accuracy", [])))
            vals = [accs.get(d) for d in diffs]
            rows.append([c.get("label"), c.get("arch"), c.get("steps")] + vals + [_mean(vals)])
        out += table(
            ["run", "arch", "T"] + [f"{d}{'*' if trained(d) else ''}" for d in diffs] + ["mean"],
            rows,
            left=2,
            acc_cols=range(3, len(diffs) + 4),
        )
    return out


def dynamics_section(page: Page, r: RunInfo, anchor: str) -> str:
    folder, given = r.dirs["dynamics"]
    out = page.heading(3, anchor, "Dynamics: convergence, commitment, decision step")
    cmd = f"loopthink diagnose {q(r.path)} --out {q(folder)}"
    data, problem = read_artefact("dynamics", folder)
    if data is None:
        return out + command_hint("No dynamics diagnosis", cmd, problem, _then(given, "dynamics", folder))
    name = data.get("difficulty_name", "difficulty")
    if data.get("note"):
        out += f'<p class="muted">note: {esc(data["note"])}</p>'
    pics, n = picture_block("dynamics", folder, cmd)
    page.images += n
    out += pics
    stats = data.get("decision_step_stats") or {}
    mon = data.get("monitor") or {}
    split = data.get("correctness_split") or {}
    out += kv_table(
        [
            ("examples x runs x steps", f"{data.get('n')} x {data.get('runs')} x {data.get('steps')}"),
            ("accuracy (majority at T)", data.get("accuracy")),
            ("consistency of the runs at T", data.get("consistency")),
            ("commitment: initial → final", Raw(f"{fmt(data.get('commitment_init'))} &rarr; {fmt(data.get('commitment_final'))}")),
            ("commitment at T: correct / wrong", Raw(f"{fmt(split.get('commitment_correct'))} / {fmt(split.get('commitment_wrong'))}")),
            ("AUROC(commitment -> correct)", split.get("auroc_commitment_for_correct")),
            ("decision step: mean / median", Raw(f"{fmt(stats.get('mean'), 2)} / {fmt(stats.get('median'), 2)}")),
            (f"decision step slope per {name}", stats.get("slope_per_difficulty")),
            (f"Spearman(decision step, {name})", stats.get("spearman_with_difficulty")),
            (f"monitor AUROC at t0={mon.get('t0')}", mon.get("auroc")),
        ]
    )
    by = data.get("by_difficulty") or {}
    if by:
        out += f"<h4>Per {esc(name)}</h4>"
        out += table(
            [name, "n", "accuracy", "consistency", "commitment at T", "decision step", "± s.e."],
            [
                [
                    k,
                    v.get("n"),
                    v.get("accuracy"),
                    v.get("consistency"),
                    v.get("commitment_final"),
                    v.get("decision_step_mean"),
                    v.get("decision_step_sem"),
                ]
                for k, v in by.items()
            ],
            left=1,
            acc_cols=[2],
        )
    per_step = [s for s in data.get("per_step") or [] if isinstance(s, dict)]
    if per_step:
        cols = [
            c
            for c in ("step", "lens_accuracy", "majority_accuracy", "consistency", "commitment", "convergence", "kl", "entropy", "max_prob")
            if c in per_step[0]
        ]
        out += "<details><summary>per step (all examples)</summary>"
        out += table(
            cols, [[s.get(c) for c in cols] for s in per_step], left=0, acc_cols=[i for i, c in enumerate(cols) if c.endswith("accuracy")]
        )
        out += "</details>"
    if mon.get("per_t0"):
        out += "<details><summary>early-error monitor per t0 (held-out seed)</summary>"
        out += table(
            ["t0", "AUROC", "positive rate"], [[m.get("t0"), m.get("auroc"), m.get("positive_rate_heldout")] for m in mon["per_t0"]], left=0
        )
        out += "</details>"
    defs = data.get("definitions") or {}
    if defs:
        out += "<details><summary>definitions</summary>" + kv_table(list(defs.items())) + "</details>"
    return out


def halting_section(page: Page, r: RunInfo, anchor: str) -> str:
    folder, given = r.dirs["halting"]
    out = page.heading(3, anchor, "Adaptive halting")
    cmd = f"loopthink halt {q(r.path)} --out {q(folder)}"
    data, problem = read_artefact("halting", folder)
    if data is None:
        return out + command_hint("No halting evaluation", cmd, problem, _then(given, "halting", folder))
    name = data.get("difficulty_name", "difficulty")
    pics, n = picture_block("halting", folder, cmd)
    page.images += n
    out += pics
    ci = data.get("premature_exit_ci") or [None, None]
    wall = data.get("wall_time") or {}
    rule = str(data.get("rule"))
    if data.get("alpha") is not None:
        rule += f" (alpha = {data['alpha']})"
    out += kv_table(
        [
            ("rule", rule),
            ("threshold", data.get("threshold")),
            ("test instances", data.get("n")),
            ("accuracy: halted / at T_max", Raw(f"{fmt(data.get('accuracy'))} / {fmt(data.get('accuracy_at_max'))}")),
            ("mean steps / T_max", Raw(f"{fmt(data.get('mean_steps'), 2)} / {fmt(data.get('max_steps'))}")),
            ("compute saved", data.get("compute_saved")),
            ("premature-exit rate (95% interval)", Raw(f"{fmt(data.get('premature_exit_rate'))} ({fmt(ci[0])}..{fmt(ci[1])})")),
            ("wall-clock speedup (halted vs full rollout)", wall.get("speedup")),
        ]
    )
    by = data.get("by_difficulty") or {}
    if by:
        out += f"<h4>Per {esc(name)}</h4>"
        out += table(
            [name, "n", "accuracy", "at T_max", "mean steps", "median", "p90", "premature exits"],
            [
                [
                    k,
                    v.get("n"),
                    v.get("accuracy"),
                    v.get("accuracy_at_max"),
                    v.get("mean_steps"),
                    v.get("steps_median"),
                    v.get("steps_p90"),
                    v.get("premature_exit_rate"),
                ]
                for k, v in by.items()
            ],
            left=1,
            acc_cols=[2, 3],
        )
    sweep = [s for s in data.get("alpha_sweep") or [] if isinstance(s, dict)]
    if sweep:
        out += "<details><summary>conformal alpha sweep</summary>"
        out += table(
            ["alpha", "lambda", "calibration risk", "accuracy", "mean steps", "compute saved", "premature exits"],
            [
                [
                    s.get("alpha"),
                    _lam(s.get("lambda")),
                    s.get("calibration_risk"),
                    s.get("accuracy"),
                    s.get("mean_steps"),
                    s.get("compute_saved"),
                    s.get("premature_exit_rate"),
                ]
                for s in sweep
            ],
            left=0,
            acc_cols=[3],
        )
        out += "</details>"
    pareto = data.get("pareto") or {}
    if isinstance(pareto, dict) and pareto:
        out += "<details><summary>Pareto points (accuracy vs mean steps) per rule</summary>"
        for rule_name, pts in pareto.items():
            pts = [p for p in pts or [] if isinstance(p, dict)]
            if pts:
                out += f"<h4>{esc(rule_name)}</h4>" + table(
                    ["parameter", "accuracy", "mean steps", "compute saved", "premature exits"],
                    [
                        [_lam(p.get("param")), p.get("accuracy"), p.get("mean_steps"), p.get("compute_saved"), p.get("premature_exit_rate")]
                        for p in pts
                    ],
                    left=0,
                    acc_cols=[1],
                )
        out += "</details>"
    return out


def overview_section(page: Page, runs: list[RunInfo]) -> str:
    out = page.heading(2, "overview", "Overview")
    rows = []
    for i, r in enumerate(runs):
        last = r.train_rows[-1] if r.train_rows else {}
        lastv = r.val_rows[-1] if r.val_rows else {}
        done = max([row["iter"] for row in r.train_rows + r.val_rows if isinstance(row.get("iter"), (int, float))] or [0])
        link = f'<a href="#run{i}">{esc(r.label)}</a>'
        rows.append(
            [
                link,
                esc(r.cfg.task.name),
                esc(r.cfg.arch),
                fmt(f"{r.cfg.task.train_difficulty[0]}..{r.cfg.task.train_difficulty[1]}"),
                f"{done} / {r.cfg.train.iters}",
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


def _then(given: bool, kind: str, folder: Path) -> str:
    if given:
        return f"then run the report again with the same --{kind}."
    return f"then run the report again (it looks in {folder}), or pass --{kind} DIR."


def _difficulty_name(task: str) -> str:
    try:
        return get_task(task).difficulty_name
    except Exception:  # noqa: BLE001 - a label only
        return "difficulty"


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _mean(vals: Sequence[Any]) -> float | None:
    nums = [float(v) for v in vals if _num(v)]
    return sum(nums) / len(nums) if nums else None


def _lam(v: Any) -> Any:
    if isinstance(v, str) and v in ("inf", "Infinity"):
        return math.inf
    return v
