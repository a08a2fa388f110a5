"""loopthink vs the seed paper (arXiv 2603.21676) on the paper's own settings, side by side.

    python scripts/paper_comparison.py [--tasks graph,logic,text] [--variants paper,loopthink] [--out runs/paper]
                                     [--n 500] [--doc docs/paper_comparison.md] [--retrain] [key=value ...]

For each task, trains `configs/paper/<task>.yaml` twice on the same data stream and budget:
"paper" is the paper-faithful model as the config says (learned depth embedding, no input
injection); "loopthink" overrides `model.depth_embedding=0 model.injection=add` (loopthink's
model). Then accuracy per test bucket of `eval.difficulties` at every `eval.steps`, best over
steps (as the paper reports), beside the paper's published number. Writes OUT/paper.json and
each task's results section of the doc (between its markers, so a run of one task leaves the
others' tables as they are), with wall-clock times and the command. Finished runs are reused
unless --retrain; --variants picks which of the two to train and measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # the helpers shared with bench/
from _common import ROOT, train_and_measure, train_time_text  # noqa: E402

# Published accuracies (issue 8; the paper's tables), best over thinking steps; where the paper
# gives a range over its runs, the top of the range (the number to beat).
PAPER: dict[str, dict[str, float]] = {
    "graph": {"1..1": 1.00, "2..2": 1.00, "3..3": 1.00, "4..4": 1.00, "6..6": 1.00, "8..8": 1.00, "10..10": 0.50, "12..12": 0.50},
    "logic": {"2..2": 1.00, "4..4": 1.00, "6..6": 1.00, "8..8": 1.00, "10..10": 0.97, "12..12": 0.96, "14..14": 0.94},
    "text": {"2..5": 0.86, "6..6": 0.68, "7..7": 0.66, "8..8": 0.56, "9..9": 0.54},
}
VARIANTS = {"paper": [], "loopthink": ["model.depth_embedding=0", "model.injection=add"]}


def compare(task: str, variants: list[str], out: Path, n: int, retrain: bool, extra: list[str]) -> dict:
    config = ROOT / "configs" / "paper" / f"{task}.yaml"
    rows = {}
    for name in variants:
        rows[name] = train_and_measure(config, out / f"{task}_{name}", n, retrain, VARIANTS[name] + extra)
    return {"task": task, "variants": rows, "paper": PAPER[task]}


def markdown(result: dict, command: str) -> str:
    """One task's results: how each variant trained, then accuracy per bucket beside the paper's."""
    v = result["variants"]
    lines = [f"Measured with `{command}`.", "", f"### {result['task']}", ""]
    for name, res in v.items():
        lines.append(f"- {name}: {res['iters']} iterations, trained in {train_time_text(res)}")
    lines += ["", "| bucket | paper | paper-faithful model here | loopthink model | loopthink ≥ paper |", "|---|---|---|---|---|"]
    for bucket, ref in result["paper"].items():
        cells = []
        for name in VARIANTS:
            b = v[name]["ranges"].get(bucket) if name in v else None
            cells.append("—" if b is None else f"{b['best_accuracy']:.3f} (T={b['best_steps']})")
        ours = v["loopthink"]["ranges"].get(bucket) if "loopthink" in v else None
        verdict = "—" if ours is None else ("yes" if ours["best_accuracy"] >= ref else "**no**")
        lines.append(f"| {bucket} | {ref:.2f} | {cells[0]} | {cells[1]} | {verdict} |")
    return "\n".join(lines + [""])


def write_doc(doc: Path, task: str, section: str) -> None:
    """Replace ``task``'s results section (appended if the doc has none yet)."""
    begin, end = f"<!-- results:{task}:begin -->", f"<!-- results:{task}:end -->"
    text = doc.read_text() if doc.exists() else "# loopthink vs the paper\n"
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    doc.write_text(f"{head}{begin}\n{section}\n{end}{tail}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="graph,logic,text")
    p.add_argument("--variants", default=",".join(VARIANTS), help="which of paper,loopthink to train and measure")
    p.add_argument("--out", default="runs/paper")
    p.add_argument("--n", type=int, default=500, help="test instances per bucket")
    p.add_argument("--doc", default="docs/paper_comparison.md")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.device=cuda train.amp=true")
    args = p.parse_args()
    unknown = set(args.tasks.split(",")) - set(PAPER)
    if unknown:
        p.error(f"unknown task(s) {sorted(unknown)}; choose from {sorted(PAPER)}")
    variants = args.variants.split(",")
    if set(variants) - set(VARIANTS):
        p.error(f"unknown variant(s) {sorted(set(variants) - set(VARIANTS))}; choose from {sorted(VARIANTS)}")
    out = Path(args.out)
    t0 = time.time()
    results = [compare(t, variants, out, args.n, args.retrain, args.overrides) for t in args.tasks.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    (out / "paper.json").write_text(json.dumps({"results": results, "seconds": time.time() - t0}, indent=1))
    command = "python scripts/paper_comparison.py " + " ".join(sys.argv[1:])
    for r in results:
        write_doc(ROOT / args.doc, r["task"], markdown(r, command.strip()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
