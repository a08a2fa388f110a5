"""``loopthink report RUN [RUN ...] --out report.html``: one self-contained HTML page.

The page holds, per run, the config, training curves (from ``RUN/metrics.jsonl``), the frontier
heatmap, the dynamics and halting pictures, and the numbers behind each as tables; for several runs
also an overview table and an overlaid validation-accuracy curve; and the ablation / baseline
comparison where one was made. Pictures are embedded as base64 PNG data URIs and the CSS is inline,
so the file opens offline. Where an artefact is missing (or unreadable) its section shows the exact
command that makes it instead of failing.

Artefacts are read from ``--frontier/--compare/--dynamics/--halting DIR`` or, by default, from the
subfolders ``frontier/``, ``compare/``, ``dynamics/``, ``halting/`` of each run directory - the
``--out`` of ``loopthink frontier|compare|diagnose|halt``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import math
import shlex
import struct
from pathlib import Path
from typing import Any, Callable, Sequence

ARTEFACTS = {
    # kind: (json file, default subfolder, pictures in display order (others in the folder follow))
    "frontier": ("frontier.json", "frontier", ["frontier.png"]),
    "compare": ("compare.json", "compare", ["compare.png"]),
    "dynamics": ("dynamics.json", "dynamics", ["commitment.png", "convergence.png", "decision_step.png", "lens_accuracy.png", "monitor_roc.png"]),
    "halting": ("halting.json", "halting", ["pareto.png", "steps_by_difficulty.png", "calibration.png"]),
}
MAX_TRAIN_TABLE_ROWS = 15
MAX_IMAGE_BYTES = 8 * 1024 * 1024
WIDE_PX = 720  # pictures wider than this get a row of their own

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg-alt: #f5f7fa; --accent: #2f5fb3; --warn-bg: #fff8e6; --warn-line: #e6c15c; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 40px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 28px 0 8px; color: var(--accent); }
h4 { font-size: 15px; margin: 18px 0 6px; }
p.meta, .muted { color: var(--muted); font-size: 13px; }
code, pre { font-family: "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
code { background: var(--bg-alt); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; }
pre.config { max-height: 420px; overflow: auto; }
nav.toc { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; margin: 16px 0; font-size: 14px; }
nav.toc ul { margin: 4px 0; padding-left: 20px; }
nav.toc a { color: var(--accent); text-decoration: none; }
figure { margin: 12px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 8px 18px; align-items: start; }
.figs figure.wide { grid-column: 1 / -1; }
.cols { display: grid; grid-template-columns: minmax(300px, auto) 1fr; gap: 0 24px; align-items: start; }
.cols > * { min-width: 0; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th { background: var(--bg-alt); font-weight: 600; }
td.l, th.l { text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; }
.missing { background: var(--warn-bg); border: 1px solid var(--warn-line); border-left-width: 5px; border-radius: 6px; padding: 8px 14px; margin: 10px 0; }
.missing pre { background: #fff; margin: 6px 0; }
details summary { cursor: pointer; color: var(--accent); font-size: 14px; }
section.run { border-top: 4px solid var(--accent); margin-top: 48px; }
"""

# Self-check for headless browsers (the page needs no JavaScript): after load, record whether
# every picture decoded.
CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = true;
  for (var i = 0; i < imgs.length; i++) { if (!(imgs[i].complete && imgs[i].naturalWidth > 0)) { ok = false; } }
  document.body.dataset.imagesOk = ok ? "true" : "false";
  document.body.dataset.imageCount = String(imgs.length);
});
"""


# ---- small HTML helpers ----------------------------------------------------------------------
def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


class Raw(str):
    """Text that is already HTML (not escaped again by :func:`fmt`)."""


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: floats to ``digits`` decimals, None/NaN as a dash, strings escaped."""
    if isinstance(v, Raw):
        return v
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "&ndash;"
        if math.isinf(v):
            return "&infin;" if v > 0 else "&minus;&infin;"
        if v != 0 and abs(v) < 10 ** -digits:
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    if isinstance(v, (list, tuple)):
        return esc(", ".join(str(x) for x in v))
    return esc(v)


