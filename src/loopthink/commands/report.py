"""``loopthink report RUN [RUN ...] --out report.html``: one self-contained HTML page of runs."""

from __future__ import annotations

import argparse

HELP = "self-contained HTML report of runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (made by `loopthink train`)")
    p.add_argument("--out", required=True, help="output HTML file")
    p.add_argument(
        "--frontier",
        action="append",
        metavar="DIR",
        help="output of `loopthink frontier` (default: RUN/frontier); once per run, in run order",
    )
    p.add_argument(
        "--compare", action="append", metavar="DIR", help="output of `loopthink compare` (default: RUN/compare); may be repeated"
    )
    p.add_argument(
        "--dynamics", action="append", metavar="DIR", help="output of `loopthink diagnose` (default: RUN/dynamics); once per run"
    )
    p.add_argument("--halting", action="append", metavar="DIR", help="output of `loopthink halt` (default: RUN/halting); once per run")


def run(args: argparse.Namespace) -> int:
    # matplotlib takes seconds to import, so only a command that draws loads it (not every start)
    from loopthink.report import write_report

    out, size, images = write_report(args.runs, args.out, args.frontier, args.compare, args.dynamics, args.halting)
    print(f"wrote {out} ({size / 1024:.0f} KiB, {images} picture(s), {len(args.runs)} run(s))")
    return 0
