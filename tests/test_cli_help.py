"""Discoverable CLI: defaults and an example in every command's --help; ``config show``."""

import yaml

from loopthink.cli import build_parser, main
from loopthink.commands.help import EXAMPLES
from loopthink.config import ModelConfig, TrainConfig, load_config
from tests.conftest import TINY


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