def acc_style(v: Any) -> str:
    """Background colour for an accuracy cell: red (0) -> yellow (0.5) -> green (1)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return ""
    hue = 120 * min(1.0, max(0.0, float(v)))
    return f' style="background: hsl({hue:.0f}, 65%, 84%)"'


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1, acc_cols: Sequence[int] = (), raw: bool = False) -> str:
    """An HTML table. The first ``left`` columns align left; ``acc_cols`` are coloured as accuracies.
    Cells are formatted with :func:`fmt` unless ``raw`` (then they must already be HTML)."""
    head = "".join(f'<th class="l">{esc(h)}</th>' if i < left else f"<th>{esc(h)}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="l"' if i < left else ""
            style = acc_style(v) if i in acc_cols else ""
            cells.append(f"<td{cls}{style}>{Raw(v) if raw and isinstance(v, str) else fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f'<tr><th class="l">{esc(k)}</th><td class="l">{fmt(v)}</td></tr>' for k, v in pairs)
    return f'<div class="scroll"><table><tbody>{rows}</tbody></table></div>'


def img_tag(png: bytes, alt: str, caption: str | None = None) -> str:
    """A <figure> with the PNG as a base64 data URI (wide pictures span the whole row of a grid)."""
    data = base64.b64encode(png).decode("ascii")
    w_h = png_size(png)
    size = f' width="{w_h[0]}" height="{w_h[1]}"' if w_h else ""
    wide = ' class="wide"' if w_h and w_h[0] > WIDE_PX else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure{wide}><img src="data:image/png;base64,{data}" alt="{esc(alt)}"{size}>{cap}</figure>'


def png_size(png: bytes) -> tuple[int, int] | None:
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR":
        return struct.unpack(">II", png[16:24])
    return None


def command_hint(what: str, cmd: str, problem: str | None = None, then: str | None = None) -> str:
    """The box a section shows instead of a missing artefact."""
    lead = f"<p><strong>{esc(what)}</strong>{(': ' + esc(problem)) if problem else ''}. Make it with:</p>"
    tail = f'<p class="muted">{esc(then)}</p>' if then else '<p class="muted">then run the report again.</p>'
    return f'<div class="missing">{lead}<pre>{esc(cmd)}</pre>{tail}</div>'


def q(path: Any) -> str:
    return shlex.quote(str(path))


# ---- reading a run ---------------------------------------------------------------------------
def read_metrics(run: Path) -> tuple[list[dict], list[dict], int]:
    """(training rows, validation rows, number of unreadable lines) of ``run/metrics.jsonl``."""
    path = run / "metrics.jsonl"
    train_rows: list[dict] = []
    val_rows: list[dict] = []
    bad = 0
    if not path.is_file():
        return train_rows, val_rows, bad
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1  # e.g. a line cut by a crash
                continue
            if not isinstance(row, dict) or "iter" not in row:
                bad += 1
            elif isinstance(row.get("val"), dict):
                val_rows.append(row)
            elif "loss" in row:
                train_rows.append(row)
    return train_rows, val_rows, bad


def parameter_count(run: Path) -> int | None:
    """Number of values in ``run/model.safetensors`` (read from its header; no weights loaded)."""
    path = run / "model.safetensors"
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for k, v in header.items():
        if k == "__metadata__" or not isinstance(v, dict):
            continue
        total += math.prod(v.get("shape", []))
    return total


def read_artefact(kind: str, folder: Path) -> tuple[dict | None, str | None]:
    """(data, None) or (None, why not) for the JSON of an artefact folder."""
    name = ARTEFACTS[kind][0]
    path = folder / name
    if not folder.exists():
        return None, f"{folder} does not exist"
    if not path.is_file():
        return None, f"{folder} has no {name}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"cannot read {path} ({e})"
    if not isinstance(data, dict):
        return None, f"{path} does not hold a JSON object"
    return data, None


def pictures(kind: str, folder: Path) -> list[tuple[str, bytes | None]]:
    """(file name, PNG bytes or None if unreadable) of the artefact's pictures, known ones first."""
    order = list(ARTEFACTS[kind][2])
    found = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    names = [n for n in order if n in found] + [n for n in found if n not in order]
    out = []
    for n in names:
        try:
            data = (folder / n).read_bytes()
            out.append((n, data if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) <= MAX_IMAGE_BYTES else None))
        except OSError:
            out.append((n, None))
    return out


def picture_block(kind: str, folder: Path, remake: str) -> tuple[str, int]:
    """HTML for an artefact's pictures, and how many were embedded."""
    pics = pictures(kind, folder)
    parts = []
    good = 0
    for name, png in pics:
        if png is None:
            parts.append(f'<p class="missing">{esc(folder / name)} is not a readable PNG (or is too large to embed); remake it with <code>{esc(remake)}</code>.</p>')
        else:
            parts.append(img_tag(png, f"{kind}: {name}", name))
            good += 1
    if not pics:
        parts.append(f'<p class="missing">{esc(folder)} holds no PNG pictures; remake them with <code>{esc(remake)}</code>.</p>')
    cls = "figs" if good > 1 else ""
    return f'<div class="{cls}">{"".join(parts)}</div>', good


