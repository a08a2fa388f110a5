"""The report's sections on the artefacts of the analysis commands: frontier, comparison, dynamics,
halting. Each shows the artefact's pictures and the numbers behind them, or, where the artefact
is missing, the exact command that makes it."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopthink.analysis.frontier import frontier_line
from loopthink.report.artefacts import RunInfo, pictures, read_artefact
from loopthink.report.html import Page, Raw, command_hint, esc, fmt, img_tag, is_number, kv_table, mean_of, q, table
from loopthink.tasks import task_class


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


def embed_pictures(page: Page, kind: str, folder: Path, remake: str) -> str:
    html, n = picture_block(kind, folder, remake)
    page.images += n
    return html


def start_section(
    page: Page, r: RunInfo, kind: str, anchor: str, title: str, command: str, missing: str, lead: Callable[[dict], str] | None = None
) -> tuple[str, dict | None]:
    """(heading + the artefact's pictures, its data); for a missing or unreadable artefact (heading +
    the box naming ``loopthink COMMAND RUN --out FOLDER``, None). ``lead`` renders what comes
    before the pictures."""
    folder, given = r.dirs[kind]
    out = page.heading(3, anchor, title)
    cmd = f"loopthink {command} {q(r.path)} --out {q(folder)}"
    data, problem = read_artefact(kind, folder)
    if data is None:
        return out + command_hint(missing, cmd, problem, _then(given, kind, folder)), None
    if lead is not None:
        out += lead(data)
    return out + embed_pictures(page, kind, folder, cmd), data


def frontier_section(page: Page, r: RunInfo, anchor: str) -> str:
    out, data = start_section(page, r, "frontier", anchor, "Frontier: accuracy over steps x difficulty", "frontier", "No frontier")
    if data is None:
        return out
    rows = [row for row in data.get("rows", []) if isinstance(row, dict) and {"steps", "difficulty", "accuracy"} <= set(row)]
    if not rows:
        return out + '<p class="missing">frontier.json has no grid rows.</p>'
    name = data.get("difficulty_name", "difficulty")
    steps = sorted({row["steps"] for row in rows})
    diffs = sorted({row["difficulty"] for row in rows}, key=lambda d: (isinstance(d, str), d))
    cell = {(row["steps"], row["difficulty"]): row for row in rows}
    lo, hi = (data.get("train_difficulty") or [None, None])[:2]
    trained = _training_range(data)
    seeds = f" Mean over {len(data['seeds'])} seeds." if data.get("seeds") else ""
    n_cell = sorted({row.get("n") for row in rows if row.get("n") is not None})
    out += (
        f"<p>Accuracy per cell (rows: recurrence steps T; columns: {esc(name)}; * = inside the training range "
        f"{esc(lo)}..{esc(hi)}); {esc(', '.join(map(str, n_cell)))} instances per cell.{esc(seeds)}</p>"
    )
    body = [[s] + [cell.get((s, d), {}).get("accuracy") for d in diffs] for s in steps]
    out += table(["T"] + _starred(diffs, trained), body, left=1, acc_cols=range(1, len(diffs) + 1))
    return out + _frontier_line_table(data, rows, diffs, name, trained)


def _frontier_line_table(data: dict, rows: list[dict], diffs: list, name: str, trained: Callable[[Any], bool]) -> str:
    """Per difficulty: the smallest T reaching the threshold, and the best cell with its interval."""
    thr = data.get("threshold", 0.95)
    line = data.get("frontier") or {str(k): v for k, v in frontier_line(rows, thr).items()}
    best = {d: max((row for row in rows if row["difficulty"] == d), key=lambda row: (row["accuracy"], -row["steps"])) for d in diffs}

    def interval(b: dict) -> str | None:
        return f"{b['ci_low']:.3f}..{b['ci_high']:.3f}" if is_number(b.get("ci_low")) and is_number(b.get("ci_high")) else None

    return f"<h4>Smallest T reaching {thr:.0%} per {esc(name)}</h4>" + table(
        [name, "frontier T", "best accuracy", "at T", "95% interval", "trained"],
        [[d, line.get(str(d)), best[d]["accuracy"], best[d]["steps"], interval(best[d]), trained(d)] for d in diffs],
        left=1,
        acc_cols=[2],
    )


def compare_section(page: Page, found: list[tuple[Path, bool]], runs: list[RunInfo], anchor: str, level: int) -> str:
    out = page.heading(level, anchor, "Comparison: ablations and baselines")
    default = runs[0].dirs["compare"][0]
    if len(runs) > 1:
        cmd = f"loopthink compare {' '.join(q(r.path) for r in runs)} --out {q(default)}"
        hint_then = "then run the report again (it looks in each RUN/compare/), or pass --compare DIR."
    else:
        cmd = f"loopthink compare {q(runs[0].path)} BASELINE_RUN [ABLATION_RUN ...] --out {q(default)}"
        hint_then = (
            "with the baseline / ablation runs to compare against (e.g. trained from configs/baselines/); then run the report again."
        )
    shown = [(f, g) for f, g in found if (f / "compare.json").is_file()]
    if not shown:
        problems = "; ".join(read_artefact("compare", f)[1] or "" for f, g in found if g)
        return out + command_hint("No comparison", cmd, problems or None, hint_then)
    for folder, _given in shown:
        data, problem = read_artefact("compare", folder)
        if len(shown) > 1:
            out += f"<h4>{esc(folder)}</h4>"
        if data is None:
            out += command_hint("Unreadable comparison", cmd, problem, hint_then)
            continue
        out += embed_pictures(page, "compare", folder, f"loopthink compare RUN [RUN ...] --out {q(folder)}")
        out += _comparison_table(data)
    return out


def _comparison_table(data: dict) -> str:
    curves = [c for c in data.get("runs", []) if isinstance(c, dict)]
    if not curves:
        return '<p class="missing">compare.json lists no runs.</p>'
    diffs = list(curves[0].get("difficulty", []))
    out = f"<p>Accuracy per difficulty on the same fresh instances ({esc(data.get('task', ''))}; * = training range; each run read at its step count T).</p>"
    rows = []
    for c in curves:
        accs = dict(zip(c.get("difficulty", []), c.get("accuracy", [])))
        vals = [accs.get(d) for d in diffs]
        rows.append([c.get("label"), c.get("arch"), c.get("steps")] + vals + [mean_of(vals)])
    header = ["run", "arch", "T"] + _starred(diffs, _training_range(data)) + ["mean"]
    return out + table(header, rows, left=2, acc_cols=range(3, len(diffs) + 4))


def dynamics_section(page: Page, r: RunInfo, anchor: str) -> str:
    def note(data: dict) -> str:
        return f'<p class="muted">note: {esc(data["note"])}</p>' if data.get("note") else ""

    title, missing = "Dynamics: convergence, commitment, decision step", "No dynamics diagnosis"
    out, data = start_section(page, r, "dynamics", anchor, title, "diagnose", missing, lead=note)
    if data is None:
        return out
    name = data.get("difficulty_name", "difficulty")
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
    columns = {
        "n": "n",
        "accuracy": "accuracy",
        "consistency": "consistency",
        "commitment at T": "commitment_final",
        "decision step": "decision_step_mean",
        "± s.e.": "decision_step_sem",
    }
    return out + _per_difficulty(data, name, columns, acc_cols=[2]) + _dynamics_details(data, mon)


def _dynamics_details(data: dict, mon: dict) -> str:
    """The collapsed tables: per step, the monitor per t0, the definitions."""
    out = ""
    per_step = [s for s in data.get("per_step") or [] if isinstance(s, dict)]
    if per_step:
        names = ("step", "lens_accuracy", "majority_accuracy", "consistency", "commitment", "convergence", "kl", "entropy", "max_prob")
        cols = [c for c in names if c in per_step[0]]
        accs = [i for i, c in enumerate(cols) if c.endswith("accuracy")]
        out += "<details><summary>per step (all examples)</summary>"
        out += table(cols, [[s.get(c) for c in cols] for s in per_step], left=0, acc_cols=accs)
        out += "</details>"
    if mon.get("per_t0"):
        rows = [[m.get("t0"), m.get("auroc"), m.get("positive_rate_heldout")] for m in mon["per_t0"]]
        out += "<details><summary>early-error monitor per t0 (held-out seed)</summary>"
        out += table(["t0", "AUROC", "positive rate"], rows, left=0)
        out += "</details>"
    defs = data.get("definitions") or {}
    if defs:
        out += "<details><summary>definitions</summary>" + kv_table(list(defs.items())) + "</details>"
    return out


def watch_section(page: Page, r: RunInfo, anchor: str) -> str:
    """A per-position task's instance watched over the steps (``loopthink watch``); nothing for a
    task answered once."""
    if not task_class(r.cfg.task.name).per_position:
        return ""

    def lead(data: dict) -> str:
        solved = data.get("solved_at")
        when = f"every position right from step {fmt(solved)}" if solved else f"not solved in {fmt(data.get('steps'))} steps"
        return f"<p>Record {fmt(data.get('index'))} of {esc(data.get('data', '?'))}: {when}.</p>"

    title = "Watching it think: one instance's answers over the steps"
    out, _ = start_section(page, r, "watch", anchor, title, "watch --data FILE", "No watch picture", lead)
    return out


def halting_section(page: Page, r: RunInfo, anchor: str) -> str:
    out, data = start_section(page, r, "halting", anchor, "Adaptive halting", "halt", "No halting evaluation")
    if data is None:
        return out
    name = data.get("difficulty_name", "difficulty")
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
    columns = {
        "n": "n",
        "accuracy": "accuracy",
        "at T_max": "accuracy_at_max",
        "mean steps": "mean_steps",
        "median": "steps_median",
        "p90": "steps_p90",
        "premature exits": "premature_exit_rate",
    }
    return out + _per_difficulty(data, name, columns, acc_cols=[2, 3]) + _alpha_sweep(data) + _pareto_points(data)


def _alpha_sweep(data: dict) -> str:
    sweep = [s for s in data.get("alpha_sweep") or [] if isinstance(s, dict)]
    if not sweep:
        return ""
    keys = ("calibration_risk", "accuracy", "mean_steps", "compute_saved", "premature_exit_rate")
    return (
        "<details><summary>conformal alpha sweep</summary>"
        + table(
            ["alpha", "lambda", "calibration risk", "accuracy", "mean steps", "compute saved", "premature exits"],
            [[s.get("alpha"), _lam(s.get("lambda"))] + [s.get(k) for k in keys] for s in sweep],
            left=0,
            acc_cols=[3],
        )
        + "</details>"
    )


def _pareto_points(data: dict) -> str:
    pareto = data.get("pareto") or {}
    if not isinstance(pareto, dict) or not pareto:
        return ""
    keys = ("accuracy", "mean_steps", "compute_saved", "premature_exit_rate")
    out = "<details><summary>Pareto points (accuracy vs mean steps) per rule</summary>"
    for rule_name, pts in pareto.items():
        pts = [p for p in pts or [] if isinstance(p, dict)]
        if pts:
            out += f"<h4>{esc(rule_name)}</h4>" + table(
                ["parameter", "accuracy", "mean steps", "compute saved", "premature exits"],
                [[_lam(p.get("param"))] + [p.get(k) for k in keys] for p in pts],
                left=0,
                acc_cols=[1],
            )
    return out + "</details>"


def _per_difficulty(data: dict, name: str, columns: dict[str, str], acc_cols: list[int]) -> str:
    """The artefact's ``by_difficulty`` as a table: one row per difficulty, ``columns`` = header: key."""
    by = data.get("by_difficulty") or {}
    if not by:
        return ""
    rows = [[k] + [v.get(key) for key in columns.values()] for k, v in by.items()]
    return f"<h4>Per {esc(name)}</h4>" + table([name, *columns], rows, left=1, acc_cols=acc_cols)


def _then(given: bool, kind: str, folder: Path) -> str:
    if given:
        return f"then run the report again with the same --{kind}."
    return f"then run the report again (it looks in {folder}), or pass --{kind} DIR."


def _training_range(data: dict) -> Callable[[Any], bool]:
    """Whether a difficulty lies inside the artefact's ``train_difficulty`` (numeric ones only)."""
    lo, hi = (data.get("train_difficulty") or [None, None])[:2]
    return lambda d: lo is not None and isinstance(d, (int, float)) and lo <= d <= hi


def _starred(diffs: list, trained: Callable[[Any], bool]) -> list[str]:
    return [f"{d}{'*' if trained(d) else ''}" for d in diffs]


def _lam(v: Any) -> Any:
    if isinstance(v, str) and v in ("inf", "Infinity"):
        return math.inf
    return v
