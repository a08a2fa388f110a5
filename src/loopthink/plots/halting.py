"""Adaptive-halting figures: accuracy vs mean steps (Pareto curves), steps by difficulty, and the
conformal rule's measured premature-exit rate against alpha."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopthink.plots import plt, save_figure

_STYLE = {
    "fixed": dict(color="0.45", linestyle="--", marker=None, label="fixed depth (all examples t steps)"),
    "kl": dict(color="tab:blue", marker="o", label="KL rule (threshold sweep)"),
    "convergence": dict(color="tab:green", marker="s", label="convergence rule (threshold sweep)"),
    "conformal": dict(color="tab:red", marker="D", label="conformal rule (alpha sweep)"),
}


def _accuracy_label(data: dict[str, Any], what: str = "accuracy") -> str:
    """The accuracy axis' name; for a per-position task the exact match of the whole answer."""
    return f"{what} (exact match)" if data.get("per_position") else what


def plot_pareto(data: dict[str, Any], path: Path) -> list[Path]:
    """Accuracy against mean steps used for every rule's sweep, the run's operating point starred.
    Left: the whole range; right: zoomed on accuracies near the T_max accuracy."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12.0, 4.8))
    acc_max = data["accuracy_at_max"]
    for a, full in ((ax, True), (zoom, False)):
        for name, pts in data["pareto"].items():
            if not pts:
                continue
            style = dict(_STYLE.get(name, {"label": name}))
            pts = sorted(pts, key=lambda p: p["mean_steps"])
            lw = 2.2 if name == data["rule"] else 1.2
            a.plot([p["mean_steps"] for p in pts], [p["accuracy"] for p in pts], markersize=4, linewidth=lw, **style)
            if name == "conformal":
                _annotate_alphas(a, pts, data["max_steps"], style["color"], data.get("alpha"), every=not full)
        a.axhline(acc_max, color="black", linewidth=0.8, linestyle=":", label=f"accuracy at T_max={data['max_steps']}")
        a.plot(
            [data["mean_steps"]],
            [data["accuracy"]],
            marker="*",
            markersize=15,
            color="gold",
            markeredgecolor="black",
            linestyle="none",
            label=f"this run: {data['rule']} ({data['compute_saved']:.0%} compute saved)",
            zorder=5,
        )
        a.set_xlim(0, data["max_steps"] + 1)
        a.set_xlabel("mean recurrence steps used per example")
        a.set_ylabel(_accuracy_label(data, "test accuracy"))
    accs = [p["accuracy"] for pts in data["pareto"].values() for p in pts if p["mean_steps"] >= 2]
    top = min(1.005, max(accs + [acc_max, data["accuracy"]]) + 0.01)
    ax.set_ylim(max(0.0, min(accs + [data["accuracy"]]) - 0.02) if accs else 0.0, top + 0.02)  # room for labels
    zoom.set_ylim(max(0.0, acc_max - 0.05), top)
    ax.set_title(f"{data['task']}: accuracy vs compute, T_max={data['max_steps']} (n={data['n']})")
    zoom.set_title("zoom: within 5 points of the T_max accuracy")
    ax.legend(fontsize=7.5, loc="lower right")
    return save_figure(fig, path)


def _annotate_alphas(ax: Any, pts: list[dict[str, Any]], max_steps: int, color: str, chosen: float | None, every: bool) -> None:
    """Label conformal points with their alpha (all of them, or a few on the overview); points at
    the same place share one label; labels slant alternately up/down to limit overlaps."""
    keep = {0.01, 0.1, 0.3} | ({chosen} if chosen is not None else set())
    spots: dict[tuple[float, float], list[float]] = {}
    for p in pts:
        if every or p["param"] in keep:
            spots.setdefault((round(p["mean_steps"], 2), round(p["accuracy"], 4)), []).append(p["param"])
    for i, ((x, y), alphas) in enumerate(sorted(spots.items())):
        text = f"α={alphas[0]:g}" if len(alphas) == 1 else f"α={min(alphas):g}..{max(alphas):g}"
        if not every:  # overview: the conformal curve is the upper-left envelope, so its left side is free
            ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(-6, 2), fontsize=7, color=color, ha="right", va="bottom", clip_on=True
            )
            continue
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(2, 5) if i % 2 else (2, -7),
            fontsize=7,
            color=color,
            rotation=35 if i % 2 else -35,
            rotation_mode="anchor",
            ha="left",
            va="bottom" if i % 2 else "top",
            clip_on=True,
        )


def plot_steps_by_difficulty(data: dict[str, Any], keys: list[str], steps: np.ndarray, path: Path) -> list[Path]:
    """Left: distribution of steps used per difficulty (box = quartiles, whiskers = 5..95%, dot =
    mean). Right: accuracy with halting vs at T_max per difficulty."""
    names = list(data["by_difficulty"])
    arr = np.asarray(keys)
    groups = [steps[arr == k] for k in names]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(max(9.0, 0.45 * len(names) + 5.0), 4.2), gridspec_kw={"width_ratios": [3, 2]})
    pos = np.arange(len(names))
    ax.boxplot(groups, positions=pos, widths=0.6, whis=(5, 95), showfliers=False)
    ax.plot(pos, [g.mean() for g in groups], "o", color="tab:red", markersize=4, label="mean")
    ax.set_xticks(pos, names, rotation=45 if len(names) > 12 else 0, fontsize=8)
    ax.set_xlabel(data.get("difficulty_name", "difficulty"))
    ax.set_ylabel("steps used")
    ax.set_ylim(0, data["max_steps"] + 1)
    ax.axhline(data["max_steps"], color="black", linewidth=0.8, linestyle=":", label=f"T_max={data['max_steps']}")
    ax.set_title(f"steps used by difficulty ({data['rule']}; box = quartiles, whiskers = 5-95%)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    bd = data["by_difficulty"]
    ax2.plot(pos, [bd[k]["accuracy_at_max"] for k in names], marker="s", markersize=4, color="0.4", label=f"at T_max={data['max_steps']}")
    ax2.plot(pos, [bd[k]["accuracy"] for k in names], marker="o", markersize=4, color="tab:red", label="with halting")
    ax2.set_xticks(pos, names, rotation=45 if len(names) > 12 else 0, fontsize=8)
    ax2.set_xlabel(data.get("difficulty_name", "difficulty"))
    ax2.set_ylabel(_accuracy_label(data))
    ax2.set_ylim(min(0.5, min(min(bd[k]["accuracy"], bd[k]["accuracy_at_max"]) for k in names) - 0.02), 1.02)
    ax2.legend(fontsize=8, loc="lower left")
    ax2.set_title("accuracy by difficulty")
    return save_figure(fig, path)


def plot_calibration(data: dict[str, Any], path: Path) -> list[Path]:
    """Measured premature-exit rate on test data (95% Wilson interval) against the target alpha."""
    rows = data["alpha_sweep"]
    a = np.array([r["alpha"] for r in rows])
    rate = np.array([r["premature_exit"]["rate"] for r in rows])
    lo = np.array([r["premature_exit"]["ci_low"] for r in rows])
    hi = np.array([r["premature_exit"]["ci_high"] for r in rows])
    fig, ax = plt.subplots(figsize=(5.5, 4.4))
    ax.errorbar(
        a,
        rate,
        yerr=[np.clip(rate - lo, 0, None), np.clip(hi - rate, 0, None)],
        fmt="o",
        color="tab:red",
        capsize=3,
        label="measured on test (95% CI)",
    )
    ax.plot([a.min(), a.max()], [a.min(), a.max()], color="black", linewidth=0.8, linestyle="--", label="rate = alpha")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("alpha (target premature-exit rate)")
    ax.set_ylabel("premature-exit rate")
    ax.set_title(f"conformal rule: premature exits (n={data['n']})")
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)
