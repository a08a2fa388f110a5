"""JSONL input/output for task records (one JSON object per line; see ``docs/formats.md``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from loopthink.atomic import temp_beside
from loopthink.tasks import DataError, Task, task_class, task_names

# Bounds on a file's lines (docs/formats.md), checked before a line is decoded or parsed.
MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_INT_DIGITS = 20  # integers longer than this are rejected while parsing (10**19 fits)
MAX_REPORTED = 100  # bad lines listed in one error; the rest are counted


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    """Write records atomically (temp file + rename), so a crash never leaves half a file and a
    failed write (disk full, no permission) leaves no temp file behind."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; --out must name a .jsonl file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with temp_beside(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(", ", ": ")) + "\n")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise DataError(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS} are read)")
    return int(text)


def _no_constant(name: str) -> None:
    raise DataError(f"{name} is not a JSON value")


def _check_line(raw: bytes, checker: RecordChecker) -> dict:
    if len(raw) > MAX_LINE_BYTES:
        raise DataError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None
    try:
        rec = json.loads(line, parse_int=_parse_int, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise DataError("JSON nested too deep") from None
    return checker.check(rec)


class RecordChecker:
    """Checks the records of one file in turn, with one task instance per task name (not one per
    record): the shape and fields (:meth:`Task.validate`) and, with ``verify``, the label and
    difficulty against the instance (:meth:`Task.verify`). ``kind`` names what a row of the file
    format should be, for the error message."""

    def __init__(self, task: str | None, kind: str, verify: bool = True) -> None:
        self.task = task  # the file's task, once a record of it passed
        self.kind = kind
        self.verify = verify
        self._tasks: dict[str, Task] = {}

    def check(self, rec: Any) -> dict:
        if not isinstance(rec, dict):
            raise DataError(f"expected {self.kind}, got {type(rec).__name__}")
        name = rec.get("task")
        if not isinstance(name, str):
            raise DataError(f"missing key 'task' (one of {', '.join(task_names())})")
        if self.task is not None and name != self.task:
            raise DataError(f"task {name!r} differs from the file's task {self.task!r}; one task per file")
        if name not in self._tasks:
            self._tasks[name] = task_class(name)()
        self._tasks[name].validate(rec)
        if self.verify:
            self._tasks[name].verify(rec)
        self.task = self.task or name
        return rec


def _lines(f: BinaryIO) -> Iterator[bytes]:
    """The file's lines, each cut at ``MAX_LINE_BYTES + 1`` bytes (the rest of a long line skipped)."""
    while raw := f.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield raw


def read_jsonl(path: str | Path, task: str | None = None, all_errors: bool = False, verify: bool = True) -> tuple[str, list[dict]]:
    """Read and validate every line; return ``(task_name, records)``.

    Errors carry ``FILE:LINE``. With ``all_errors`` every bad line is reported in one
    :class:`DataError` instead of stopping at the first. Blank lines are skipped. With ``verify``
    each record's label and difficulty are also checked against its instance (:meth:`Task.verify`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records: list[dict] = []
    problems: list[str] = []
    checker = RecordChecker(task, "a JSON object", verify)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        for lineno, raw in enumerate(_lines(f), start=1):
            if not raw.strip():
                continue
            try:
                records.append(_check_line(raw, checker))
            except DataError as e:
                problems.append(f"{path}:{lineno}: {e}")
                if not all_errors:
                    break
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f" ({len(problems)} bad lines)" if len(problems) > 1 else ""
        raise DataError("\n".join(shown) + ("\n..." if len(problems) > len(shown) else "") + more)
    if not records:
        raise DataError(f"{path}: empty file (no JSON lines)")
    assert checker.task is not None
    return checker.task, records
