"""Perfect mazes by other algorithms than loopthink's backtracker, for the external validity of mazes.

Each family maps ``(n, seed, difficulty)`` to ``n`` records in the maze JSONL format
(docs/formats.md): ``{"task": "maze", "rows": [...], "path": [[r, c], ...]}``, the number of rows
uniform over the odd numbers ``>= 5`` in ``difficulty`` (no records where there is none), plus
``family`` and ``bucket`` (the number of rows). Nothing here shares code with
``loopthink.tasks.maze_gen``.

The randomized depth-first search loopthink trains on makes mazes of long corridors and few
branches; the spanning trees here have other textures:

* Kruskal's algorithm (Kruskal 1956): the room lattice's walls in random order, each removed when
  it joins two rooms not yet connected (union-find). Many short dead ends.
* Wilson's algorithm (Wilson 1996, "Generating random spanning trees more quickly than the cover
  time"): loop-erased random walks, a uniform sample over all spanning trees.

S and G sit at random rooms (``*_random``) or at the two ends of the tree's longest path
(``*_ends``: the diameter, found by two breadth-first searches), the hardest instance a maze holds.
``kruskal_wide`` has more columns than rows (odd, up to about twice as many). The path is read
off the room tree by a breadth-first search over rooms.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

Room = tuple[int, int]
Tree = dict[Room, list[Room]]  # room -> its neighbours in the spanning tree
MAX_SIDE = 255


def _neighbours(room: Room, height: int, width: int) -> list[Room]:
    i, j = room
    return [(a, b) for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)) if 0 <= a < height and 0 <= b < width]


def kruskal(height: int, width: int, rng: random.Random) -> Tree:
    rooms = [(i, j) for i in range(height) for j in range(width)]
    walls = [(r, (r[0], r[1] + 1)) for r in rooms if r[1] + 1 < width] + [(r, (r[0] + 1, r[1])) for r in rooms if r[0] + 1 < height]
    rng.shuffle(walls)
    leader = {r: r for r in rooms}

    def find(r: Room) -> Room:
        while leader[r] != r:
            leader[r] = leader[leader[r]]  # path halving
            r = leader[r]
        return r

    tree: Tree = {r: [] for r in rooms}
    for a, b in walls:
        ra, rb = find(a), find(b)
        if ra != rb:
            leader[ra] = rb
            tree[a].append(b)
            tree[b].append(a)
    return tree


def wilson(height: int, width: int, rng: random.Random) -> Tree:
    rooms = [(i, j) for i in range(height) for j in range(width)]
    tree: Tree = {r: [] for r in rooms}
    in_tree = {rng.choice(rooms)}
    for start in rng.sample(rooms, len(rooms)):
        exit_to: dict[Room, Room] = {}  # the last exit taken from each room: erases the walk's loops
        room = start
        while room not in in_tree:
            exit_to[room] = rng.choice(_neighbours(room, height, width))
            room = exit_to[room]
        room = start
        while room not in in_tree:
            in_tree.add(room)
            tree[room].append(exit_to[room])
            tree[exit_to[room]].append(room)
            room = exit_to[room]
    return tree


def _bfs(tree: Tree, source: Room) -> dict[Room, Room | None]:
    """Parent of each room in a breadth-first search of the tree from ``source``, in visiting order."""
    parent: dict[Room, Room | None] = {source: None}
    queue = deque([source])
    while queue:
        room = queue.popleft()
        for nxt in tree[room]:
            if nxt not in parent:
                parent[nxt] = room
                queue.append(nxt)
    return parent


def _ends(tree: Tree, rng: random.Random) -> tuple[Room, Room]:
    far = list(_bfs(tree, rng.choice(list(tree))))[-1]  # BFS order: the last room is a farthest one
    other = list(_bfs(tree, far))[-1]
    return (far, other) if rng.random() < 0.5 else (other, far)


def _record(tree: Tree, height: int, width: int, start: Room, goal: Room, family: str) -> dict:
    grid = [["#"] * (2 * width + 1) for _ in range(2 * height + 1)]
    for (i, j), links in tree.items():
        grid[2 * i + 1][2 * j + 1] = "."
        for a, b in links:
            grid[i + a + 1][j + b + 1] = "."
    parent = _bfs(tree, start)
    rooms = [goal]
    while rooms[-1] != start:
        rooms.append(parent[rooms[-1]])  # type: ignore[arg-type]
    rooms.reverse()
    path = [[2 * rooms[0][0] + 1, 2 * rooms[0][1] + 1]]
    for (i, j), (a, b) in zip(rooms, rooms[1:]):
        path += [[i + a + 1, j + b + 1], [2 * a + 1, 2 * b + 1]]
    grid[path[0][0]][path[0][1]] = "S"
    grid[path[-1][0]][path[-1][1]] = "G"
    return {"task": "maze", "rows": ["".join(r) for r in grid], "path": path, "family": family, "bucket": 2 * height + 1}


def _family(
    name: str, build: Callable[[int, int, random.Random], Tree], ends: bool, wide: bool = False
) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    def generate(n: int, seed: int, difficulty: tuple[int, int] = (5, 13)) -> list[dict]:
        lo, hi = int(difficulty[0]), int(difficulty[1])
        if not 0 <= lo <= hi <= MAX_SIDE:
            raise ValueError(f"difficulty (rows) must satisfy 0 <= lo <= hi <= {MAX_SIDE}, got {difficulty}")
        sides = [s for s in range(max(lo, 5), hi + 1) if s % 2]
        rng = random.Random(seed)
        records = []
        for _ in range(n if sides else 0):
            height = (rng.choice(sides) - 1) // 2
            width = rng.randint(height, min(2 * height, (MAX_SIDE - 1) // 2)) if wide else height
            tree = build(height, width, rng)
            start, goal = _ends(tree, rng) if ends else tuple(rng.sample(list(tree), 2))
            records.append(_record(tree, height, width, start, goal, name))
        return records

    return generate


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {
    "kruskal_random": _family("kruskal_random", kruskal, ends=False),
    "kruskal_ends": _family("kruskal_ends", kruskal, ends=True),
    "wilson_random": _family("wilson_random", wilson, ends=False),
    "wilson_ends": _family("wilson_ends", wilson, ends=True),
    "kruskal_wide": _family("kruskal_wide", kruskal, ends=False, wide=True),
}
