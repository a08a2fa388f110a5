"""Pictures of ``loopthink diagnose``: commitment, convergence, decision step, logit lens, monitor ROC.

Each function reads the ``dynamics.json`` dict and writes one PNG (+ SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopthink.plots import plt, save_figure


def _numeric(key: str) -> bool:
    return key.lstrip("-").isdigit()


def _colours(keys: list[str]) -> dict[str, Any]:
    """Numeric difficulties on a viridis ramp; non-numeric buckets (graph "unreachable") grey."""
    nums = [k for k in keys if _numeric(k)]
    cmap = plt.get_cmap("viridis")
    out: dict[str, Any] = {k: cmap(i / max(1, len(nums) - 1) * 0.9) for i, k in enumerate(nums)}
    out.update({k: "0.45" for k in keys if not _numeric(k)})
    return out


def _by_difficulty(ax: Any, data: dict[str, Any], field: str, x0: int) -> None:
    rows = data["by_difficulty"]
    col = _colours(list(rows))
    name = data.get("difficulty_name", "difficulty")
    for k, row in rows.items():
        y = np.asarray(row[field], dtype=float)
        ax.plot(
            np.arange(x0, x0 + len(y)),
            y,
            color=col[k],
            linestyle="-" if _numeric(k) else "--",
            linewidth=1.3,
            label=f"{name} {k}" if _numeric(k) else k,
        )
    ncol = 2 if len(rows) > 8 else 1
    ax.legend(fontsize=7, ncol=ncol, loc="best", framealpha=0.8)


def _title(data: dict[str, Any], what: str) -> str:
    return f"{data.get('task', '')}: {what} (K={data['runs']} runs)"


def plot_commitment(data: dict[str, Any], path: Path) -> list[Path]:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    _by_difficulty(a1, data, "commitment", 0)
    a1.set_xlabel("recurrence step t")
    a1.set_ylabel("commitment (mean pairwise cosine of runs)")
    a1.set_title(_title(data, "commitment per difficulty"), fontsize=10)
    sp = data["correctness_split"]
    for key, label, colour in (("per_step_correct", "answered right", "tab:green"), ("per_step_wrong", "answered wrong", "tab:red")):
        y = sp.get(key)
        if y:
            n = sp["n_correct"] if key == "per_step_correct" else sp["n_wrong"]
            a2.plot(np.arange(len(y)), y, color=colour, label=f"{label} (n={n})")
    auc = sp.get("auroc_commitment_for_correct")
    a2.set_title("commitment: right vs wrong" + (f" (AUROC at T = {auc:.2f})" if auc is not None else ""), fontsize=10)
    a2.set_xlabel("recurrence step t")
    a2.set_ylabel("commitment")
    a2.legend(fontsize=8, loc="best")
    if data.get("identical_runs"):
        why = "zeros init" if data.get("init_state") == "zeros" or data.get("init_scale") == 0 else "one run"
        fig.suptitle(f"identical runs ({why}): commitment is 1 by construction", fontsize=9, color="0.3")
    return save_figure(fig, path)


def plot_convergence(data: dict[str, Any], path: Path) -> list[Path]:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    _by_difficulty(a1, data, "convergence", 1)
    a1.set_yscale("log")
    a1.set_xlabel("recurrence step t")
    a1.set_ylabel(r"$\|h_t - h_{t-1}\| \,/\, \|h_{t-1}\|$")
    a1.set_title(_title(data, "state change per step"), fontsize=10)
    _by_difficulty(a2, data, "kl", 1)
    a2.set_yscale("log")
    a2.set_xlabel("recurrence step t")
    a2.set_ylabel(r"KL($p_t \,\|\, p_{t-1}$) (nats)")
    a2.set_title("readout change per step", fontsize=10)
    for ax in (a1, a2):
        ax.relim()
    return save_figure(fig, path)


def plot_decision(data: dict[str, Any], path: Path) -> list[Path]:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    counts = data["decision_step_counts"]
    T = data["steps"]
    col = _colours(list(counts))
    name = data.get("difficulty_name", "difficulty")
    bottom = np.zeros(T)
    steps = np.arange(1, T + 1)
    for k, c in counts.items():
        c = np.asarray(c, dtype=float)
        a1.bar(steps, c, bottom=bottom, width=1.0, color=col[k], label=f"{name} {k}" if _numeric(k) else k, linewidth=0)
        bottom += c
    a1.set_xlabel("decision step (last change of the answer)")
    a1.set_ylabel("runs (examples x K)")
    a1.set_title(_title(data, "decision step histogram"), fontsize=10)
    a1.legend(fontsize=7, ncol=2 if len(counts) > 8 else 1)
    rows = data["by_difficulty"]
    nk = [k for k in rows if _numeric(k)]
    if nk:
        x = np.array([int(k) for k in nk])
        y = np.array([rows[k]["decision_step_mean"] for k in nk])
        e = np.array([rows[k].get("decision_step_sem", 0.0) for k in nk])
        a2.errorbar(x, y, yerr=1.96 * e, marker="o", capsize=3, label="mean (bars: 95% CI over examples)")
        a2.set_xticks(x if len(x) <= 16 else x[:: max(1, len(x) // 16)])
    others = [k for k in rows if not _numeric(k)]
    for k in others:
        a2.axhline(rows[k]["decision_step_mean"], color="0.45", linestyle="--", label=f"{k} (mean)")
    stats = data["decision_step_stats"]
    if nk:
        a2.plot(
            x, [rows[k]["decision_step_median"] for k in nk], marker="s", linestyle=":", color="tab:orange", label="median over examples"
        )
    rho = stats.get("spearman_with_difficulty")
    a2.set_title(f"decision step vs {name}" + (f" (Spearman ρ = {rho:.2f})" if rho is not None else ""), fontsize=10)
    a2.set_xlabel(name)
    a2.set_ylabel("decision step")
    a2.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def plot_lens(data: dict[str, Any], path: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    _by_difficulty(ax, data, "lens_accuracy", 1)
    steps = [r["step"] for r in data["per_step"]]
    ax.plot(steps, [r["lens_accuracy"] for r in data["per_step"]], color="black", linewidth=2.2, label="all")
    ax.legend(fontsize=7, ncol=2 if len(data["by_difficulty"]) > 7 else 1, loc="best", framealpha=0.8)
    ax.set_xlabel("recurrence step t (readout applied to h_t)")
    ax.set_ylabel("accuracy (exact match)" if "answer" in data.get("definitions", {}) else "accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(_title(data, "logit lens"), fontsize=10)
    return save_figure(fig, path)


def plot_roc(data: dict[str, Any], path: Path) -> list[Path]:
    mon = data["monitor"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.4))
    a1.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
    roc = mon.get("roc")
    if roc and mon.get("auroc") is not None:
        a1.plot(roc["fpr"], roc["tpr"], color="tab:blue", linewidth=2, label=f"t0={mon['t0']}: AUROC {mon['auroc']:.3f}")
    else:
        a1.text(0.5, 0.5, "AUROC undefined\n(held-out target has one class)", ha="center", va="center", fontsize=9)
    a1.set_xlim(0, 1)
    a1.set_ylim(0, 1.01)
    a1.set_aspect("equal")
    a1.set_xlabel("false positive rate")
    a1.set_ylabel("true positive rate")
    a1.set_title(f"monitor ROC on held-out seed (n={mon.get('heldout_n')})", fontsize=10)
    a1.legend(fontsize=8, loc="lower right")
    per = [m for m in mon.get("per_t0") or [] if m["auroc"] is not None]
    if per:
        a2.plot([m["t0"] for m in per], [m["auroc"] for m in per], marker="o", label="logistic monitor")
        a2.plot(
            [m["t0"] for m in per],
            [m["positive_rate_heldout"] for m in per],
            marker=".",
            linestyle="--",
            color="0.5",
            label="unstable rate (held-out)",
        )
        a2.axvline(mon["t0"], color="tab:red", linestyle=":", label=f"headline t0={mon['t0']}")
    else:
        a2.text(
            0.5,
            0.5,
            "AUROC undefined at every t0\n(held-out target has one class)",
            ha="center",
            va="center",
            fontsize=9,
            transform=a2.transAxes,
        )
    a2.axhline(0.5, color="0.6", linestyle=":")
    a2.set_ylim(0, 1.02)
    a2.set_xlabel("monitor step t0")
    a2.set_ylabel("AUROC / rate")
    a2.set_title("predicting unstable answers from step t0", fontsize=10)
    if per:
        a2.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def plot_all(data: dict[str, Any], out: Path) -> list[Path]:
    out = Path(out)
    written: list[Path] = []
    written += plot_commitment(data, out / "commitment.png")
    written += plot_convergence(data, out / "convergence.png")
    written += plot_decision(data, out / "decision_step.png")
    written += plot_lens(data, out / "lens_accuracy.png")
    written += plot_roc(data, out / "monitor_roc.png")
    return written
