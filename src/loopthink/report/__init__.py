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

import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loopthink.atomic import atomic_write_text
from loopthink.report.artefact_sections import compare_section, dynamics_section, frontier_section, halting_section, watch_section
from loopthink.report.artefacts import RunInfo, resolve_dirs, unique_labels
from loopthink.report.html import CHECK_SCRIPT, CSS, Page, esc, q
from loopthink.report.run_sections import config_section, overview_section, training_section
from loopthink.tasks import DataError
from loopthink.training.rundir import read_run_config
from loopthink.version import __version__


def guarded(section: Callable[..., str], *args: Any) -> str:
    """A section's HTML, or a notice when its artefact holds values of unexpected types (a
    hand-edited or foreign JSON file): one bad file must not stop the whole report."""
    try:
        return section(*args)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError) as e:
        name = section.__name__.removesuffix("_section")
        return f'<p class="missing">The {esc(name)} section cannot be shown: its files hold unexpected values ({esc(type(e).__name__)}: {esc(str(e)[:200])}).</p>'


def build_report(
    runs: Sequence[str | Path],
    frontier: Sequence[str] | None = None,
    compare: Sequence[str] | None = None,
    dynamics: Sequence[str] | None = None,
    halting: Sequence[str] | None = None,
    command: str | None = None,
) -> tuple[str, int]:
    """(the HTML page, number of embedded pictures). Raises RunError for a directory that is not a run."""
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
        parts.append(guarded(watch_section, page, r, f"{a}-watch"))
        parts.append("</section>")
        body.append("".join(parts))

    title = f"loopthink report: {labels[0]}" if not many else f"loopthink report: {len(infos)} runs"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    made = f" by <code>{esc(command)}</code>" if command else ""
    head = (
        f'<h1>{esc(title)}</h1><p class="meta">Made{made} on {esc(stamp)} with loopthink {esc(__version__)}. '
        "Self-contained: pictures are embedded, nothing is loaded from the network.</p>"
    )
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f'<body data-images-ok="pending"><main>{head}{page.toc_html()}{"".join(body)}</main>'
        f"<script>{CHECK_SCRIPT}</script></body></html>\n"
    )
    return doc, page.images


def write_report(
    runs: Sequence[str | Path],
    out: str | Path,
    frontier: Sequence[str] | None = None,
    compare: Sequence[str] | None = None,
    dynamics: Sequence[str] | None = None,
    halting: Sequence[str] | None = None,
) -> tuple[Path, int, int]:
    """Build the page and write it to ``out``: (path, size in bytes, embedded pictures). The page
    names the command that remakes it."""
    words = ["loopthink", "report", *map(q, runs), "--out", q(out)]
    for kind, dirs in (("frontier", frontier), ("compare", compare), ("dynamics", dynamics), ("halting", halting)):
        for d in dirs or []:
            words += [f"--{kind}", q(d)]
    doc, images = build_report(runs, frontier, compare, dynamics, halting, " ".join(words))
    out = Path(out)
    if out.is_dir():
        raise DataError(f"{out}: is a directory; --out must name an HTML file")
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, doc)
    return out, len(doc.encode()), images


__all__ = ["build_report", "write_report"]
