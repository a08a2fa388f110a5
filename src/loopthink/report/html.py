"""Small HTML helpers of the report: escaping, table cells (and their means), tables, embedded pictures, the page's
table of contents, and its stylesheet and self-check script (``report.css``, ``report.js``)."""

from __future__ import annotations

import base64
import html
import math
import shlex
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CSS = (HERE / "report.css").read_text()
# Self-check for headless browsers (the page needs no JavaScript): after load, record whether
# every picture decoded.
CHECK_SCRIPT = (HERE / "report.js").read_text()
WIDE_PX = 720  # pictures wider than this get a row of their own


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
        if v != 0 and abs(v) < 10**-digits:
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    if isinstance(v, (list, tuple)):
        return esc(", ".join(str(x) for x in v))
    return esc(v)


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool): a cell that holds a number to show or average."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def mean_of(vals: Sequence[Any]) -> float | None:
    """The mean of the cells that hold numbers (None if none does)."""
    nums = [float(v) for v in vals if is_number(v)]
    return sum(nums) / len(nums) if nums else None


def acc_style(v: Any) -> str:
    """Background colour for an accuracy cell: red (0) -> yellow (0.5) -> green (1)."""
    if not is_number(v):
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
