"""Bench scripts without training: paper_comparison's table and doc writer, reproduce_figures' plan."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str = "paper_comparison"):
    """A bench script as a module (bench/ on the path for its `_common` import)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def result(acc_paper, acc_ours):
    def variant(acc):
        return {"train_seconds": 12.0, "iters": 10, "ranges": {"10..10": {"best_accuracy": acc, "best_steps": 16}}}

    return {"task": "graph", "variants": {"paper": variant(acc_paper), "loopthink": variant(acc_ours)}, "paper": {"10..10": 0.5, "12..12": 0.5}}


def test_table_compares_each_bucket_with_the_paper(tmp_path):
    pc = load()
    md = pc.markdown([result(0.52, 0.97)], "python bench/paper_comparison.py --tasks graph")
    assert "| 10..10 | 0.50 | 0.520 (T=16) | 0.970 (T=16) | yes |" in md
    assert "| 12..12 | 0.50 | — | — | — |" in md  # a bucket not measured is said so, not invented
    assert "**no**" in pc.markdown([result(0.52, 0.40)], "cmd")


def test_doc_results_section_is_replaced_in_place(tmp_path):
    pc = load()
    doc = tmp_path / "doc.md"
    doc.write_text(f"# head\nintro\n{pc.BEGIN}\nold\n{pc.END}\ntail\n")
    pc.write_doc(doc, "new table")
    text = doc.read_text()
    assert text.startswith("# head\nintro\n") and text.endswith("tail\n")
    assert "new table" in text and "old" not in text


def test_figure_plan_commands_parse_with_the_real_cli():
    from loopthink.cli import build_parser

    rf = load("reproduce_figures")
    parser = build_parser()
    root = BENCH.parent
    names = set()
    for name, cmd, _ in rf.steps("docs/figures"):
        names.add(name)
        if cmd[1:3] == ["-m", "loopthink.cli"]:
            args, extra = parser.parse_known_args(cmd[3:])
            assert all("=" in e for e in extra), (name, extra)  # only key=value overrides left over
            if args.command == "train":
                assert (root / args.config).exists(), args.config
    assert {"frontier", "compare", "dynamics", "halting"} <= names
