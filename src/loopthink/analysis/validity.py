"""External validity: a trained run's accuracy on test sets from generators loopthink did not write.

For every family of :func:`loopthink.tasks.external.external_families` (graph: networkx graphs
and the seed paper's construction; text and logic as their modules come), ``n_per_cell`` records
per difficulty are generated (seed ``seed`` and the family's name), every step count is read from
one rollout of the largest, and accuracy is reported per family x label x difficulty. The step
count of a (family, difficulty) cell is the one of ``steps`` with the best accuracy over all its
labels together (ties: the fewest steps), so both labels of a cell are read at the same T.

    loopthink validity RUN --difficulty 1..24 --n-per-cell 100 --steps 8,16,32,64 --out DIR

writes ``validity.json`` (every cell, with its accuracy at each step count), ``validity.csv`` and
``validity.png``/``.svg`` (one panel per family) to ``DIR`` and prints a table.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from loopthink.analysis.accuracy import labels_of, score_over_steps
from loopthink.tasks import Task


def family_seed(seed: int, family: str) -> int:
    """The test-set seed of one family: its own stream, the same on every call."""
    return seed * 1_000_003 + zlib.crc32(family.encode())


def bucket_of(task: Task, record: dict) -> int:
    return int(record["bucket"]) if record.get("bucket") is not None else int(task.difficulty_of(record))


def validity_cells(
    model: Any,
    task: Task,
    families: dict[str, Any],
    difficulty: tuple[int, int],
    n_per_cell: int,
    steps: list[int],
    seed: int = 0,
    batch_size: int = 256,
    device: str = "cpu",
    on_family: Callable[[str, int], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (family, label, difficulty) that has records: ``{family, label, difficulty, n,
    correct, steps, accuracy, by_steps}`` (``steps``: the cell's best step count, ``by_steps``:
    accuracy at every step count). ``on_family(name, n_records)`` is told each finished family."""
    lo, hi = difficulty
    rows = []
    for name, make in families.items():
        records = make(n_per_cell * (hi - lo + 1), family_seed(seed, name), (lo, hi))
        if not records:
            continue
        for rec in records:
            task.validate(rec)
        correct = score_over_steps(model, task, records, steps, batch_size=batch_size, device=device).correct
        # a task answered once splits each cell by its label; per position there is one "all" row
        labels = np.zeros(len(records), np.int64) if task.per_position else labels_of(task, records)
        buckets = np.array([bucket_of(task, r) for r in records])
        for d in sorted(set(buckets.tolist())):
            in_d = buckets == d
            best = int(np.argmax(correct[:, in_d].mean(1)))  # first maximum: the fewest steps
            for c in sorted(set(labels[in_d].tolist())):
                sel = in_d & (labels == c)
                rows.append(
                    {
                        "family": name,
                        "label": "all" if task.per_position else task.classes[c],
                        "difficulty": int(d),
                        "n": int(sel.sum()),
                        "correct": int(correct[best, sel].sum()),
                        "steps": steps[best],
                        "accuracy": float(correct[best, sel].mean()),
                        "by_steps": {str(s): float(correct[j, sel].mean()) for j, s in enumerate(steps)},
                    }
                )
        if on_family is not None:
            on_family(name, len(records))
    return rows


def summary_table(rows: list[dict[str, Any]], difficulty_name: str = "difficulty") -> str:
    """Rows: family x label; columns: difficulties; cells: accuracy at the cell's best steps."""
    diffs = sorted({r["difficulty"] for r in rows})
    head = f"{'family':>12} {'label':>12} " + " ".join(f"{d:>5}" for d in diffs)
    lines = [f"accuracy at the best of the given steps, per {difficulty_name} ('-': no instances)", head, "-" * len(head)]
    keys = list(dict.fromkeys((r["family"], r["label"]) for r in rows))
    for fam, lab in keys:
        acc = {r["difficulty"]: r["accuracy"] for r in rows if r["family"] == fam and r["label"] == lab}
        lines.append(f"{fam:>12} {lab:>12} " + " ".join(f"{acc[d]:>5.3f}"[:5].rjust(5) if d in acc else "    -" for d in diffs))
    return "\n".join(lines)


def write_outputs(rows: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    data = {**meta, "rows": rows}
    (out / "validity.json").write_text(json.dumps(data, indent=1))
    with open(out / "validity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["family", "label", "difficulty", "n", "correct", "steps", "accuracy"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return data
