"""External-validity picture: one panel per family, accuracy vs difficulty, one line per label."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loopthink.plots import plt, save_figure


def plot_validity(data: dict[str, Any], path: Path) -> list[Path]:
    rows = data["rows"]
    families = list(dict.fromkeys(r["family"] for r in rows)) or ["(none)"]
    cols = min(4, len(families))
    nrows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False, sharey=True)
    lo, hi = data.get("train_difficulty", (None, None))
    for ax, fam in zip(axes.flat, families):
        for label in dict.fromkeys(r["label"] for r in rows if r["family"] == fam):
            cells = sorted((r["difficulty"], r["accuracy"]) for r in rows if r["family"] == fam and r["label"] == label)
            ax.plot([c[0] for c in cells], [c[1] for c in cells], "o-", markersize=3, label=label)
        if lo is not None:
            ax.axvspan(lo - 0.5, hi + 0.5, color="grey", alpha=0.12)
        ax.set_title(fam, fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(data.get("difficulty_name", "difficulty"), fontsize=8)
    for ax in axes.flat[len(families) :]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("accuracy (best T)")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{data.get('run', '')}: accuracy per family (shaded: training range)", fontsize=10)
    return save_figure(fig, path)
