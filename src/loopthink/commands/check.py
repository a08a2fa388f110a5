"""``loopthink check FILE``: validate a record file, listing every bad line."""

from __future__ import annotations

import argparse

from loopthink.tasks import files

HELP = "validate a record file, listing every bad line"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="record file: JSONL, .parquet, or a datasets save_to_disk directory")
    p.add_argument("--first", action="store_true", help="stop at the first bad line")


def run(args: argparse.Namespace) -> int:
    name, records = files.read_records(args.file, all_errors=not args.first)
    print(f"{args.file}: {len(records)} valid {name} instances")
    return 0
