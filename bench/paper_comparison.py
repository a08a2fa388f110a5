"""loopthink vs the seed paper (arXiv 2603.21676) on the paper's own settings, side by side.

    python bench/paper_comparison.py [--tasks graph,logic,text] [--out runs/paper] [--n 500]
                                     [--doc docs/paper_comparison.md] [--retrain] [key=value ...]

For each task, trains `configs/paper/<task>.yaml` twice on the same data stream and budget:
"paper" is the paper-faithful model as the config says (learned depth embedding, no input
injection); "loopthink" overrides `model.depth_embedding=0 model.injection=add` (loopthink's
model). Then accuracy per test bucket of `eval.difficulties` at every `eval.steps`, best over
steps (as the paper reports), beside the paper's published number. Writes OUT/paper.json and
the results section of the doc (between the markers), with wall-clock times and the command.
Finished runs are reused unless --retrain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import ROOT, train_and_measure, train_time_text

# Published accuracies (issue 8; the paper's tables), best over thinking steps; where the paper
# gives a range over its runs, the top of the range (the number to beat).
PAPER: dict[str, dict[str, float]] = {
    "graph": {"1..1": 1.00, "2..2": 1.00, "3..3": 1.00, "4..4": 1.00, "6..6": 1.00, "8..8": 1.00, "10..10": 0.50, "12..12": 0.50},
    "logic": {"2..2": 1.00, "4..4": 1.00, "6..6": 1.00, "8..8": 1.00, "10..10": 0.97, "12..12": 0.96, "14..14": 0.94},
    "text": {"2..5": 0.86, "6..6": 0.68, "7..7": 0.66, "8..8": 0.56, "9..9": 0.54},
}
VARIANTS = {"paper": [], "loopthink": ["model.depth_embedding=0", "model.injection=add"]}
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def compare(task: str, out: Path, n: int, retrain: bool, extra: list[str]) -> dict:
    config = ROOT / "configs" / "paper" / f"{task}.yaml"
    rows = {}
    for name, overrides in VARIANTS.items():
        rows[name] = train_and_measure(config, out / f"{task}_{name}", n, retrain, overrides + extra)
    return {"task": task, "variants": rows, "paper": PAPER[task]}


def markdown(results: list[dict], command: str) -> str:
    lines = [f"Measured with `{command}` on this machine's CPU (2 cores).", ""]
    for r in results:
        v = r["variants"]
        lines += [f"### {r['task']}", ""]
        for name, res in v.items():
            lines.append(f"- {name}: {res['iters']} iterations, trained in {train_time_text(res)}")
        lines += ["", "| bucket | paper | paper-faithful model here | loopthink model | loopthink ≥ paper |", "|---|---|---|---|---|"]
        for bucket, ref in r["paper"].items():
            cells = []
            for name in VARIANTS:
                b = v[name]["ranges"].get(bucket)
                cells.append("—" if b is None else f"{b['best_accuracy']:.3f} (T={b['best_steps']})")
            ours = v["loopthink"]["ranges"].get(bucket)
            verdict = "—" if ours is None else ("yes" if ours["best_accuracy"] >= ref else "**no**")
            lines.append(f"| {bucket} | {ref:.2f} | {cells[0]} | {cells[1]} | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def write_doc(doc: Path, section: str) -> None:
    text = doc.read_text() if doc.exists() else f"# loopthink vs the paper\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    doc.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="graph,logic,text")
    p.add_argument("--out", default="runs/paper")
    p.add_argument("--n", type=int, default=500, help="test instances per bucket")
    p.add_argument("--doc", default="docs/paper_comparison.md")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.device=cuda train.amp=true")
    args = p.parse_args()
    unknown = set(args.tasks.split(",")) - set(PAPER)
    if unknown:
        p.error(f"unknown task(s) {sorted(unknown)}; choose from {sorted(PAPER)}")
    out = Path(args.out)
    t0 = time.time()
    results = [compare(t, out, args.n, args.retrain, args.overrides) for t in args.tasks.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    (out / "paper.json").write_text(json.dumps({"results": results, "seconds": time.time() - t0}, indent=1))
    command = "python bench/paper_comparison.py " + " ".join(sys.argv[1:])
    write_doc(ROOT / args.doc, markdown(results, command.strip()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
