"""Mazes: which cells lie on the shortest path from S to G, one answer per cell.

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "maze", "rows": ["#####", "#S.G#", "#####"], "path": [[1, 1], [1, 2], [1, 3]]}

``rows`` is the grid, one string per row, all of one width: ``#`` wall, ``.`` open, ``S`` start,
``G`` goal (one of each). Moves go between the four neighbours of a cell, through non-wall cells.
``path`` lists the cells ``[row, col]`` of the shortest S-to-G path, S and G included; the maze
must have exactly one shortest path (any shape, perfect or not, square or not). Difficulty =
``len(rows)`` (the side of a square maze). ``classes = ("off", "on")``: every cell, walls
included, is labelled on the path or off it.

Generated mazes are the perfect mazes of Deep Thinking (Schwarzschild et al. 2021; Bansal et al.
2022): odd sides only, rooms at odd coordinates, a spanning tree carved by randomized depth-first
search (:mod:`loopthink.tasks.maze_gen`). A difficulty range's even sides are skipped.

Encoded inputs (``Batch.inputs``), ``grid`` interface, vocabulary :data:`MAZE_VOCAB`:

* ``tokens``: long ``(B, L)``, the cells in row-major order (``#``, ``.``, ``S``, ``G``), ``<pad>`` (0) after;
* ``mask``: bool ``(B, L)``, True on the ``rows x cols`` real cells;
* ``row``, ``col``: long ``(B, L)``, each cell's coordinates (0 on padding); the interface uses them
  to find a cell's four neighbours, never as features.

``Batch.labels`` is long ``(B, L)``: 1 on the path, 0 off it, :data:`IGNORE` on padding. With the
same seed ``encode(generate(n, seed, d))`` equals ``sample_batch(n, np.random.default_rng(seed), d)``.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, ClassVar

import numpy as np
import torch

from loopthink.tasks.base import IGNORE, Batch, DataError, Task, mismatch, required
from loopthink.tasks.maze_gen import MIN_SIDE, backtracker_maze, odd_sides

MAZE_VOCAB = ("<pad>", "#", ".", "S", "G")
_TOKEN_ID = {ch: i for i, ch in enumerate(MAZE_VOCAB)}
MAX_SIDE = 255  # rows and columns: 65,025 cells, a BFS of well under a second when read


class MazeTask(Task):
    name: ClassVar[str] = "maze"
    classes: ClassVar[tuple[str, ...]] = ("off", "on")
    difficulty_name: ClassVar[str] = "side"
    interface: ClassVar[str] = "grid"
    per_position: ClassVar[bool] = True
    symmetric: ClassVar[bool] = True
    vocab: ClassVar[tuple[str, ...]] = MAZE_VOCAB

    def generate(self, n: int, seed: int, difficulty: tuple[int, int] = (5, 13)) -> list[dict]:  # type: ignore[override]
        """``n`` perfect mazes, the side uniform over the odd sides in ``difficulty`` (at least 5)."""
        return _sample(n, np.random.default_rng(seed), difficulty)

    def difficulty_levels(self, lo: int, hi: int) -> list[int]:
        """The odd sides in ``lo..hi`` (a perfect maze's rooms sit at odd coordinates), at least 5."""
        return [s for s in range(max(lo, MIN_SIDE), hi + 1) if s % 2 == 1]

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        return _batch(_sample(n, rng, difficulty))  # generated mazes are valid: no BFS per maze

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        return _batch(records)

    def validate(self, record: dict) -> None:
        """The grid's shape and characters, the path's cells and steps, and that S has a unique
        shortest path to G which ``path`` is as long as."""
        if record.get("task", "maze") != "maze":
            raise DataError(f"'task' must be 'maze', got {record.get('task')!r}")
        rows = _check_rows(required(record, "rows"))
        start, goal = _find(rows, "S"), _find(rows, "G")
        dist, ways, _ = breadth_first(rows, start)
        if goal not in dist:
            raise DataError("the maze has no path from S to G")
        if ways[goal] > 1:
            raise DataError(f"the maze has more than one shortest S-G path ({dist[goal] + 1} cells); the answer must be unique")
        path = _check_path(required(record, "path"), rows)
        if path[0] != start:
            raise DataError(f"'path' must start at S {list(start)}, starts at {list(path[0])}")
        if path[-1] != goal:
            raise DataError(f"'path' must end at G {list(goal)}, ends at {list(path[-1])}")
        if len(path) != dist[goal] + 1:
            raise DataError(f"'path' has {len(path)} cells but the shortest S-G path has {dist[goal] + 1}")

    def verify(self, record: dict) -> None:
        """``path`` against the path a breadth-first search from S walks back from G."""
        rows = record["rows"]
        _, _, parent = breadth_first(rows, _find(rows, "S"))
        cell: tuple[int, int] | None = _find(rows, "G")
        walked = []
        while cell is not None:
            walked.append(list(cell))
            cell = parent.get(cell)
        walked.reverse()
        stated = [list(c) for c in record["path"]]
        for i, (a, b) in enumerate(zip(stated, walked)):
            if a != b:
                raise mismatch(f"path[{i}]", a, b, "a breadth-first search from S")
        if len(stated) != len(walked):
            raise mismatch("len(path)", len(stated), len(walked), "a breadth-first search from S")

    def size_of(self, record: dict) -> int:
        return 5 * len(record["rows"]) * len(record["rows"][0])  # a token and four neighbour edges per cell

    def difficulty_of(self, record: dict) -> int:
        return len(record["rows"])


def breadth_first(rows: list[str], start: tuple[int, int]) -> tuple[dict, dict, dict]:
    """Distance from ``start`` to each open cell it reaches, the number of shortest paths there
    (capped at 2: one or several is all that matters) and one BFS parent per cell (``start``: None)."""
    height, width = len(rows), len(rows[0])
    dist = {start: 0}
    ways = {start: 1}
    parent: dict[tuple[int, int], Any] = {start: None}
    queue = deque([start])
    while queue:
        r, c = cell = queue.popleft()
        for nxt in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not (0 <= nxt[0] < height and 0 <= nxt[1] < width) or rows[nxt[0]][nxt[1]] == "#":
                continue
            if nxt not in dist:
                dist[nxt], ways[nxt], parent[nxt] = dist[cell] + 1, ways[cell], cell
                queue.append(nxt)
            elif dist[nxt] == dist[cell] + 1:
                ways[nxt] = min(2, ways[nxt] + ways[cell])
    return dist, ways, parent


def _sample(n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> list[dict]:
    sides = odd_sides(difficulty, MAX_SIDE)
    picks = rng.integers(0, len(sides), size=n)
    seeds = rng.integers(0, 2**62, size=n)
    # one Python RNG per maze, seeded from NumPy's: the backtracker draws a number per step
    return [backtracker_maze(sides[p], random.Random(int(s))) for p, s in zip(picks, seeds)]


def _batch(records: list[dict]) -> Batch:
    sizes = [len(rec["rows"]) * len(rec["rows"][0]) for rec in records]
    shape = (len(records), max(sizes))
    tokens, row, col = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    labels = np.full(shape, IGNORE, dtype=np.int64)
    for i, rec in enumerate(records):
        rows, size = rec["rows"], sizes[i]
        width = len(rows[0])
        chars = np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8)
        tokens[i, :size] = _CHAR_TO_ID[chars]
        row[i, :size], col[i, :size] = np.divmod(np.arange(size), width)
        labels[i, :size] = 0
        path = np.asarray(rec["path"], dtype=np.int64)
        labels[i, path[:, 0] * width + path[:, 1]] = 1
    inputs = {
        "tokens": torch.from_numpy(tokens),
        "mask": torch.from_numpy(tokens > 0),
        "row": torch.from_numpy(row),
        "col": torch.from_numpy(col),
    }
    return Batch(inputs, torch.from_numpy(labels), torch.tensor([len(rec["rows"]) for rec in records], dtype=torch.long))


_CHAR_TO_ID = np.zeros(256, dtype=np.int64)
for _ch, _id in _TOKEN_ID.items():
    if len(_ch) == 1:
        _CHAR_TO_ID[ord(_ch)] = _id


# ---- validation helpers -------------------------------------------------------------------------


def _check_rows(rows: Any) -> list[str]:
    if not isinstance(rows, list) or not rows:
        raise DataError(f"'rows' must be a non-empty list of strings, got {type(rows).__name__}")
    if len(rows) > MAX_SIDE:
        raise DataError(f"'rows' has {len(rows)} rows; at most {MAX_SIDE} are read")
    for r, text in enumerate(rows):
        if not isinstance(text, str):
            raise DataError(f"'rows' row {r} must be a string, got {type(text).__name__}")
        if len(text) > MAX_SIDE:
            raise DataError(f"'rows' row {r} has {len(text)} characters; at most {MAX_SIDE} are read")
        if len(text) != len(rows[0]):
            raise DataError(f"'rows' is ragged: row {r} has {len(text)} characters, row 0 has {len(rows[0])}")
        bad = next((ch for ch in text if ch not in "#.SG"), None)
        if bad is not None:
            raise DataError(f"'rows' row {r} has {bad!r} at column {text.index(bad)}; only # . S G are allowed")
    if not rows[0]:
        raise DataError("'rows' are empty strings; a maze needs cells")
    for mark, name in (("S", "start"), ("G", "goal")):
        count = sum(text.count(mark) for text in rows)
        if count != 1:
            raise DataError(f"'rows' must hold one {mark} ({name}), found {count}")
    return rows


def _find(rows: list[str], mark: str) -> tuple[int, int]:
    return next((r, text.index(mark)) for r, text in enumerate(rows) if mark in text)


def _check_path(path: Any, rows: list[str]) -> list[tuple[int, int]]:
    """``path`` as cells, each ``[row, col]`` in range and not a wall, each step to a neighbour."""
    height, width = len(rows), len(rows[0])
    if not isinstance(path, list) or not path:
        raise DataError(f"'path' must be a non-empty list of [row, col] cells, got {type(path).__name__}")
    if len(path) > height * width:
        raise DataError(f"'path' has {len(path)} cells; the maze has only {height * width}")
    cells = []
    for i, cell in enumerate(path):
        if not isinstance(cell, list) or len(cell) != 2 or any(type(x) is not int for x in cell):
            raise DataError(f"'path' cell {i} must be a pair of integers [row, col], got {cell!r}"[:200])
        r, c = cell
        if not (0 <= r < height and 0 <= c < width):
            raise DataError(f"'path' cell {i} {cell} is outside the {height} x {width} maze")
        if rows[r][c] == "#":
            raise DataError(f"'path' cell {i} {cell} is a wall")
        if cells and abs(r - cells[-1][0]) + abs(c - cells[-1][1]) != 1:
            raise DataError(f"'path' is not connected: cell {i} {cell} is no neighbour of cell {i - 1} {list(cells[-1])}")
        cells.append((r, c))
    return cells
