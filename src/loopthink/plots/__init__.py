"""Pictures. One module per area (frontier, dynamics, halting); shared helpers here.

matplotlib runs headless (Agg); every figure is written as PNG (for the README/report) and SVG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})


def save_figure(fig: plt.Figure, path: str | Path, svg: bool = True) -> list[Path]:
    """Write ``path`` (.png) and, if ``svg``, the same name with .svg; close the figure."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    written = [path]
    if svg:
        fig.savefig(path.with_suffix(".svg"))
        written.append(path.with_suffix(".svg"))
    plt.close(fig)
    return written


__all__ = ["plt", "save_figure"]
