"""Perfect mazes by the recursive backtracker, as Deep Thinking draws them.

Schwarzschild et al. 2021 ("Can You Learn an Algorithm? Generalizing from Easy to Hard Problems
with Recurrent Networks") and Bansal et al. 2022 ("End-to-end Algorithm Synthesis with Recurrent
Networks") train on mazes of this kind: an odd side ``n``, rooms at the odd coordinates
``(2i + 1, 2j + 1)``, walls everywhere else, and a spanning tree of the ``k x k`` room lattice
(``k = (n - 1) / 2``) carved by randomized depth-first search. A spanning tree joins every pair of
rooms by exactly one path, so the shortest start-goal path is unique.

The path is read off the tree (up from each end to their lowest common ancestor), not searched
for: :mod:`loopthink.tasks.maze` checks it with a breadth-first search of its own.
"""

from __future__ import annotations

import random

Cell = tuple[int, int]
MIN_SIDE = 5  # side 3 has a single room, and start and goal must be two rooms


def odd_sides(difficulty: tuple[int, int], max_side: int) -> list[int]:
    """The odd sides ``>= MIN_SIDE`` in ``difficulty``; a ValueError when there are none."""
    lo, hi = (int(x) for x in difficulty)
    if not 0 <= lo <= hi <= max_side:
        raise ValueError(f"maze difficulty (side) must satisfy 0 <= lo <= hi <= {max_side}, got {tuple(difficulty)}")
    sides = [s for s in range(max(lo, MIN_SIDE), hi + 1) if s % 2 == 1]
    if not sides:
        raise ValueError(f"maze difficulty (side) {lo}..{hi} holds no odd side of at least {MIN_SIDE}; mazes have odd sides")
    return sides


def _pick(rng: random.Random, k: int) -> int:
    """Uniform in ``0..k-1`` from ``random()`` alone, which repeats across Python versions."""
    return int(rng.random() * k)


def backtracker_tree(k: int, rng: random.Random) -> dict[Cell, Cell | None]:
    """Parent of every room of the ``k x k`` lattice in a spanning tree grown by randomized
    depth-first search (the recursive backtracker, iterative so large mazes need no deep recursion)."""
    root = (_pick(rng, k), _pick(rng, k))
    parent: dict[Cell, Cell | None] = {root: None}
    stack = [root]
    while stack:
        i, j = stack[-1]
        fresh = [(a, b) for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)) if 0 <= a < k and 0 <= b < k and (a, b) not in parent]
        if not fresh:
            stack.pop()
            continue
        nxt = fresh[_pick(rng, len(fresh))]
        parent[nxt] = (i, j)
        stack.append(nxt)
    return parent


def tree_path(parent: dict[Cell, Cell | None], a: Cell, b: Cell) -> list[Cell]:
    """Rooms from ``a`` to ``b`` along the tree: up from ``a`` to the lowest common ancestor, then down to ``b``."""
    up_a = [a]
    while parent[up_a[-1]] is not None:
        up_a.append(parent[up_a[-1]])  # type: ignore[arg-type]
    on_a = {room: i for i, room in enumerate(up_a)}
    up_b = [b]
    while up_b[-1] not in on_a:
        up_b.append(parent[up_b[-1]])  # type: ignore[arg-type]
    return up_a[: on_a[up_b[-1]] + 1] + up_b[-2::-1]


def render(k: int, parent: dict[Cell, Cell | None], start: Cell, goal: Cell) -> list[str]:
    """The ``(2k + 1)``-sided character grid: rooms and the walls between tree neighbours open."""
    side = 2 * k + 1
    grid = [["#"] * side for _ in range(side)]
    for (i, j), up in parent.items():
        grid[2 * i + 1][2 * j + 1] = "."
        if up is not None:
            grid[i + up[0] + 1][j + up[1] + 1] = "."  # the wall cell between the two rooms
    grid[2 * start[0] + 1][2 * start[1] + 1] = "S"
    grid[2 * goal[0] + 1][2 * goal[1] + 1] = "G"
    return ["".join(row) for row in grid]


def cell_path(rooms: list[Cell]) -> list[list[int]]:
    """Grid cells ``[row, col]`` of a room path, with the opened wall cell between each two rooms."""
    cells = [[2 * rooms[0][0] + 1, 2 * rooms[0][1] + 1]]
    for (i, j), (a, b) in zip(rooms, rooms[1:]):
        cells.append([i + a + 1, j + b + 1])
        cells.append([2 * a + 1, 2 * b + 1])
    return cells


def backtracker_maze(side: int, rng: random.Random) -> dict:
    """One maze record of odd ``side`` (``docs/formats.md``), start and goal two distinct random rooms."""
    k = (side - 1) // 2
    parent = backtracker_tree(k, rng)
    start = divmod(_pick(rng, k * k), k)
    goal = divmod(_pick(rng, k * k - 1), k)
    if goal >= start:  # skip the start: uniform over the other rooms
        goal = divmod(goal[0] * k + goal[1] + 1, k)
    path = cell_path(tree_path(parent, start, goal))
    return {"task": "maze", "rows": render(k, parent, start, goal), "path": path}
