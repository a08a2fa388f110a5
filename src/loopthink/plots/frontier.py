"""Frontier heatmap and accuracy-vs-difficulty comparison curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopthink.analysis.frontier import accuracy_matrix
from loopthink.plots import plt, save_figure
from loopthink.tasks import task_class


def plot_frontier(data: dict[str, Any], path: Path) -> list[Path]:
    """Heatmap: difficulty on x, steps on y (one row per step count), training range shaded,
    and the frontier (smallest steps reaching the threshold) drawn as a line."""
    steps, diffs, acc = accuracy_matrix(data["rows"])
    floor = task_class(data["task"]).heatmap_floor
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(diffs) + 2.5), 0.45 * len(steps) + 2.2))
    im = ax.imshow(
        acc,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=floor,
        vmax=1.0,
        extent=(diffs[0] - 0.5, diffs[-1] + 0.5, -0.5, len(steps) - 0.5),
    )
    ax.grid(False)
    ax.set_yticks(range(len(steps)), [str(s) for s in steps])
    ax.set_xlabel(data.get("difficulty_name", "difficulty"))
    ax.set_ylabel("recurrence steps T")
    lo, hi = data.get("train_difficulty", (None, None))
    if lo is not None:
        ax.axvspan(lo - 0.5, hi + 0.5, ymin=0, ymax=1, fill=False, edgecolor="white", linewidth=2, linestyle="--", label="training range")
        ax.set_xlim(diffs[0] - 0.5, diffs[-1] + 0.5)  # the span must not widen the axis past the data
    xs, ys = [], []
    for d in diffs:
        s = data["frontier"].get(str(d))
        if s is not None:
            xs.append(d)
            ys.append(steps.index(s))
    if xs:
        ax.step(xs, ys, where="mid", color="red", linewidth=2, label=f"frontier ({data.get('threshold', 0.95):.0%})")
        ax.plot(xs, ys, "s", color="red", markersize=4)  # a frontier reached at one difficulty only still shows
    ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    fig.colorbar(im, ax=ax, label="accuracy")
    seeds = f" (mean of {len(data['seeds'])} seeds)" if data.get("seeds") else ""
    ax.set_title(f"{data['task']}: accuracy over steps x {data.get('difficulty_name', 'difficulty')}{seeds}")
    return save_figure(fig, path)


def plot_curves(curves: list[dict[str, Any]], path: Path, difficulty_name: str, train_range: tuple[int, int] | None) -> list[Path]:
    """One accuracy-vs-difficulty line per run; a band where a 95% interval is given."""
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    # Past 10 runs the default colour cycle repeats; tab20 plus alternating line styles keeps
    # every run distinguishable.
    colors = plt.cm.tab10.colors if len(curves) <= 10 else plt.cm.tab20.colors
    for i, c in enumerate(curves):
        x = np.array(c["difficulty"])
        y = np.array(c["accuracy"])
        color = colors[i % len(colors)]
        ax.plot(x, y, marker="o", markersize=3, label=c["label"], color=color, linestyle=("-", "--")[i % 2])
        if "ci_low" in c:
            ax.fill_between(x, c["ci_low"], c["ci_high"], alpha=0.15, color=color)
    if train_range:
        ax.axvspan(train_range[0] - 0.5, train_range[1] + 0.5, color="grey", alpha=0.12, label="training range")
    ax.set_xlabel(difficulty_name)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, path)
