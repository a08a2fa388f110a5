"""JSONL reading: every bad line is named with its line number; a seeded fuzz never crashes it."""

import json
import random

import pytest

from loopthink.cli import main
from loopthink.tasks import DataError, get_task
from loopthink.tasks.formats import read_jsonl, write_jsonl

GOOD = {
    "graph": {"task": "graph", "num_nodes": 4, "edges": [[0, 1], [1, 2]], "source": 0, "target": 2, "label": True, "hops": 2},
    "logic": {"task": "logic", "expression": "not ( True and False ) or False", "label": True, "depth": 2},
    "text": {
        "task": "text",
        "text": "Ann is the sister of Tom. Tom's daughter is Liv.",
        "question": "How is Ann related to Liv?",
        "answer": "aunt",
        "hops": 2,
    },
}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("task", ["graph", "logic", "text"])
def test_roundtrip_generated_files(tmp_path, task):
    records = get_task(task).generate(50, 3, (1, 3))
    write_jsonl(tmp_path / "d.jsonl", records)
    name, back = read_jsonl(tmp_path / "d.jsonl")
    assert name == task and back == records


def test_bad_lines_are_named_with_line_numbers(tmp_path):
    bad_node = dict(GOOD["graph"], edges=[[0, 9]])
    lines = [
        json.dumps(GOOD["graph"]),
        "{not json",
        json.dumps(bad_node),
        json.dumps({"num_nodes": 3}),
        "",
        json.dumps(dict(GOOD["graph"], source="0")),
    ]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError) as first:
        read_jsonl(path)
    assert "bad.jsonl:2: not valid JSON" in str(first.value) and ":3:" not in str(first.value)
    with pytest.raises(DataError) as every:
        read_jsonl(path, all_errors=True)
    msg = str(every.value)
    assert ":2: not valid JSON" in msg
    assert ":3:" in msg and "out of range" in msg
    assert ":4: missing key 'task'" in msg
    assert ":6:" in msg and "source" in msg
    assert "(4 bad lines)" in msg


def test_empty_unknown_and_mixed_files(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_jsonl(write_lines(tmp_path / "e.jsonl", ["", "  "]))
    with pytest.raises(DataError, match="unknown task 'chess'"):
        read_jsonl(write_lines(tmp_path / "u.jsonl", [json.dumps({"task": "chess"})]))
    with pytest.raises(DataError, match="one task per file"):
        read_jsonl(write_lines(tmp_path / "m.jsonl", [json.dumps(GOOD["graph"]), json.dumps(GOOD["logic"])]))
    with pytest.raises(DataError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="position"):
        read_jsonl(write_lines(tmp_path / "p.jsonl", [json.dumps(dict(GOOD["logic"], expression="True and ( False"))]))


def test_fuzzed_lines_give_data_errors_only(tmp_path):
    """Seeded, bounded fuzz: mutated good records either validate or raise DataError, nothing else."""
    rng = random.Random(0)
    values = [None, -1, 0, 1, 10**9, 2.5, True, "", "x", [], [1], [[0, 1]], {}, [[0, "a"]], "True and", "aunt"]
    for i in range(600):
        rec = dict(GOOD[rng.choice(list(GOOD))])
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(list(rec) + ["extra"])
            if rng.random() < 0.2:
                rec.pop(key, None)
            else:
                rec[key] = rng.choice(values)
        line = json.dumps(rec)
        if rng.random() < 0.1:
            cut = rng.randrange(len(line))
            line = line[:cut]
        path = write_lines(tmp_path / f"f{i % 7}.jsonl", [line])
        try:
            read_jsonl(path)
        except DataError:
            pass


def test_cli_check_and_errors(tmp_path, capsys):
    path = write_lines(tmp_path / "g.jsonl", [json.dumps(GOOD["graph"])] * 3)
    assert main(["check", str(path)]) == 0
    assert "3 valid graph instances" in capsys.readouterr().out
    bad = write_lines(tmp_path / "b.jsonl", ["[1, 2]"])
    assert main(["check", str(bad)]) == 2
    assert "b.jsonl:1: expected a JSON object" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--data", str(path)]) == 2
    assert "not a run" in capsys.readouterr().err


def test_cli_data_is_seeded(tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "data",
                    "graph",
                    "--n",
                    "30",
                    "--seed",
                    "4",
                    "--difficulty",
                    "2..5",
                    "--out",
                    str(tmp_path / f"{name}.jsonl"),
                    "--num-nodes",
                    "14,20",
                ]
            )
            == 0
        )
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    _, recs = read_jsonl(tmp_path / "a.jsonl")
    assert all(14 <= r["num_nodes"] <= 20 and (r["hops"] is None or 2 <= r["hops"] <= 5) for r in recs)
    assert main(["data", "graph", "--n", "3", "--difficulty", "2..5", "--out", str(tmp_path / "c.jsonl"), "--bogus", "1"]) == 2


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_file_is_checked_with_one_task_instance(tmp_path, monkeypatch, suffix):
    """Validating and verifying each record reuses the file's task instance (none is made per row)."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    from loopthink.tasks import formats
    from loopthink.tasks.files import read_records, write_records

    made = []
    real = formats.task_class

    def counting(name):
        made.append(name)
        return real(name)

    monkeypatch.setattr(formats, "task_class", counting)
    records = get_task("graph").generate(40, 5, (1, 3))
    write_records(tmp_path / f"d{suffix}", records)
    name, back = read_records(tmp_path / f"d{suffix}")
    assert name == "graph" and len(back) == len(records)
    assert made == ["graph"]