# ---- sections --------------------------------------------------------------------------------
class Page:
    def __init__(self) -> None:
        self.toc: list[tuple[int, str, str]] = []
        self.images = 0

    def heading(self, level: int, anchor: str, title: str) -> str:
        self.toc.append((level, anchor, title))
        return f'<h{level} id="{esc(anchor)}">{esc(title)}</h{level}>'

    def toc_html(self) -> str:
        out, depth = [], 0
        for level, anchor, title in self.toc:
            lv = level - 1  # h2 -> 1, h3 -> 2
            while depth < lv:
                out.append("<ul>")
                depth += 1
            while depth > lv:
                out.append("</ul>")
                depth -= 1
            out.append(f'<li><a href="#{esc(anchor)}">{esc(title)}</a></li>')
        out += ["</ul>"] * depth
        return '<nav class="toc"><strong>Contents</strong>' + "".join(out) + "</nav>"


class RunInfo:
    def __init__(self, path: Path, label: str, cfg: Any, dirs: dict[str, tuple[Path, bool]]) -> None:
        self.path = path
        self.label = label
        self.cfg = cfg
        self.dirs = dirs  # kind -> (folder, given explicitly)
        self.train_rows, self.val_rows, self.bad_lines = read_metrics(path)


def config_section(page: Page, r: RunInfo, anchor: str) -> str:
    cfg = r.cfg
    tc = cfg.train
    steps = tc.steps
    step_text = f"{steps.mode} {steps.min}..{steps.max}" if steps.mode == "uniform" else f"{steps.mode} (mean {steps.mean}, min {steps.min}, max {steps.max})"
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
    from loopthink.plots.training import figure_png_bytes, training_figure, val_keys

    out = page.heading(3, anchor, "Training")
    metrics = r.path / "metrics.jsonl"
    if not r.train_rows and not r.val_rows:
        from loopthink.checkpoint import latest_checkpoint

        problem = f"{metrics} is missing" if not metrics.exists() else f"{metrics} has no readable rows"
        cmd = f"loopthink train {q(r.path / 'config.yaml')} --out {q(r.path)}"
        if latest_checkpoint(r.path) is not None:
            return out + command_hint("No training log", cmd + " --resume", problem, "(continues from the last checkpoint; the log covers the iterations from there on)")
        return out + command_hint("No training log", cmd, problem, "then run the report again.")
    name = _difficulty_name(r.cfg.task.name)
    fig = training_figure(r.train_rows, r.val_rows, title=r.label, difficulty_name=name)
    out += img_tag(figure_png_bytes(fig), f"training curves of {r.label}", "loss, training accuracy of the logged batch, validation accuracy per difficulty (from metrics.jsonl)")
    page.images += 1
    if r.bad_lines:
        out += f'<p class="muted">{r.bad_lines} unreadable line(s) in metrics.jsonl skipped.</p>'
    last = r.train_rows[-1] if r.train_rows else {}
    done = max([row["iter"] for row in r.train_rows + r.val_rows if isinstance(row.get("iter"), (int, float))] or [0])
    summary = [
        ("iterations logged", f"{done} of {r.cfg.train.iters}" + ("" if done >= r.cfg.train.iters else " (incomplete: continue with --resume)")),
        ("final loss", last.get("loss")),
        ("final training accuracy", last.get("acc")),
        ("wall time (s)", last.get("time")),
    ]
    out += kv_table(summary)
    keys = val_keys(r.val_rows)
    if keys:
        out += f"<h4>Validation accuracy per {esc(name)} (fixed seeded sets, T = val_steps)</h4>"
        rows = [[row["iter"], row.get("val_steps")] + [row["val"].get(k) for k in keys] + [_mean([row["val"].get(k) for k in keys])] for row in r.val_rows]
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
    from loopthink.frontier import frontier_line

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
    out += (f'<p>Accuracy per cell (rows: recurrence steps T; columns: {esc(name)}; * = inside the training range '
            f'{esc(lo)}..{esc(hi)}); {esc(", ".join(map(str, n_cell)))} instances per cell.{esc(seeds)}</p>')
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
        [[d, line.get(str(d)), best[d]["accuracy"], best[d]["steps"],
          f"{best[d]['ci_low']:.3f}..{best[d]['ci_high']:.3f}" if _num(best[d].get("ci_low")) and _num(best[d].get("ci_high")) else None,
          trained(d)] for d in diffs],
        left=1, acc_cols=[2],
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
        hint_then = "with the baseline / ablation runs to compare against (e.g. trained from configs/baselines/); then run the report again."
    shown = [(f, g) for f, g in found if (f / "compare.json").is_file()]
    if not shown:
        problems = "; ".join(read_artefact("compare", f)[1] or "" for f, g in found if g)
        return out + command_hint("No comparison", cmd, problems or None, hint_then)
    for i, (folder, given) in enumerate(shown):
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
        trained = lambda d: lo is not None and isinstance(d, (int, float)) and lo <= d <= hi  # noqa: E731
        out += f"<p>Accuracy per difficulty on the same fresh instances ({esc(data.get('task', ''))}; * = training range; each run read at its step count T).</p>"
        rows = []
        for c in curves:
            accs = dict(zip(c.get("difficulty", []), c.get("accuracy", [])))
            vals = [accs.get(d) for d in diffs]
            rows.append([c.get("label"), c.get("arch"), c.get("steps")] + vals + [_mean(vals)])
        out += table(["run", "arch", "T"] + [f"{d}{'*' if trained(d) else ''}" for d in diffs] + ["mean"], rows, left=2, acc_cols=range(3, len(diffs) + 4))
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
    out += kv_table([
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
    ])
    by = data.get("by_difficulty") or {}
    if by:
        out += f"<h4>Per {esc(name)}</h4>"
        out += table(
            [name, "n", "accuracy", "consistency", "commitment at T", "decision step", "± s.e."],
            [[k, v.get("n"), v.get("accuracy"), v.get("consistency"), v.get("commitment_final"), v.get("decision_step_mean"), v.get("decision_step_sem")] for k, v in by.items()],
            left=1, acc_cols=[2],
        )
    per_step = [s for s in data.get("per_step") or [] if isinstance(s, dict)]
    if per_step:
        cols = [c for c in ("step", "lens_accuracy", "majority_accuracy", "consistency", "commitment", "convergence", "kl", "entropy", "max_prob") if c in per_step[0]]
        out += "<details><summary>per step (all examples)</summary>"
        out += table(cols, [[s.get(c) for c in cols] for s in per_step], left=0, acc_cols=[i for i, c in enumerate(cols) if c.endswith("accuracy")])
        out += "</details>"
    if mon.get("per_t0"):
        out += "<details><summary>early-error monitor per t0 (held-out seed)</summary>"
        out += table(["t0", "AUROC", "positive rate"], [[m.get("t0"), m.get("auroc"), m.get("positive_rate_heldout")] for m in mon["per_t0"]], left=0)
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
    out += kv_table([
        ("rule", rule),
        ("threshold", data.get("threshold")),
        ("test instances", data.get("n")),
        ("accuracy: halted / at T_max", Raw(f"{fmt(data.get('accuracy'))} / {fmt(data.get('accuracy_at_max'))}")),
        ("mean steps / T_max", Raw(f"{fmt(data.get('mean_steps'), 2)} / {fmt(data.get('max_steps'))}")),
        ("compute saved", data.get("compute_saved")),
        ("premature-exit rate (95% interval)", Raw(f"{fmt(data.get('premature_exit_rate'))} ({fmt(ci[0])}..{fmt(ci[1])})")),
        ("wall-clock speedup (halted vs full rollout)", wall.get("speedup")),
    ])
    by = data.get("by_difficulty") or {}
    if by:
        out += f"<h4>Per {esc(name)}</h4>"
        out += table(
            [name, "n", "accuracy", "at T_max", "mean steps", "median", "p90", "premature exits"],
            [[k, v.get("n"), v.get("accuracy"), v.get("accuracy_at_max"), v.get("mean_steps"), v.get("steps_median"), v.get("steps_p90"), v.get("premature_exit_rate")] for k, v in by.items()],
            left=1, acc_cols=[2, 3],
        )
    sweep = [s for s in data.get("alpha_sweep") or [] if isinstance(s, dict)]
    if sweep:
        out += "<details><summary>conformal alpha sweep</summary>"
        out += table(["alpha", "lambda", "calibration risk", "accuracy", "mean steps", "compute saved", "premature exits"],
                     [[s.get("alpha"), _lam(s.get("lambda")), s.get("calibration_risk"), s.get("accuracy"), s.get("mean_steps"), s.get("compute_saved"), s.get("premature_exit_rate")] for s in sweep],
                     left=0, acc_cols=[3])
        out += "</details>"
    pareto = data.get("pareto") or {}
    if isinstance(pareto, dict) and pareto:
        out += "<details><summary>Pareto points (accuracy vs mean steps) per rule</summary>"
        for rule_name, pts in pareto.items():
            pts = [p for p in pts or [] if isinstance(p, dict)]
            if pts:
                out += f"<h4>{esc(rule_name)}</h4>" + table(["parameter", "accuracy", "mean steps", "compute saved", "premature exits"],
                                                            [[_lam(p.get("param")), p.get("accuracy"), p.get("mean_steps"), p.get("compute_saved"), p.get("premature_exit_rate")] for p in pts],
                                                            left=0, acc_cols=[1])
        out += "</details>"
    return out


