"""``loopthink`` entry point: the parser built from :mod:`loopthink.commands`, errors as exit codes."""

from __future__ import annotations

import argparse
import os
import sys

from loopthink.commands import COMMANDS
from loopthink.commands.arguments import absorb_extra
from loopthink.commands.help import describe as describe_command
from loopthink.config import ConfigError
from loopthink.tasks import DataError
from loopthink.training.loop import TrainingDiverged
from loopthink.training.progress import timed
from loopthink.training.rundir import RunError

# 128 + SIGPIPE: what a shell reports for any tool whose reader went away (`yes | head -1`), so
# `set -o pipefail` scripts see loopthink as they see cat; and a broken pipe that was not stdout's
# still reads as a failure.
EXIT_CLOSED_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loopthink", description="Depth-recurrent transformers: think deeper, not longer.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        describe_command(p, name)  # defaults in --help, an example in the epilog
        p.set_defaults(module=module)
    return parser


def run_command(args: argparse.Namespace, extra: list[str]) -> int:
    module = args.module
    if getattr(module, "TAKES_EXTRA", False):
        args.extra = extra
    else:
        absorb_extra(extra, args)  # key=value overrides may also come after the options
    if getattr(module, "TIMED", False):
        with timed(f"loopthink {args.command}"):
            return module.run(args)
    return module.run(args)


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    try:
        code = run_command(args, extra)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return stdout_closed()
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


def stdout_closed() -> int:
    """The reader of stdout went away (``loopthink config show ... | head -1``): stop quietly.
    Python flushes stdout once more at exit, so point it at /dev/null first."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (captured, in tests)
        pass
    return EXIT_CLOSED_PIPE


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
