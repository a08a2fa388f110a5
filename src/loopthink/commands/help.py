"""What ``--help`` shows: every option's default, an example per command, and ``config show``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel

EXAMPLES = {
    "data": "loopthink data graph --n 1000 --difficulty 1..8 --seed 1 --out graph_test.jsonl --num-nodes 10,30",
    "check": "loopthink check graph_test.jsonl",
    "train": "loopthink train configs/graph.yaml --out runs/graph train.iters=500 task.train_data=mine.jsonl",
    "eval": "loopthink eval runs/graph --data graph_test.jsonl --steps 8,16,32",
    "frontier": "loopthink frontier runs/graph --difficulty 1..16 --out runs/graph/frontier",
    "compare": "loopthink compare runs/graph runs/graph_transformer --out figures/compare",
    "diagnose": "loopthink diagnose runs/graph --out runs/graph/dynamics",
    "halt": "loopthink halt runs/graph --out runs/graph/halting",
    "sweep": "loopthink sweep configs/graph.yaml --seeds 0..2 --out runs/graph_seeds "
    "(Slurm: --launcher submitit --partition gpu --time 120 --gpus-per-job 1)",
    "report": "loopthink report runs/graph --out report.html",
    "config": "loopthink config show configs/graph.yaml train.iters=500",
    "validity": "loopthink validity runs/graph --families gnp,grid,paper --difficulty 1..24 --out runs/graph/validity",
    "watch": "loopthink watch runs/prefix_sums --data p64.jsonl --steps 128 --out runs/prefix_sums/watch",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults after each option's help (not when it is None/False or the help already names
    one); epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default in (None, False, argparse.SUPPRESS)
            or "default" in text
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return super()._get_help_string(action)


def describe(parser: argparse.ArgumentParser, name: str) -> None:
    """Give ``parser`` the defaults formatter and the example of command ``name``; options without
    a help text still show their default."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if action.help is None and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "default: %(default)s"
    example = EXAMPLES.get(name)
    if example:
        parser.epilog = "\n\n".join(filter(None, [parser.epilog, f"example:\n  {example}"]))


def config_lines(cfg: BaseModel, indent: int = 0) -> list[str]:
    """``cfg`` as YAML, one key per line with its Field description as a comment (flow values are
    JSON, which YAML reads back)."""
    lines = []
    pad = "  " * indent
    for key, info in type(cfg).model_fields.items():
        value = getattr(cfg, key)
        note = f"  # {info.description}" if info.description else ""
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{key}:{note}")
            lines += config_lines(value, indent + 1)
        else:
            lines.append(f"{pad}{key}: {json.dumps(_plain(value))}{note}")
    return lines


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
