"""Record files in any of three formats, read into the records of ``docs/formats.md``.

* ``*.jsonl`` (or any other name): one JSON object per line, read by :func:`formats.read_jsonl`;
* ``*.parquet``: one row per record, one column per key (needs ``pyarrow``: ``pip install loopthink[data]``);
* a directory written by Hugging Face ``datasets``' ``Dataset.save_to_disk``: its Arrow files are
  read with ``pyarrow`` alone (``datasets`` itself is not needed, and nothing is downloaded).

Every record is validated as it is read; errors name ``FILE:LINE`` (JSONL) or ``FILE:ROW`` (the
1-based row of a Parquet file or saved dataset).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loopthink.tasks import DataError
from loopthink.tasks.formats import RecordChecker, read_jsonl, write_jsonl


def file_format(path: str | Path) -> str:
    """``"jsonl"``, ``"parquet"`` or ``"dataset"`` (a ``save_to_disk`` directory)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "state.json").is_file():
            raise DataError(f"{path}: a directory, but not a Hugging Face dataset saved with save_to_disk (no state.json)")
        return "dataset"
    return "parquet" if path.suffix == ".parquet" else "jsonl"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (the submodule is not imported by ``import pyarrow``)
    except ImportError:
        raise DataError("reading or writing Parquet/Arrow needs pyarrow: pip install 'loopthink[data]'") from None
    return pyarrow


def _rows(path: Path, kind: str) -> list[dict]:
    pa = _pyarrow()
    try:
        if kind == "parquet":
            return pa.parquet.read_table(path).to_pylist()
        state = json.loads((path / "state.json").read_text())
        rows: list[dict] = []
        for part in state.get("_data_files", []):
            with pa.memory_map(str(path / part["filename"])) as source:
                rows += pa.ipc.open_stream(source).read_all().to_pylist()
        return rows
    except (OSError, pa.ArrowException, KeyError, ValueError) as e:
        raise DataError(f"{path}: unreadable {kind} ({e})") from None


def read_records(path: str | Path, task: str | None = None, all_errors: bool = False) -> tuple[str, list[dict]]:
    """Read and validate a record file of any format; ``(task_name, records)`` as :func:`read_jsonl`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    kind = file_format(path)
    if kind == "jsonl":
        return read_jsonl(path, task, all_errors)
    problems: list[str] = []
    records = _rows(path, kind)
    checker = RecordChecker(task, "a record (mapping)")  # label and difficulty verified, as read_jsonl does
    for row, rec in enumerate(records, start=1):
        try:
            checker.check(rec)
        except DataError as e:
            problems.append(f"{path}:{row}: {e}")
            if not all_errors:
                break
    if problems:
        more = f" ({len(problems)} bad rows)" if len(problems) > 1 else ""
        raise DataError("\n".join(problems) + more)
    if not records:
        raise DataError(f"{path}: empty {kind} (no rows)")
    assert checker.task is not None
    return checker.task, records


def read_run_records(path: str | Path, task_name: str, run: str | Path, minimum: int = 1) -> list[dict]:
    """The records of a file of any format for a run trained on ``task_name``: DataError if the file
    holds another task's instances or fewer than ``minimum``. What every command that reads a
    user's data (eval, halt, diagnose) calls, so all of them read what ``loopthink data`` writes."""
    name, records = read_records(path)
    if records and name != task_name:
        raise DataError(f"{path} holds {name} instances but {run} was trained on {task_name}")
    if len(records) < minimum:
        raise DataError(f"{path}: {len(records)} instances; need at least {minimum}")
    return records


def write_records(path: str | Path, records: list[dict]) -> None:
    """Write Parquet for ``*.parquet``, else JSONL; atomically (temp file + rename).

    Parquet has one column per key of any record; a record without a key holds null there."""
    path = Path(path)
    if path.suffix != ".parquet":
        return write_jsonl(path, records)
    pa = _pyarrow()
    keys = list(dict.fromkeys(k for rec in records for k in rec))
    table = pa.table({k: [rec.get(k) for rec in records] for k in keys})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pa.parquet.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
