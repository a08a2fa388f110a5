"""Training curves from a run's ``metrics.jsonl``: loss, training accuracy, validation accuracy.

Functions return a matplotlib figure; :func:`figure_png_bytes` turns one into PNG bytes (for the
HTML report) and :func:`loopthink.plots.save_figure` writes it to disk.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter

from loopthink.plots import plt


def figure_png_bytes(fig: plt.Figure, dpi: int | None = None) -> bytes:
    """The figure as PNG bytes; closes it."""
    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def difficulty_sort_key(key: str) -> tuple[int, float, str]:
    """Numeric difficulties first, in numeric order; named buckets ("unreachable") after."""
    try:
        return (0, float(key), key)
    except (TypeError, ValueError):
        return (1, 0.0, str(key))


def val_keys(val_rows: Sequence[dict[str, Any]]) -> list[str]:
    keys = {str(k) for r in val_rows for k in (r.get("val") or {})}
    return sorted(keys, key=difficulty_sort_key)


def mean_val(row: dict[str, Any]) -> float | None:
    vals = [float(v) for v in (row.get("val") or {}).values() if _finite(v)]
    return float(np.mean(vals)) if vals else None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    """Centered moving average with a window of ``n`` points (edges use what is there)."""
    k = np.ones(n)
    return np.convolve(y, k, mode="same") / np.convolve(np.ones_like(y), k, mode="same")


def training_figure(
    train_rows: Sequence[dict[str, Any]], val_rows: Sequence[dict[str, Any]], title: str = "", difficulty_name: str = "difficulty"
) -> plt.Figure:
    """Three panels over iterations: training loss (log scale), training accuracy of the logged
    batch, and validation accuracy per difficulty (plus their mean)."""
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.6), sharex=True)
    ax_loss, ax_acc, ax_val = axes
    iters = [r["iter"] for r in [*train_rows, *val_rows] if _finite(r.get("iter"))]
    if iters:
        ax_loss.set_xlim(0, max(iters) * 1.03 + 1)
    _loss_panel(ax_loss, train_rows)
    _accuracy_panel(ax_acc, train_rows)
    _validation_panel(ax_val, val_rows, difficulty_name)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _logged(train_rows: Sequence[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """(iteration, value) of every training row where both are finite numbers."""
    return [(r["iter"], r[key]) for r in train_rows if _finite(r.get(key)) and _finite(r.get("iter"))]


def _plot_logged(ax: Any, x: np.ndarray, y: np.ndarray, color: str, labelled: bool) -> None:
    """The logged batches, faint when there are many, under their moving average (a 25th of them
    wide): one batch is noisy, the trend is what a reader looks for."""
    many = len(x) > 50
    raw_label = {"label": "logged batch"} if labelled else {}
    ax.plot(x, y, color=color, linewidth=1, alpha=0.45 if many else 1.0, marker="o" if len(x) < 3 else None, **raw_label)
    if many:
        avg_label = {"label": "moving average"} if labelled else {}
        ax.plot(x, _smooth(y, max(3, len(x) // 25)), color=color, linewidth=2, **avg_label)


def _loss_panel(ax: Any, train_rows: Sequence[dict[str, Any]]) -> None:
    pts = _logged(train_rows, "loss")
    if pts:
        x, y = np.array(pts, dtype=float).T
        _plot_logged(ax, x, y, "C0", labelled=True)
        if len(x) > 50:
            ax.legend(fontsize=8)
        if (y > 0).all():
            ax.set_yscale("log")
            _log_labels(ax)
    else:
        _empty(ax, "no loss rows")
    ax.set_title("training loss")
    ax.set_xlabel("iteration")


def _accuracy_panel(ax: Any, train_rows: Sequence[dict[str, Any]]) -> None:
    pts = _logged(train_rows, "acc")
    if pts:
        x, y = np.array(pts, dtype=float).T
        _plot_logged(ax, x, y, "C1", labelled=False)
        ax.set_ylim(-0.02, 1.02)
    else:
        _empty(ax, "no accuracy rows")
    ax.set_title("training accuracy (logged batch)")
    ax.set_xlabel("iteration")


def _validation_panel(ax: Any, val_rows: Sequence[dict[str, Any]], difficulty_name: str) -> None:
    keys = val_keys(val_rows)
    if keys:
        _validation_lines(ax, val_rows, keys, difficulty_name)
    else:
        _empty(ax, "no validation rows")
        ax.set_title("validation accuracy")
    ax.set_xlabel("iteration")


def _validation_lines(ax: Any, val_rows: Sequence[dict[str, Any]], keys: list[str], difficulty_name: str) -> None:
    """One line per validation difficulty, darker to lighter, and their mean when there are several."""
    cmap = plt.get_cmap("viridis")
    for i, k in enumerate(keys):
        pts = [(r["iter"], r["val"][k]) for r in val_rows if _finite((r.get("val") or {}).get(k))]
        if not pts:
            continue
        x, y = np.array(pts, dtype=float).T
        color = cmap(i / max(1, len(keys) - 1) * 0.9)
        ax.plot(x, y, color=color, marker="o", markersize=3 if len(x) > 3 else 6, linewidth=1.2, label=f"{difficulty_name} {k}")
    pts = [(r["iter"], mean_val(r)) for r in val_rows if mean_val(r) is not None]
    if pts and len(keys) > 1:
        x, y = np.array(pts, dtype=float).T
        ax.plot(x, y, color="black", linestyle="--", marker="s", markersize=3, linewidth=1.6, label="mean")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, ncol=2 if len(keys) > 6 else 1, loc="lower right")
    steps = sorted({r.get("val_steps") for r in val_rows if r.get("val_steps") is not None})
    ax.set_title(f"validation accuracy (T={', '.join(map(str, steps))})" if steps else "validation accuracy")


def val_overlay_figure(series: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> plt.Figure:
    """Mean validation accuracy (over each run's validation difficulties) against iteration,
    one line per run: ``series`` is ``[(label, val_rows), ...]``."""
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    drawn = 0
    for i, (label, rows) in enumerate(series):
        pts = [(r["iter"], mean_val(r)) for r in rows if mean_val(r) is not None and _finite(r.get("iter"))]
        if not pts:
            continue
        x, y = np.array(pts, dtype=float).T
        ax.plot(x, y, marker="o", markersize=3 if len(x) > 3 else 6, linewidth=1.5, color=f"C{i % 10}", label=label)
        drawn += 1
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    else:
        _empty(ax, "no validation rows in any run")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean validation accuracy")
    ax.set_title("validation accuracy (mean over validation difficulties)")
    return fig


def _log_labels(ax: Any) -> None:
    """Plain numbers on a log axis: decades and their 2x / 5x minor ticks, nothing else."""

    def label(v: float, _pos: Any) -> str:
        if v <= 0:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return f"{v:g}" if lead in (1.0, 2.0, 5.0) else ""

    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(FuncFormatter(label))


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_yticks([])  # x may be shared with other panels


__all__ = ["figure_png_bytes", "training_figure", "val_overlay_figure", "difficulty_sort_key", "val_keys", "mean_val"]
