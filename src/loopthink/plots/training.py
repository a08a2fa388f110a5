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

    pts = [(r["iter"], r["loss"]) for r in train_rows if _finite(r.get("loss")) and _finite(r.get("iter"))]
    if pts:
        x, y = np.array(pts, dtype=float).T
        ax_loss.plot(
            x, y, color="C0", linewidth=1, alpha=0.45 if len(x) > 50 else 1.0, marker="o" if len(x) < 3 else None, label="logged batch"
        )
        if len(x) > 50:
            ax_loss.plot(x, _smooth(y, max(3, len(x) // 25)), color="C0", linewidth=2, label="moving average")
            ax_loss.legend(fontsize=8)
        if (y > 0).all():
            ax_loss.set_yscale("log")
            _log_labels(ax_loss)
    else:
        _empty(ax_loss, "no loss rows")
    ax_loss.set_title("training loss")
    ax_loss.set_xlabel("iteration")

    pts = [(r["iter"], r["acc"]) for r in train_rows if _finite(r.get("acc")) and _finite(r.get("iter"))]
    if pts:
        x, y = np.array(pts, dtype=float).T
        ax_acc.plot(x, y, color="C1", linewidth=1, alpha=0.45 if len(x) > 50 else 1.0, marker="o" if len(x) < 3 else None)
        if len(x) > 50:
            ax_acc.plot(x, _smooth(y, max(3, len(x) // 25)), color="C1", linewidth=2)
        ax_acc.set_ylim(-0.02, 1.02)
    else:
        _empty(ax_acc, "no accuracy rows")
    ax_acc.set_title("training accuracy (logged batch)")
    ax_acc.set_xlabel("iteration")

    keys = val_keys(val_rows)
    if keys:
        cmap = plt.get_cmap("viridis")
        for i, k in enumerate(keys):
            pts = [(r["iter"], r["val"][k]) for r in val_rows if _finite((r.get("val") or {}).get(k))]
            if not pts:
                continue
            x, y = np.array(pts, dtype=float).T
            color = cmap(i / max(1, len(keys) - 1) * 0.9)
            label = f"{difficulty_name} {k}"
            ax_val.plot(x, y, color=color, marker="o", markersize=3 if len(x) > 3 else 6, linewidth=1.2, label=label)
        pts = [(r["iter"], mean_val(r)) for r in val_rows if mean_val(r) is not None]
        if pts and len(keys) > 1:
            x, y = np.array(pts, dtype=float).T
            ax_val.plot(x, y, color="black", linestyle="--", marker="s", markersize=3, linewidth=1.6, label="mean")
        ax_val.set_ylim(-0.02, 1.02)
        ax_val.legend(fontsize=7, ncol=2 if len(keys) > 6 else 1, loc="lower right")
        steps = sorted({r.get("val_steps") for r in val_rows if r.get("val_steps") is not None})
        if steps:
            ax_val.set_title(f"validation accuracy (T={', '.join(map(str, steps))})")
        else:
            ax_val.set_title("validation accuracy")
    else:
        _empty(ax_val, "no validation rows")
        ax_val.set_title("validation accuracy")
    ax_val.set_xlabel("iteration")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


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
