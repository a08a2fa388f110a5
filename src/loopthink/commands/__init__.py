"""The command line's commands, one module each, and the only code that parses arguments.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
``TIMED = True`` commands print a start and an end line on stderr (they can run for minutes);
``TAKES_EXTRA = True`` ones get the options argparse did not know as ``args.extra``.
"""

from __future__ import annotations

from types import ModuleType

from loopthink.commands import check, compare, config, data, diagnose, evaluate, frontier, halt, report, sweep, train, validity, watch

COMMANDS: dict[str, ModuleType] = {
    "data": data,
    "check": check,
    "train": train,
    "eval": evaluate,
    "frontier": frontier,
    "compare": compare,
    "diagnose": diagnose,
    "halt": halt,
    "sweep": sweep,
    "report": report,
    "validity": validity,
    "watch": watch,
    "config": config,
}
