"""maze: generator paths against networkx and loopthink's BFS, files, encoding, bad records, other algorithms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from loopthink.tasks import DataError, get_task
from loopthink.tasks.external import external_families
from loopthink.tasks.maze import MAX_SIDE
from tests.per_position_checks import assert_padding_ignored, assert_same_batch, check_rejects, round_trip

GOOD = {"task": "maze", "rows": ["#####", "#S.G#", "#####"], "path": [[1, 1], [1, 2], [1, 3]]}
# not perfect, not square: a loop whose top side is the unique shortest path
LOOP = {
    "task": "maze",
    "rows": ["#######", "#S...G#", "#.###.#", "#.....#", "#######"],
    "path": [[1, 1], [1, 2], [1, 3], [1, 4], [1, 5]],
}
DETOUR = [[1, 1], [2, 1], [3, 1], [3, 2], [3, 3], [3, 4], [3, 5], [2, 5], [1, 5]]


def open_graph(rows: list[str]) -> tuple[nx.Graph, tuple, tuple]:
    g = nx.grid_2d_graph(len(rows), len(rows[0]))
    g.remove_nodes_from([(r, c) for r, text in enumerate(rows) for c, ch in enumerate(text) if ch == "#"])
    marks = {ch: (r, c) for r, text in enumerate(rows) for c, ch in enumerate(text) if ch in "SG"}
    return g, marks["S"], marks["G"]


def assert_networkx_agrees(rec: dict) -> nx.Graph:
    g, s, t = open_graph(rec["rows"])
    paths = list(nx.all_shortest_paths(g, s, t))
    assert len(paths) == 1
    assert [list(c) for c in paths[0]] == rec["path"]
    return g


@pytest.mark.parametrize("difficulty", [(5, 5), (5, 11), (20, 31), (101, 101)])
def test_generated_paths_agree_with_networkx_and_bfs(difficulty):
    task = get_task("maze")
    for seed in range(4):
        records = task.generate(2 if difficulty[0] > 50 else 20, seed, difficulty)
        for rec in records:
            task.validate(rec)
            task.verify(rec)
            side = task.difficulty_of(rec)
            assert side % 2 == 1 and difficulty[0] <= side <= difficulty[1]
            assert len(rec["rows"]) == len(rec["rows"][0]) == side
            g = assert_networkx_agrees(rec)
            assert nx.is_tree(g)  # a perfect maze: every room reached, no loops
            k = (side - 1) // 2
            assert g.number_of_nodes() == 2 * k * k - 1


def test_even_sides_are_skipped_and_a_range_without_odd_sides_is_refused():
    task = get_task("maze")
    assert {len(r["rows"]) for r in task.generate(60, 0, (4, 10))} == {5, 7, 9}
    for bad in [(6, 6), (2, 4), (1, 3)]:
        with pytest.raises(ValueError, match="no odd side"):
            task.generate(3, 0, bad)
    with pytest.raises(ValueError, match="lo <= hi"):
        task.generate(3, 0, (5, MAX_SIDE + 2))


def test_start_and_goal_are_distinct_random_rooms():
    records = get_task("maze").generate(200, 1, (5, 5))
    pairs = {(tuple(r["path"][0]), tuple(r["path"][-1])) for r in records}
    assert len(pairs) == 12  # every ordered pair of the 4 rooms
    assert all(a != b and a[0] % 2 == a[1] % 2 == 1 for a, b in pairs)


def test_generate_is_deterministic_and_matches_sample_batch():
    task = get_task("maze")
    assert task.generate(12, 7, (5, 15)) == task.generate(12, 7, (5, 15))
    assert task.generate(12, 7, (5, 15)) != task.generate(12, 8, (5, 15))
    assert_same_batch(task.encode(task.generate(12, 7, (5, 15))), task.sample_batch(12, np.random.default_rng(7), (5, 15)))


def test_round_trip_and_encoding(tmp_path):
    task = get_task("maze")
    records = round_trip(tmp_path, [*task.generate(10, 1, (5, 9)), LOOP])
    batch = task.encode(records)
    assert batch.inputs.keys() == {"tokens", "mask", "row", "col"}
    assert batch.labels.shape == (11, 81)
    assert_padding_ignored(batch)
    for i, rec in enumerate(records):
        h, w = len(rec["rows"]), len(rec["rows"][0])
        n = h * w
        assert "".join(task.vocab[t] for t in batch.inputs["tokens"][i, :n].tolist()) == "".join(rec["rows"])
        assert batch.inputs["row"][i, :n].tolist() == [r for r in range(h) for _ in range(w)]
        assert batch.inputs["col"][i, :n].tolist() == list(range(w)) * h
        on = {(int(p) // w, int(p) % w) for p in (batch.labels[i, :n] == 1).nonzero()[:, 0]}
        assert on == {tuple(c) for c in rec["path"]}
    assert batch.difficulty.tolist() == [len(r["rows"]) for r in records]


def test_any_maze_with_a_unique_shortest_path_is_read():
    task = get_task("maze")
    for rec in (GOOD, LOOP):
        task.validate(rec)
        task.verify(rec)
        assert_networkx_agrees(rec)


BAD = {
    "ragged rows": ({"rows": ["#####", "#S.G#", "####"]}, "ragged: row 2 has 4 characters"),
    "bad character": ({"rows": ["#####", "#S.G#", "##x##"]}, "'x' at column 2"),
    "rows not a list": ({"rows": "#S.G#"}, "non-empty list of strings"),
    "no S": ({"rows": ["#####", "#..G#", "#####"]}, "one S (start), found 0"),
    "two S": ({"rows": ["#####", "#S.G#", "#S###"]}, "one S (start), found 2"),
    "no G": ({"rows": ["#####", "#S..#", "#####"]}, "one G (goal), found 0"),
    "two G": ({"rows": ["#####", "#S.G#", "###G#"]}, "one G (goal), found 2"),
    "too large": ({"rows": ["#S" + "." * 250 + "G#"] * 1 + ["#" * 254] * 255}, f"at most {MAX_SIDE}"),
    "no path": ({"rows": ["#####", "#S#G#", "#####"]}, "no path from S to G"),
    "two shortest paths": ({"rows": ["####", "#S.#", "#.G#", "####"], "path": [[1, 1], [1, 2], [2, 2]]}, "more than one shortest"),
    "path through a wall": ({"path": [[1, 1], [0, 1], [1, 3]]}, "cell 1 [0, 1] is a wall"),
    "path not connected": ({"path": [[1, 1], [1, 3]]}, "not connected"),
    "path not from S": ({"path": [[1, 2], [1, 3]]}, "must start at S [1, 1]"),
    "path not to G": ({"path": [[1, 1], [1, 2]]}, "must end at G [1, 3]"),
    "path outside": ({"path": [[1, 1], [1, 2], [1, 3], [1, 9]]}, "outside the 3 x 5 maze"),
    "path cell not a pair": ({"path": [[1, 1], [1, 2, 0], [1, 3]]}, "pair of integers"),
    "path missing": ({"path": None}, "'path' must be a non-empty list"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_check_rejects_bad_records(kind, tmp_path, capsys):
    change, expect = BAD[kind]
    check_rejects(tmp_path, capsys, GOOD, {**GOOD, **change}, expect)


def test_check_rejects_a_path_that_is_not_the_shortest(tmp_path, capsys):
    check_rejects(tmp_path, capsys, LOOP, {**LOOP, "path": DETOUR}, "'path' has 9 cells but the shortest S-G path has 5")


def test_verify_names_the_first_cell_off_the_search_path():
    both = {"task": "maze", "rows": ["####", "#S.#", "#.G#", "####"]}
    walked = [[1, 1], [2, 1], [2, 2]]  # up-first BFS order reaches G through (2, 1)
    get_task("maze").verify({**both, "path": walked})
    with pytest.raises(DataError, match=r"'path\[1\]' is \[1, 2\] but a breadth-first search from S gives \[2, 1\]"):
        get_task("maze").verify({**both, "path": [[1, 1], [1, 2], [2, 2]]})


@pytest.mark.parametrize("family", sorted(external_families("maze")))
def test_other_families_validate_and_verify(family):
    task = get_task("maze")
    make = external_families("maze")[family]
    records = make(20, 3, (4, 15))
    assert records == make(20, 3, (4, 15)) and len(records) == 20
    assert make(5, 0, (2, 4)) == []
    for rec in records:
        task.validate(rec)
        task.verify(rec)
        assert rec["bucket"] == task.difficulty_of(rec) and rec["bucket"] in (5, 7, 9, 11, 13, 15)
        g = assert_networkx_agrees(rec)
        assert nx.is_tree(g)
        if family.endswith("_ends"):  # S and G at the two ends of a longest path of the tree
            assert len(rec["path"]) - 1 == nx.diameter(g)
        if family == "kruskal_wide":
            assert len(rec["rows"][0]) >= len(rec["rows"])
    if family == "kruskal_wide":
        assert any(len(r["rows"][0]) > len(r["rows"]) for r in records)
