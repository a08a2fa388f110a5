"""The picture of :mod:`loopthink.analysis.watch`: a chain as a (step x position) image, a grid as
panels at a few step counts, each position coloured by the probability of its right answer."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from loopthink.analysis.watch import Watch  # noqa: E402

PANELS = 6  # step counts shown for a grid


def plot_watch(w: Watch, title: str, out: Path) -> None:
    if w.coords is None:
        _chain(w, title)
    else:
        _grid(w, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(out, dpi=110, bbox_inches="tight")
    plt.close()


def _chain(w: Watch, title: str) -> None:
    T, L = w.confidence.shape
    fig, ax = plt.subplots(figsize=(min(14, 3 + L / 12), min(8, 2 + T / 12)))
    im = ax.imshow(w.confidence, aspect="auto", origin="lower", cmap="RdYlGn", vmin=0, vmax=1, extent=(-0.5, L - 0.5, 0.5, T + 0.5))
    ax.set_xlabel("position (reading order)")
    ax.set_ylabel("recurrence step")
    solved = w.solved_at()
    if solved is not None:
        ax.axhline(solved - 0.5, color="black", linewidth=1, linestyle="--", label=f"every position right from step {solved}")
        ax.legend(loc="upper left", fontsize=8)
    fig.colorbar(im, ax=ax, label="P(right answer)")
    ax.set_title(title)


def _grid(w: Watch, title: str) -> None:
    """Panels: each cell grey by its input token (walls and corridors apart), green where the model
    answers "on the path" rightly, red where its answer is wrong."""
    T = len(w.confidence)
    shown = sorted({int(round(t)) for t in np.linspace(1, T, PANELS)})
    rows, cols = w.coords.max(0) + 1
    kinds = np.unique(w.tokens)
    grey = 0.25 + 0.7 * np.searchsorted(kinds, w.tokens) / max(1, len(kinds) - 1)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 2.9))
    for ax, t in zip(np.atleast_1d(axes), shown):
        right = w.right[t - 1]
        colour = np.repeat(grey[:, None], 3, 1)
        colour[right & (w.labels == 1)] = (0.1, 0.7, 0.2)
        colour[~right] = (0.85, 0.1, 0.1)
        image = np.ones((rows, cols, 3))
        image[w.coords[:, 0], w.coords[:, 1]] = colour
        ax.imshow(image, interpolation="nearest")
        ax.set_title(f"T = {t}: {right.mean():.0%} of cells right", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}  (green: on the path, answered right; red: a wrong answer)", fontsize=10)
