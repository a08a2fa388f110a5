"""``loopthink eval RUN --data FILE``: accuracy of a run (or a sweep) per step count and difficulty."""

from __future__ import annotations

import argparse
import json

from loopthink.analysis.accuracy import EVAL_BUDGET, ensemble_renumbering, evaluate_records, format_table
from loopthink.analysis.halting import halting_summary, rule_from_spec
from loopthink.analysis.sweeps import format_sweep_table, pool_eval, sweep_eval
from loopthink.commands.argtypes import count, parse_int_list, step_count
from loopthink.sweeps.dirs import is_sweep, single_point_runs
from loopthink.tasks.files import read_records, read_run_records
from loopthink.training.rundir import RunError, load_run

HELP = "accuracy of a run on a record file per step count and difficulty (and per --by key)"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--data", required=True, help="record file: JSONL (docs/formats.md), .parquet, or a datasets save_to_disk folder")
    p.add_argument("--by", metavar="KEY", help="also report accuracy per value of this record key (family, source, ...)")
    p.add_argument("--steps", type=parse_int_list, default=[8, 16, 32])
    p.add_argument("--batch-size", type=count, default=256)
    p.add_argument(
        "--budget",
        type=count,
        default=EVAL_BUDGET,
        help="tokens plus attention edges per evaluation batch, padded: bounds memory whatever the file holds",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--ensemble",
        type=count,
        default=1,
        metavar="K",
        help="read every question K times, each with its own random draws (text: its entity-slot numbering; a random "
        "initial state; a maze: its turn of the grid, up to 8), and answer with the mean probability: K times the compute "
        "(default 1: one plain reading)",
    )
    p.add_argument(
        "--pool",
        action="store_true",
        help="with a sweep: answer with the mean probability of its seeds' runs, one pooled model (len(seeds) times the "
        "compute), instead of each seed's accuracy and their mean",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--halt",
        metavar="RULE[:X]",
        help="also evaluate with per-example halting: kl[:threshold], convergence[:threshold], conformal[:alpha]",
    )
    p.add_argument("--max-steps", type=step_count, default=64, help="with --halt: the most steps an example may use")


def run(args: argparse.Namespace) -> int:
    progress = True  # a bar on a terminal, else a line every 30 s of a long evaluation
    if args.pool and not is_sweep(args.run):
        raise RunError(f"{args.run}: --pool needs a sweep directory (loopthink sweep), not a single run")
    if args.pool and args.halt:
        raise RunError("--pool and --halt do not combine: halting reads one model's states")
    if is_sweep(args.run):
        name, records = read_records(args.data)
        runs = single_point_runs(args.run)
        kw = dict(batch_size=args.batch_size, progress=progress, ensemble=args.ensemble, by=args.by, budget=args.budget)
        if args.pool:  # one pooled model
            result = pool_eval(runs, records, name, args.steps, args.device, **kw)
            table = f"one pool of seeds {', '.join(map(str, result['seeds']))}\n" + format_table(result, result["difficulty_name"])
        else:  # mean over seeds with a 95% interval, per-seed values alongside
            result = sweep_eval(runs, records, name, args.steps, args.device, **kw)
            table = format_sweep_table(result)
        print(json.dumps(result) if args.json else table)
        return 0
    cfg, model, task = load_run(args.run, args.device)
    records = read_run_records(args.data, task.name, args.run)
    try:
        ensemble_renumbering(model, args.ensemble, task)
    except ValueError as e:
        raise RunError(f"{args.run}: --ensemble {args.ensemble}: {e}") from None
    result = evaluate_records(
        model,
        task,
        records,
        args.steps,
        args.by,
        batch_size=args.batch_size,
        budget=args.budget,
        device=args.device,
        progress=progress,
        ensemble=args.ensemble,
    )
    if args.halt:
        difficulty = tuple(cfg.task.train_difficulty)
        rule = rule_from_spec(args.halt, model, task, difficulty, cfg.task.options, args.max_steps, device=args.device)
        result["halting"] = halting_summary(model, task, records, rule, args.max_steps, device=args.device)
    print(json.dumps(result) if args.json else format_table(result, task.difficulty_name))
    return 0
