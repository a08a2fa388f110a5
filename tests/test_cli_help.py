"""Discoverable CLI: defaults and an example in every command's --help; ``config show``; a closed
stdout pipe."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from loopthink.cli import EXIT_CLOSED_PIPE, build_parser, main
from loopthink.commands.help import EXAMPLES
from loopthink.config import ModelConfig, TrainConfig, load_config
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def _subparsers():
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_every_command_shows_its_defaults_and_an_example():
    commands = _subparsers()
    assert set(commands) <= set(EXAMPLES) and "config" in commands
    for name, p in commands.items():
        text = p.format_help()
        assert f"example:\n  {EXAMPLES[name]}" in text, name
    flat = " ".join(commands["eval"].format_help().split())  # argparse wraps lines
    assert "--batch-size BATCH_SIZE default: 256" in flat and "(default: 64)" in flat
    assert "(default: 1234)" in " ".join(commands["frontier"].format_help().split())


def test_config_show_prints_the_resolved_config_with_descriptions(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["config", "show", str(tmp_path / "c.yaml"), "train.iters=7", "model.gate=false"]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text) == load_config(tmp_path / "c.yaml", ["train.iters=7", "model.gate=false"]).model_dump(mode="json")
    gate, iters = ModelConfig.model_fields["gate"].description, TrainConfig.model_fields["iters"].description
    assert f"  gate: false  # {gate}\n" in text and f"  iters: 7  # {iters}\n" in text
    assert main(["config", "show", str(tmp_path / "c.yaml"), "train.nope=1"]) == 2
    assert "train.nope: unknown key" in capsys.readouterr().err


def test_a_closed_stdout_pipe_ends_the_command_quietly():
    """``loopthink config show ... | head -1``: once the reader is gone, no ``error: Broken pipe``
    and no traceback at exit, just the status a shell gives any tool stopped by a closed pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a line
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "loopthink.cli", "config", "show", str(ROOT / "configs" / "graph.yaml")],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode == EXIT_CLOSED_PIPE == 141
