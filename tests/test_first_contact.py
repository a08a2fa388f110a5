"""The first things a new user runs: ``make demo`` and the README's quick tour, at tiny sizes.

The quick tour is read from README.md itself, so a command that rots there fails here."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

from loopthink import cli, demo

ROOT = Path(__file__).resolve().parents[1]

# A model and budget small enough to train in seconds; the commands' own flags stay as written.
TINY_TRAIN = [
    "train.iters=12",
    "train.eval_every=12",
    "train.checkpoint_every=6",
    "train.eval_n=8",
    "train.batch_size=16",
    "train.steps.min=2",
    "train.steps.max=3",
    "train.threads=1",
    "model.d_model=16",
    "model.n_heads=2",
    "model.d_ff=32",
]
# Appended to each quick-tour command: argparse keeps the last value of a repeated option.
TINY_FLAGS = {
    "data": ["--n", "24"],
    "train": ["--no-progress", *TINY_TRAIN],
    "eval": ["--steps", "2,4"],
    "frontier": ["--steps", "1,2", "--difficulty", "1..2", "--n-per-cell", "8"],
    "diagnose": ["--difficulty", "1..2", "--steps", "4", "--runs", "2", "--n", "16"],
    "halt": ["--max-steps", "4", "--n", "32", "--n-calib", "32", "--n-probe", "32"],
    "compare": ["--difficulty", "1..2", "--n", "8", "--candidates", "2,4"],
    "sweep": ["--seeds", "0,1", *TINY_TRAIN],
    "report": [],
}


def quick_tour_commands() -> list[list[str]]:
    """The ``loopthink ...`` lines of the README's "Quick tour" code block, comments stripped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Quick tour\n.*?^```\n(.*?)^```", text, re.S | re.M)
    assert block, "README.md has no '## Quick tour' section with a code block"
    lines = [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines()]
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith("loopthink ")]


def test_quick_tour_covers_every_command_it_uses():
    commands = quick_tour_commands()
    assert {c[0] for c in commands} <= set(TINY_FLAGS), "a new quick-tour command needs its tiny flags here"
    trained = {c[c.index("--out") + 1] for c in commands if c[0] in ("train", "sweep")}
    for c in commands:
        if c[0] == "compare":  # the tour trains whatever it later compares
            runs = [a for a in c[1 : c.index("--out")] if not a.startswith("-")]
            assert set(runs) <= trained, runs


def test_readme_quick_tour_runs_in_order(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    for argv in quick_tour_commands():
        full = argv + TINY_FLAGS[argv[0]]
        assert cli.main(full) == 0, f"loopthink {shlex.join(full)} failed"
    printed = capsys.readouterr()
    assert "validation accuracy at T=" in printed.out and "run in runs/graph" in printed.out
    for command in ("eval", "frontier", "diagnose", "halt", "compare", "sweep"):  # start and end lines with timing
        assert f"loopthink {command}: started" in printed.err
        assert re.search(rf"loopthink {command}: finished in (\d+ (h|min) )?[\d.]+ (s|min)", printed.err), command
    for path in (
        "data/graph_ood.jsonl",
        "runs/graph/model.safetensors",
        "runs/transformer/model.safetensors",
        "out/frontier/frontier.json",
        "out/compare",
        "out/halt/halting.json",
        "out/dynamics/dynamics.json",
        "runs/graph_seeds/sweep.json",
        "report.html",
    ):
        assert (tmp_path / path).exists(), path


def test_demo_trains_evaluates_and_prints_its_table(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--n", "16", *TINY_TRAIN, "eval.steps=[2,4]"]
    assert demo.main(argv) == 0
    printed = capsys.readouterr()
    table = printed.out.splitlines()
    assert any(ln.strip().startswith("hops range") and "T=    2" in ln for ln in table), printed.out
    for rng in ("1..8", "9..16", "17..32"):  # configs/graph.yaml's eval.difficulties, one row each
        row = next(ln for ln in table if ln.strip().startswith(rng))
        assert all(0.0 <= float(x) <= 1.0 for x in row.split()[1:]), row
    assert "trained in" in printed.err
    results = json.loads((out / "eval.json").read_text())
    assert set(results) == {"1..8", "9..16", "17..32"} and results["1..8"]["n"] == 16
    assert (out / "model.safetensors").exists() and (out / "metrics.jsonl").exists()
    assert demo.main(argv) == 0  # run again: reuses the finished run instead of training
    assert "reusing the trained run" in capsys.readouterr().err


def test_training_progress_without_a_terminal(tmp_path, capsys):
    """Off a terminal (nohup, Slurm, a pipe) train prints plain lines: iteration, loss, rate, ETA,
    and one labelled line per validation."""
    from loopthink.config import load_config
    from loopthink.training.loop import train

    cfg = load_config(ROOT / "configs" / "graph.yaml", TINY_TRAIN + ["train.eval_every=6"])
    train(cfg, tmp_path / "run")  # progress=None: shown; stderr is captured, so not a terminal
    err = capsys.readouterr().err.splitlines()
    assert any(re.match(r"train 12/12 +loss [\d.]+ +acc [\d.]+ +T \d +[\d.]+ it/s +ETA", ln) for ln in err), err
    vals = [ln for ln in err if "validation accuracy at T=3: hops 1 " in ln]
    assert len(vals) == 2 and vals[0].startswith("iter 6:"), err
