"""What the report reads from a run directory: its training log, parameter count, and the
artefacts of ``frontier``, ``compare``, ``diagnose`` and ``halt``."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopthink.tasks import DataError

ARTEFACTS = {
    # kind: (json file, default subfolder, pictures in display order (others in the folder follow))
    "frontier": ("frontier.json", "frontier", ["frontier.png"]),
    "compare": ("compare.json", "compare", ["compare.png"]),
    "dynamics": (
        "dynamics.json",
        "dynamics",
        ["commitment.png", "convergence.png", "decision_step.png", "lens_accuracy.png", "monitor_roc.png"],
    ),
    "halting": ("halting.json", "halting", ["pareto.png", "steps_by_difficulty.png", "calibration.png"]),
    "watch": ("watch.json", "watch", ["watch.png"]),  # per-position tasks: one instance over the steps
}
MAX_TRAIN_TABLE_ROWS = 15
MAX_IMAGE_BYTES = 8 * 1024 * 1024


def read_metrics(run: Path) -> tuple[list[dict], list[dict], int]:
    """(training rows, validation rows, number of unreadable lines) of ``run/metrics.jsonl``."""
    path = run / "metrics.jsonl"
    train_rows: list[dict] = []
    val_rows: list[dict] = []
    bad = 0
    if not path.is_file():
        return train_rows, val_rows, bad
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1  # e.g. a line cut by a crash
                continue
            if not isinstance(row, dict) or "iter" not in row:
                bad += 1
            elif isinstance(row.get("val"), dict):
                val_rows.append(row)
            elif "loss" in row:
                train_rows.append(row)
    return train_rows, val_rows, bad


def parameter_count(run: Path) -> int | None:
    """Number of values in ``run/model.safetensors`` (read from its header; no weights loaded)."""
    path = run / "model.safetensors"
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for k, v in header.items():
        if k == "__metadata__" or not isinstance(v, dict):
            continue
        total += math.prod(v.get("shape", []))
    return total


def read_artefact(kind: str, folder: Path) -> tuple[dict | None, str | None]:
    """(data, None) or (None, why not) for the JSON of an artefact folder."""
    name = ARTEFACTS[kind][0]
    path = folder / name
    if not folder.exists():
        return None, f"{folder} does not exist"
    if not path.is_file():
        return None, f"{folder} has no {name}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"cannot read {path} ({e})"
    if not isinstance(data, dict):
        return None, f"{path} does not hold a JSON object"
    return data, None


def pictures(kind: str, folder: Path) -> list[tuple[str, bytes | None]]:
    """(file name, PNG bytes or None if unreadable) of the artefact's pictures, known ones first."""
    order = list(ARTEFACTS[kind][2])
    found = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    names = [n for n in order if n in found] + [n for n in found if n not in order]
    out = []
    for n in names:
        try:
            data = (folder / n).read_bytes()
            out.append((n, data if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) <= MAX_IMAGE_BYTES else None))
        except OSError:
            out.append((n, None))
    return out


class RunInfo:
    def __init__(self, path: Path, label: str, cfg: Any, dirs: dict[str, tuple[Path, bool]]) -> None:
        self.path = path
        self.label = label
        self.cfg = cfg
        self.dirs = dirs  # kind -> (folder, given explicitly)
        self.train_rows, self.val_rows, self.bad_lines = read_metrics(path)

    @property
    def iterations_done(self) -> int | float:
        """The last iteration the log holds a row of (0 for none)."""
        return max([row["iter"] for row in self.train_rows + self.val_rows if isinstance(row.get("iter"), (int, float))] or [0])


def unique_labels(paths: Sequence[Path]) -> list[str]:
    names = [p.name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    full = [str(p) for p in paths]
    if len(set(full)) == len(full):
        return full
    return [f"{n} ({i + 1})" for i, n in enumerate(full)]


def resolve_dirs(runs: Sequence[Path], given: dict[str, list[str] | None]) -> list[dict[str, tuple[Path, bool]]]:
    """Per run, kind -> (artefact folder, given explicitly). The i-th ``--frontier`` (etc.)
    belongs to the i-th run; runs without one use their own subfolder."""
    out: list[dict[str, tuple[Path, bool]]] = [{} for _ in runs]
    for kind in ("frontier", "dynamics", "halting", "watch"):
        dirs = given.get(kind) or []
        if len(dirs) > len(runs):
            raise DataError(
                f"--{kind} given {len(dirs)} times for {len(runs)} run(s); give it at most once per run, in the order of the runs"
            )
        for i, run in enumerate(runs):
            out[i][kind] = (Path(dirs[i]), True) if i < len(dirs) else (run / ARTEFACTS[kind][1], False)
    for i, run in enumerate(runs):
        out[i]["compare"] = (run / ARTEFACTS["compare"][1], False)
    return out
