"""``loopthink train CONFIG [key=value ...] --out RUN``: train a run from a YAML config."""

from __future__ import annotations

import argparse

from loopthink.config import load_config
from loopthink.tasks import get_task
from loopthink.training.loop import train
from loopthink.training.progress import accuracy_line

HELP = "train a run from a YAML config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.iters=500 model.d_model=128")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="cpu (default), cuda, cuda:1 ...")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + ([f"train.device={args.device}"] if args.device else [])
    cfg = load_config(args.config, overrides)
    result = train(cfg, args.out, resume=args.resume, progress=False if args.no_progress else None)
    name = get_task(cfg.task.name, **cfg.task.options).difficulty_name
    print(f"{accuracy_line(result['val'], result['val_steps'], name)}; run in {args.out}")
    return 0
