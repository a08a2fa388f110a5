"""``loopthink`` command line. Each subcommand is a thin layer over a library function."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from loopthink.argtypes import count, parse_int_list, parse_range, seed, step_count
from loopthink.checkpoint import RunError
from loopthink.cli_help import describe as describe_command
from loopthink.config import ConfigError
from loopthink.tasks import DataError, task_names
from loopthink.train import TrainingDiverged

Handler = Callable[[argparse.Namespace, list[str]], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, add_args, fn)
        return fn

    return register


def task_options(extra: list[str]) -> dict[str, Any]:
    """``--num-nodes 8,24 --distractor-density 2`` -> {"num_nodes": [8, 24], ...} (values as YAML)."""
    import yaml

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


# ---- data ------------------------------------------------------------------------------------
def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=task_names())
    p.add_argument("--n", type=count, required=True, help="number of instances")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--difficulty", type=parse_range, required=True, help="hops/depth range LO..HI")
    p.add_argument("--out", required=True, help="output file: .jsonl, or .parquet (needs pyarrow)")
    p.epilog = "Task options are passed as --name value (see docs/formats.md), e.g. --num-nodes 10,20"


@command("data", "generate task instances as JSONL", _data_args)
def cmd_data(args: argparse.Namespace, extra: list[str]) -> int:
    from loopthink.tasks import get_task
    from loopthink.tasks.files import write_records

    opts = task_options(extra)
    task = get_task(args.task, **opts)
    records = generate_chunked(task, args.n, args.seed, args.difficulty, opts)
    write_records(args.out, records)
    print(f"wrote {len(records)} {args.task} instances to {args.out}", file=sys.stderr)
    return 0


def generate_chunked(task: Any, n: int, seed: int, difficulty: tuple[int, int], opts: dict[str, Any]) -> list[dict]:
    """Generate in seeded chunks so a progress bar can show; chunk ``i`` uses seed ``(seed, i)``."""
    from tqdm import tqdm

    chunk = 10_000
    if n <= chunk:
        return task.generate(n, seed, difficulty, **opts)
    out: list[dict] = []
    with tqdm(total=n, disable=not sys.stderr.isatty(), desc=f"data {task.name}") as bar:
        for i, start in enumerate(range(0, n, chunk)):
            m = min(chunk, n - start)
            out += task.generate(m, seed * 1_000_003 + i, difficulty, **opts)
            bar.update(m)
    return out


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="record file: JSONL, .parquet, or a datasets save_to_disk directory")
    p.add_argument("--first", action="store_true", help="stop at the first bad line")


@command("check", "validate a record file, listing every bad line", _check_args)
def cmd_check(args: argparse.Namespace, extra: list[str]) -> int:
    from loopthink.tasks.files import read_records

    name, records = read_records(args.file, all_errors=not args.first)
    print(f"{args.file}: {len(records)} valid {name} instances")
    return 0


# ---- train -----------------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.iters=500 model.d_model=128")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="cpu (default), cuda, cuda:1 ...")
    p.add_argument("--no-progress", action="store_true")


@command("train", "train a run from a YAML config", _train_args)
def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from loopthink.config import load_config
    from loopthink.progress import accuracy_line
    from loopthink.tasks import get_task
    from loopthink.train import train

    _no_extra(extra, args)  # key=value overrides may also come after the options
    overrides = list(args.overrides) + ([f"train.device={args.device}"] if args.device else [])
    cfg = load_config(args.config, overrides)
    result = train(cfg, args.out, resume=args.resume, progress=False if args.no_progress else None)
    name = get_task(cfg.task.name, **cfg.task.options).difficulty_name
    print(f"{accuracy_line(result['val'], result['val_steps'], name)}; run in {args.out}")
    return 0


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show: print the resolved config, each key with its description")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, as for train")


@command("config", "print a config as a run would use it, with every key's description", _config_args)
def cmd_config(args: argparse.Namespace, extra: list[str]) -> int:
    from loopthink.cli_help import config_lines
    from loopthink.config import load_config

    _no_extra(extra, args)
    print("\n".join(config_lines(load_config(args.config, list(args.overrides)))))
    return 0


# ---- eval ------------------------------------------------------------------------------------
def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--data", required=True, help="JSONL file in the documented format")
    p.add_argument("--steps", type=parse_int_list, default=[8, 16, 32])
    p.add_argument("--batch-size", type=count, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--halt", metavar="RULE[:X]", help="also evaluate with per-example halting: kl[:threshold], convergence[:threshold], conformal[:alpha]")
    p.add_argument("--max-steps", type=step_count, default=64, help="with --halt: the most steps an example may use")


@command("eval", "accuracy of a run on a JSONL file per step count and difficulty", _eval_args)
def cmd_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from loopthink.checkpoint import load_run
    from loopthink.evaluate import evaluate_records, format_table
    from loopthink.seeds import format_sweep_table, is_sweep, single_point_runs, sweep_eval
    from loopthink.tasks.formats import read_jsonl

    if is_sweep(args.run):  # mean over seeds with a 95% interval, per-seed values alongside
        name, records = read_jsonl(args.data)
        result = sweep_eval(single_point_runs(args.run), records, name, args.steps, args.device, batch_size=args.batch_size, progress=sys.stderr.isatty())
        print(json.dumps(result) if args.json else format_sweep_table(result))
        return 0
    cfg, model, task = load_run(args.run, args.device)
    name, records = read_jsonl(args.data)
    if name != task.name:
        raise DataError(f"{args.data} holds {name} instances but {args.run} was trained on {task.name}")
    result = evaluate_records(model, task, records, args.steps, batch_size=args.batch_size, device=args.device, progress=sys.stderr.isatty())
    if args.halt:
        from loopthink.halting import halting_summary, rule_from_spec

        rule = rule_from_spec(args.halt, model, task, tuple(cfg.task.train_difficulty), cfg.task.options, args.max_steps, device=args.device)
        result["halting"] = halting_summary(model, task, records, rule, args.max_steps, device=args.device)
    print(json.dumps(result) if args.json else format_table(result, task.difficulty_name))
    return 0


# ---- commands that live beside their library module ------------------------------------------
# Each module defines ``add_arguments(parser)`` and ``run(args) -> int``.
MODULE_COMMANDS = {
    "frontier": ("loopthink.frontier", "accuracy over (steps x difficulty): table, CSV/JSON, heatmap"),
    "compare": ("loopthink.compare", "several runs' accuracy-vs-difficulty curves on one plot"),
    "diagnose": ("loopthink.dynamics", "latent dynamics: convergence, decision step, commitment, monitor"),
    "halt": ("loopthink.halting", "adaptive halting with calibrated exit rules"),
    "sweep": ("loopthink.sweep", "train one run per seed / grid point, several at once"),
    "report": ("loopthink.report", "self-contained HTML report of runs"),
}


def _module_command(module: str) -> tuple[Callable[[argparse.ArgumentParser], None], Handler] | None:
    import importlib
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return None
    mod = importlib.import_module(module)
    return mod.add_arguments, lambda args, extra: _no_extra(extra, args) or mod.run(args)


def _no_extra(extra: list[str], args: argparse.Namespace | None = None) -> None:
    overrides = getattr(args, "overrides", None)
    if extra and isinstance(overrides, list) and all("=" in t and not t.startswith("-") for t in extra):
        overrides += extra  # key=value overrides written after the options (argparse leaves them over)
        return
    if extra:
        raise DataError(f"unexpected arguments: {' '.join(extra)}")


# ---- entry -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loopthink", description="Depth-recurrent transformers: think deeper, not longer.")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = dict(COMMANDS)
    for name, (module, help) in MODULE_COMMANDS.items():
        found = _module_command(module)
        if found is not None:
            commands[name] = (help, *found)
    for name, (help, add_args, fn) in commands.items():
        p = sub.add_parser(name, help=help, description=help)
        add_args(p)
        describe_command(p, name)  # defaults in --help, an example in the epilog
        p.set_defaults(func=fn)
    return parser


# Commands that can run for minutes: a start and an end line on stderr, so a log shows what ran how long.
TIMED_COMMANDS = ("eval", "frontier", "compare", "diagnose", "halt", "sweep")


def main(argv: list[str] | None = None) -> int:
    from loopthink.progress import timed

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command in TIMED_COMMANDS:
            with timed(f"loopthink {args.command}"):
                return args.func(args, extra)
        return args.func(args, extra)
    except (DataError, ConfigError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # anything else (OSError, torch, numpy): one line; LOOPTHINK_DEBUG=1 shows the traceback
        if os.environ.get("LOOPTHINK_DEBUG") == "1":
            raise
        print(f"error: {describe(e)} (LOOPTHINK_DEBUG=1 shows where)", file=sys.stderr)
        return 1


def describe(e: BaseException) -> str:
    """One line for an unexpected exception: an OSError's file and reason, else its first line."""
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if isinstance(e, MemoryError):
        return "out of memory"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


if __name__ == "__main__":
    raise SystemExit(main())
