"""JSONL input/output for task records (one JSON object per line; see ``docs/formats.md``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from loopthink.tasks import DataError, task_class


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    """Write records atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(", ", ": ")) + "\n")
    os.replace(tmp, path)


def _check_line(line: str, task: str | None) -> dict:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}")
    name = rec.get("task")
    if not isinstance(name, str):
        raise DataError("missing key 'task' (one of graph, logic, text)")
    if task is not None and name != task:
        raise DataError(f"task {name!r} differs from the file's task {task!r}; one task per file")
    task_class(name)().validate(rec)
    return rec


def read_jsonl(path: str | Path, task: str | None = None, all_errors: bool = False) -> tuple[str, list[dict]]:
    """Read and validate every line; return ``(task_name, records)``.

    Errors carry ``FILE:LINE``. With ``all_errors`` every bad line is reported in one
    :class:`DataError` instead of stopping at the first. Blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records: list[dict] = []
    problems: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = _check_line(line, task)
            except DataError as e:
                problems.append(f"{path}:{lineno}: {e}")
                if not all_errors:
                    break
                continue
            task = task or rec["task"]
            records.append(rec)
    if problems:
        more = f" ({len(problems)} bad lines)" if len(problems) > 1 else ""
        raise DataError("\n".join(problems) + more)
    if not records:
        raise DataError(f"{path}: empty file (no JSON lines)")
    assert task is not None
    return task, records
