"""Scripts and benchmarks: paper_comparison's table and doc writer, reproduce_figures' plan, the
shared helpers' logged times (none of these train), and bench_step's timing of a tiny step."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCRIPTS = ROOT / "scripts"


def load(name: str = "paper_comparison", folder: Path = SCRIPTS):
    """A script of scripts/ or bench/ as a module (bench/ on the path for its `_common` import)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def result(acc_paper, acc_ours):
    def variant(acc):
        return {"train_seconds": 12.0, "iters": 10, "ranges": {"10..10": {"best_accuracy": acc, "best_steps": 16}}}

    return {
        "task": "graph",
        "variants": {"paper": variant(acc_paper), "loopthink": variant(acc_ours)},
        "paper": {"10..10": 0.5, "12..12": 0.5},
    }


def test_table_compares_each_bucket_with_the_paper(tmp_path):
    pc = load()
    md = pc.markdown(result(0.52, 0.97), "python scripts/paper_comparison.py --tasks graph")
    assert "| 10..10 | 0.50 | 0.520 (T=16) | 0.970 (T=16) | yes |" in md
    assert "| 12..12 | 0.50 | — | — | — |" in md  # a bucket not measured is said so, not invented
    assert "**no**" in pc.markdown(result(0.52, 0.40), "cmd")
    one = result(0.52, 0.97)
    del one["variants"]["paper"]  # --variants loopthink: the other column is empty, not invented
    assert "| 10..10 | 0.50 | — | 0.970 (T=16) | yes |" in pc.markdown(one, "cmd")


def test_doc_results_section_is_replaced_in_place(tmp_path):
    """Each task's section is replaced in place; other tasks' sections stay; a new task's is appended."""
    pc = load()
    doc = tmp_path / "doc.md"
    graph = "<!-- results:graph:begin -->\nold graph\n<!-- results:graph:end -->"
    logic = "<!-- results:logic:begin -->\nold logic\n<!-- results:logic:end -->"
    doc.write_text(f"# head\nintro\n{graph}\nmiddle\n{logic}\ntail\n")
    pc.write_doc(doc, "logic", "new logic")
    pc.write_doc(doc, "text", "new text")
    text = doc.read_text()
    assert text.startswith(f"# head\nintro\n{graph}\nmiddle\n") and "tail\n\n<!-- results:text:begin -->" in text
    assert "new logic" in text and "old logic" not in text and "new text" in text


def test_figure_plan_commands_parse_with_the_real_cli():
    from loopthink.cli import build_parser

    rf = load("reproduce_figures")
    parser = build_parser()
    root = ROOT
    names = set()
    for name, cmd, _ in rf.steps("docs/figures"):
        names.add(name)
        if cmd[1:3] == ["-m", "loopthink.cli"]:
            args, extra = parser.parse_known_args(cmd[3:])
            assert all("=" in e for e in extra), (name, extra)  # only key=value overrides left over
            if args.command == "train":
                assert (root / args.config).exists(), args.config
    assert {"frontier", "compare", "dynamics", "halting", "frontier_logic_tree", "validity_logic_tree"} <= names
    trained = [cmd for name, cmd, _ in rf.steps("docs/figures") if cmd[1:2] == ["bench/train_targets.py"]]
    assert trained and all((root / cmd[1]).exists() for cmd in trained)
    tt = load("train_targets", BENCH)
    assert all(tt.config_path(cmd[cmd.index("--tasks") + 1]).exists() for cmd in trained)  # configs/ or configs/variants/


def test_scripts_and_benchmarks_are_where_make_bench_and_the_docs_say():
    """bench/ holds what `make bench` runs (and its helpers); no GPU script installs into /tmp."""
    run_all = load("run_all", BENCH)
    run = {script for _, script, _ in run_all.BENCHES}
    assert all((BENCH / s).exists() for s in run)
    assert {p.name for p in BENCH.glob("*.py")} - run == {"_common.py", "run_all.py"}
    for sh in SCRIPTS.glob("*.sh"):
        assert "/tmp" not in sh.read_text() and "pkill" not in sh.read_text(), sh


def test_logged_time_sums_resumed_segments(tmp_path):
    """A resumed run logs time from 0 again: the training time is the sum of each segment's last."""
    pc = load("_common", BENCH)
    rows = [
        {"iter": 10, "time": 5.0},
        {"iter": 20, "time": 9.0},
        {"iter": 20, "val": {}},
        {"iter": 30, "time": 2.0},
        {"iter": 40, "time": 4.5},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert pc.logged_train_seconds(tmp_path) == 13.5
    assert pc.iterations_done(tmp_path, planned=50) == 50  # no checkpoint: the plan
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "trainer.json").write_text(json.dumps({"iter": 40}))
    assert pc.iterations_done(tmp_path, planned=50) == 40  # stopped early: what it holds


def test_bench_step_times_the_configured_step_on_made_and_live_batches(monkeypatch, capsys):
    mod = load("bench_step", BENCH)
    tiny = ["model.d_model=16", "model.n_heads=2", "model.d_ff=32", "train.batch_size=4", "train.threads=1"]
    for live in ([], ["--live"]):
        argv = ["bench_step.py", str(ROOT / "configs" / "text.yaml"), *tiny, "--from", "0", "--iters", "2", "--repeats", "2", *live]
        monkeypatch.setattr(sys, "argv", argv)
        mod.main()
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert row["live"] == bool(live) and row["threads"] == 1
        assert len(row["seconds_per_step"]) == 2 and all(s > 0 for s in row["seconds_per_step"])
