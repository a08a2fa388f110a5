"""What ``loopthink halt`` hands back of a halting evaluation: ``halting.json``,
``halting_examples.csv`` and the text summary it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loopthink.analysis.answers_over_steps import answer_text
from loopthink.analysis.halting.evaluation import HaltingEvaluation


def write_outputs(ev: HaltingEvaluation, out: Path) -> None:
    """``halting.json`` and ``halting_examples.csv`` (one row per test instance) in ``out``; a
    per-position answer is written as its class indices separated by spaces."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "halting.json").write_text(json.dumps(ev.data, indent=1))
    with open(out / "halting_examples.csv", "w") as f:
        f.write("index,difficulty,label,prediction,prediction_at_max,steps_used\n")
        for i in range(len(ev.keys)):
            answers = ",".join(answer_text(x[i]) for x in (ev.labels, ev.predictions, ev.final))
            f.write(f"{i},{ev.keys[i]},{answers},{int(ev.steps[i])}\n")


def summary_text(data: dict[str, Any]) -> str:
    """The report ``loopthink halt`` prints: the rule, accuracy, steps and premature exits, then a
    table per difficulty and, for the conformal rule, one per alpha."""
    T = data["max_steps"]
    pe = data["premature_exit"]
    rule = data["rule"] + (f" (alpha={data['alpha']})" if data["alpha"] is not None else f" (threshold={data['threshold']:g})")
    lines = [
        f"rule {rule}, T_max={T}, min_steps={data['min_steps']}, n={data['n']}",
        f"accuracy {data['accuracy']:.4f} with halting vs {data['accuracy_at_max']:.4f} at T_max "
        f"({100 * (data['accuracy'] - data['accuracy_at_max']):+.2f} points)",
        f"mean steps {data['mean_steps']:.2f} of {T}: compute saved {data['compute_saved']:.1%}; "
        f"wall time {data['wall_time']['halted_s']:.2f}s halted vs {data['wall_time']['full_rollout_s']:.2f}s full",
        f"premature exits {pe['k']}/{pe['n']} = {pe['rate']:.4f} (95% CI {pe['ci_low']:.4f}..{pe['ci_high']:.4f})"
        + (f" vs alpha {data['alpha']}" if data["alpha"] is not None else ""),
        *(
            [
                f"per-position accuracy {data['position_accuracy']:.4f} with halting vs {data['position_accuracy_at_max']:.4f} at T_max"
                " (accuracy above: exact match; an instance exits as a whole)"
            ]
            if data.get("per_position")
            else []
        ),
        "",
        f"{data['difficulty_name']:>12} {'n':>6} {'acc':>7} {'acc@max':>8} {'mean':>6} {'p10':>5} {'med':>5} {'p90':>5} {'max':>5}",
    ]
    for k, r in data["by_difficulty"].items():
        lines.append(
            f"{k:>12} {r['n']:>6} {r['accuracy']:>7.3f} {r['accuracy_at_max']:>8.3f} {r['mean_steps']:>6.1f} "
            f"{r['steps_p10']:>5.0f} {r['steps_median']:>5.0f} {r['steps_p90']:>5.0f} {r['steps_max']:>5}"
        )
    if data.get("alpha_sweep"):
        lines += ["", f"{'alpha':>8} {'premature':>10} {'95% CI':>17} {'accuracy':>9} {'mean steps':>11}"]
        for r in data["alpha_sweep"]:
            pe = r["premature_exit"]
            lines.append(
                f"{r['alpha']:>8g} {pe['rate']:>10.4f} {pe['ci_low']:>8.4f}..{pe['ci_high']:<7.4f} {r['accuracy']:>9.4f} {r['mean_steps']:>11.2f}"
            )
    return "\n".join(lines)