def overview_section(page: Page, runs: list[RunInfo]) -> str:
    from loopthink.plots.training import figure_png_bytes, mean_val, val_overlay_figure

    out = page.heading(2, "overview", "Overview")
    rows = []
    for i, r in enumerate(runs):
        last = r.train_rows[-1] if r.train_rows else {}
        lastv = r.val_rows[-1] if r.val_rows else {}
        done = max([row["iter"] for row in r.train_rows + r.val_rows if isinstance(row.get("iter"), (int, float))] or [0])
        link = f'<a href="#run{i}">{esc(r.label)}</a>'
        rows.append([link, esc(r.cfg.task.name), esc(r.cfg.arch), fmt(f"{r.cfg.task.train_difficulty[0]}..{r.cfg.task.train_difficulty[1]}"),
                     f"{done} / {r.cfg.train.iters}", fmt(last.get("loss")), fmt(last.get("acc")),
                     fmt(mean_val(lastv) if lastv else None), fmt(last.get("time"))])
    out += table(["run", "task", "arch", "trained on", "iterations", "final loss", "final train acc", "last val acc (mean)", "time (s)"],
                 rows, left=3, raw=True)
    if len(runs) > 1:
        fig = val_overlay_figure([(r.label, r.val_rows) for r in runs])
        out += img_tag(figure_png_bytes(fig), "validation accuracy of all runs", "mean validation accuracy over each run's training difficulties")
        page.images += 1
    return out


