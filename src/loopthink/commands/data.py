"""``loopthink data TASK --n N --difficulty LO..HI --out FILE``: generate task instances as JSONL."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from loopthink.commands.argtypes import count, parse_range, seed
from loopthink.commands.arguments import task_options
from loopthink.tasks import Task, get_task, task_names
from loopthink.tasks.files import write_records

HELP = "generate task instances as JSONL"
TAKES_EXTRA = True  # task options: --num-nodes 10,20 ...
CHUNK = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=task_names())
    p.add_argument("--n", type=count, required=True, help="number of instances")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--difficulty", type=parse_range, required=True, help="hops/depth range LO..HI")
    p.add_argument("--out", required=True, help="output file: .jsonl, or .parquet (needs pyarrow)")
    p.epilog = "Task options are passed as --name value (see docs/formats.md), e.g. --num-nodes 10,20"


def run(args: argparse.Namespace) -> int:
    opts = task_options(args.extra)
    task = get_task(args.task, **opts)
    records = generate_chunked(task, args.n, args.seed, args.difficulty, opts)
    write_records(args.out, records)
    print(f"wrote {len(records)} {args.task} instances to {args.out}", file=sys.stderr)
    return 0


def generate_chunked(task: Task, n: int, seed: int, difficulty: tuple[int, int], opts: dict[str, Any]) -> list[dict]:
    """Generate in seeded chunks so a progress bar can show; chunk ``i`` uses seed ``(seed, i)``."""
    if n <= CHUNK:
        return task.generate(n, seed, difficulty, **opts)
    out: list[dict] = []
    with tqdm(total=n, disable=not sys.stderr.isatty(), desc=f"data {task.name}") as bar:
        for i, start in enumerate(range(0, n, CHUNK)):
            m = min(CHUNK, n - start)
            out += task.generate(m, seed * 1_000_003 + i, difficulty, **opts)
            bar.update(m)
    return out
