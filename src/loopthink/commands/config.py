"""``loopthink config show CONFIG [key=value ...]``: the config as a run would use it, every key described."""

from __future__ import annotations

import argparse

from loopthink.commands.help import config_lines
from loopthink.config import load_config

HELP = "print a config as a run would use it, with every key's description"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show: print the resolved config, each key with its description")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, as for train")


def run(args: argparse.Namespace) -> int:
    print("\n".join(config_lines(load_config(args.config, list(args.overrides)))))
    return 0