def _then(given: bool, kind: str, folder: Path) -> str:
    if given:
        return "then run the report again with the same --%s." % kind
    return f"then run the report again (it looks in {folder}), or pass --{kind} DIR."


def _difficulty_name(task: str) -> str:
    try:
        from loopthink.tasks import get_task

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


# ---- the page --------------------------------------------------------------------------------
def unique_labels(paths: Sequence[Path]) -> list[str]:
    names = [p.name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    full = [str(p) for p in paths]
    if len(set(full)) == len(full):
        return full
    return [f"{n} ({i + 1})" for i, n in enumerate(full)]


def resolve_dirs(runs: Sequence[Path], given: dict[str, list[str] | None]) -> list[dict[str, tuple[Path, bool]]]:
    """Per run, kind -> (artefact folder, given explicitly). The i-th ``--frontier`` (etc.)
    belongs to the i-th run; runs without one use their own subfolder."""
    from loopthink.tasks import DataError

    out: list[dict[str, tuple[Path, bool]]] = [{} for _ in runs]
    for kind in ("frontier", "dynamics", "halting"):
        dirs = given.get(kind) or []
        if len(dirs) > len(runs):
            raise DataError(f"--{kind} given {len(dirs)} times for {len(runs)} run(s); give it at most once per run, in the order of the runs")
        for i, run in enumerate(runs):
            out[i][kind] = (Path(dirs[i]), True) if i < len(dirs) else (run / ARTEFACTS[kind][1], False)
    for i, run in enumerate(runs):
        out[i]["compare"] = (run / ARTEFACTS["compare"][1], False)
    return out


def guarded(section: Callable[..., str], *args: Any) -> str:
    """A section's HTML, or a notice when its artefact holds values of unexpected types (a
    hand-edited or foreign JSON file): one bad file must not stop the whole report."""
    try:
        return section(*args)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError) as e:
        name = section.__name__.removesuffix("_section")
        return f'<p class="missing">The {esc(name)} section cannot be shown: its files hold unexpected values ({esc(type(e).__name__)}: {esc(str(e)[:200])}).</p>'


