"""Argument types and helpers shared by the commands (argparse lives only in this package)."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from loopthink.tasks import DataError


def parse_range(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"1..8"`` -> (1, 8)."""
    try:
        lo, _, hi = text.partition("..")
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LO..HI, got {text!r}") from None
    if lo_i > hi_i:
        raise argparse.ArgumentTypeError(f"empty range {text!r}")
    return lo_i, hi_i


def parse_int_list(text: str) -> list[int]:
    """``"8,16,32"`` -> [8, 16, 32] (positive integers)."""
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def task_options(extra: list[str]) -> dict[str, Any]:
    """``--num-nodes 8,24 --distractor-density 2`` -> {"num_nodes": [8, 24], ...} (values as YAML)."""
    opts: dict[str, Any] = {}
    it = iter(extra)
    for tok in it:
        if not tok.startswith("--"):
            raise DataError(f"unexpected argument {tok!r}")
        key, _, val = tok[2:].partition("=")
        if not val:
            val = next(it, None)
            if val is None:
                raise DataError(f"option --{key} needs a value")
        parsed = yaml.safe_load(val)
        if isinstance(parsed, str) and "," in parsed:
            parsed = [yaml.safe_load(v) for v in parsed.split(",")]
        opts[key.replace("-", "_")] = parsed
    return opts


def absorb_extra(extra: list[str], args: argparse.Namespace) -> None:
    """Arguments argparse left over: ``key=value`` overrides written after the options join
    ``args.overrides`` (where the command has them); anything else is an error."""
    overrides = getattr(args, "overrides", None)
    if extra and isinstance(overrides, list) and all("=" in t and not t.startswith("-") for t in extra):
        overrides += extra
        return
    if extra:
        raise DataError(f"unexpected arguments: {' '.join(extra)}")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0..4"`` (inclusive) or a mix: ``"0..2,7"``; non-negative, no repeats."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("..")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2 or 0..4, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"repeated seed in {text!r}")
    return seeds