def build_report(runs: Sequence[str | Path], frontier: Sequence[str] | None = None, compare: Sequence[str] | None = None,
                 dynamics: Sequence[str] | None = None, halting: Sequence[str] | None = None, command: str | None = None) -> tuple[str, int]:
    """(the HTML page, number of embedded pictures). Raises RunError for a directory that is not a run."""
    import loopthink
    from loopthink.checkpoint import read_run_config

    paths = [Path(r) for r in runs]
    cfgs = [read_run_config(p) for p in paths]
    dirs = resolve_dirs(paths, {"frontier": list(frontier or []), "dynamics": list(dynamics or []), "halting": list(halting or [])})
    labels = unique_labels(paths)
    infos = [RunInfo(p, lab, c, d) for p, lab, c, d in zip(paths, labels, cfgs, dirs)]

    compare_dirs: list[tuple[Path, bool]] = [(Path(c), True) for c in compare or []]
    compare_dirs += [r.dirs["compare"] for r in infos]
    seen, found = set(), []
    for f, g in compare_dirs:
        key = f.resolve() if f.exists() else f
        if key not in seen:
            seen.add(key)
            found.append((f, g))

    page = Page()
    body: list[str] = [guarded(overview_section, page, infos)]
    many = len(infos) > 1
    if many:
        body.append(guarded(compare_section, page, found, infos, "comparison", 2))
    for i, r in enumerate(infos):
        a = f"run{i}"
        parts = ['<section class="run">', page.heading(2, a, f"Run: {r.label}"), f'<p class="meta">{esc(r.path)}</p>']
        parts.append(guarded(config_section, page, r, f"{a}-config"))
        parts.append(guarded(training_section, page, r, f"{a}-training"))
        parts.append(guarded(frontier_section, page, r, f"{a}-frontier"))
        if not many:
            parts.append(guarded(compare_section, page, found, infos, f"{a}-comparison", 3))
        parts.append(guarded(dynamics_section, page, r, f"{a}-dynamics"))
        parts.append(guarded(halting_section, page, r, f"{a}-halting"))
        parts.append("</section>")
        body.append("".join(parts))

    title = f"loopthink report: {labels[0]}" if not many else f"loopthink report: {len(infos)} runs"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    made = f" by <code>{esc(command)}</code>" if command else ""
    head = (f"<h1>{esc(title)}</h1><p class=\"meta\">Made{made} on {esc(stamp)} with loopthink {esc(loopthink.__version__)}. "
            "Self-contained: pictures are embedded, nothing is loaded from the network.</p>")
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body data-images-ok=\"pending\"><main>{head}{page.toc_html()}{''.join(body)}</main>"
        f"<script>{CHECK_SCRIPT}</script></body></html>\n"
    )
    return doc, page.images


# ---- CLI -------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (made by `loopthink train`)")
    p.add_argument("--out", required=True, help="output HTML file")
    p.add_argument("--frontier", action="append", metavar="DIR", help="output of `loopthink frontier` (default: RUN/frontier); once per run, in run order")
    p.add_argument("--compare", action="append", metavar="DIR", help="output of `loopthink compare` (default: RUN/compare); may be repeated")
    p.add_argument("--dynamics", action="append", metavar="DIR", help="output of `loopthink diagnose` (default: RUN/dynamics); once per run")
    p.add_argument("--halting", action="append", metavar="DIR", help="output of `loopthink halt` (default: RUN/halting); once per run")


def run(args: argparse.Namespace) -> int:
    from loopthink.checkpoint import atomic_write_text

    words = ["loopthink", "report", *map(q, args.runs), "--out", q(args.out)]
    for kind in ("frontier", "compare", "dynamics", "halting"):
        for d in getattr(args, kind) or []:
            words += [f"--{kind}", q(d)]
    command = " ".join(words)
    doc, images = build_report(args.runs, args.frontier, args.compare, args.dynamics, args.halting, command)
    from loopthink.tasks import DataError

    out = Path(args.out)
    if out.is_dir():
        raise DataError(f"{out}: is a directory; --out must name an HTML file")
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, doc)
    print(f"wrote {out} ({len(doc.encode()) / 1024:.0f} KiB, {images} picture(s), {len(args.runs)} run(s))")
    return 0


__all__ = ["add_arguments", "run", "build_report", "read_metrics"]
