"""prefix_sums: generator labels against a running XOR, files, encoding, bad records, other families."""

from __future__ import annotations

import numpy as np
import pytest

from loopthink.tasks import DataError, get_task
from loopthink.tasks.external import external_families
from loopthink.tasks.prefix_sums import MAX_BITS
from tests.per_position_checks import assert_padding_ignored, assert_same_batch, check_rejects, round_trip

GOOD = {"task": "prefix_sums", "bits": "0110", "label": "0100"}


def xor_prefix(bits: str) -> str:
    out, acc = [], 0
    for b in bits:
        acc ^= b == "1"
        out.append("1" if acc else "0")
    return "".join(out)


@pytest.mark.parametrize("difficulty", [(1, 1), (1, 8), (30, 64), (500, 600)])
def test_generated_labels_agree_with_a_running_xor(difficulty):
    task = get_task("prefix_sums")
    for seed in range(5):
        records = task.generate(40, seed, difficulty)
        assert len(records) == 40
        for rec in records:
            task.validate(rec)
            task.verify(rec)
            assert rec["label"] == xor_prefix(rec["bits"])
            assert difficulty[0] <= task.difficulty_of(rec) == len(rec["bits"]) <= difficulty[1]


def test_bits_are_roughly_uniform_and_lengths_cover_the_range():
    records = get_task("prefix_sums").generate(400, 0, (1, 8))
    ones = sum(r["bits"].count("1") for r in records) / sum(len(r["bits"]) for r in records)
    assert 0.45 < ones < 0.55
    assert {len(r["bits"]) for r in records} == set(range(1, 9))


def test_generate_is_deterministic_and_matches_sample_batch():
    task = get_task("prefix_sums")
    assert task.generate(30, 7, (2, 20)) == task.generate(30, 7, (2, 20))
    assert task.generate(30, 7, (2, 20)) != task.generate(30, 8, (2, 20))
    assert_same_batch(task.encode(task.generate(30, 7, (2, 20))), task.sample_batch(30, np.random.default_rng(7), (2, 20)))


def test_round_trip_and_encoding(tmp_path):
    task = get_task("prefix_sums")
    records = round_trip(tmp_path, task.generate(20, 1, (1, 12)))
    batch = task.encode(records)
    assert batch.inputs.keys() == {"tokens", "mask"}
    assert batch.labels.shape == (20, max(len(r["bits"]) for r in records))
    assert_padding_ignored(batch)
    for i, rec in enumerate(records):
        n = len(rec["bits"])
        assert [task.vocab[t] for t in batch.inputs["tokens"][i, :n].tolist()] == list(rec["bits"])
        assert "".join(task.classes[c] for c in batch.labels[i, :n].tolist()) == rec["label"]
    assert batch.difficulty.tolist() == [len(r["bits"]) for r in records]
    one = task.encode([GOOD])
    assert one.inputs["tokens"].tolist() == [[1, 2, 2, 1]] and one.labels.tolist() == [[0, 1, 0, 0]]


BAD = {
    "bits not 0/1": ({"bits": "0120", "label": "0110"}, "only 0 and 1"),
    "bits not a string": ({"bits": [0, 1]}, "'bits' must be a string"),
    "bits empty": ({"bits": "", "label": ""}, "'bits' is empty"),
    "bits too long": ({"bits": "0" * (MAX_BITS + 1), "label": "0" * (MAX_BITS + 1)}, f"at most {MAX_BITS}"),
    "label too short": ({"label": "010"}, "'label' has 3 characters but 'bits' has 4"),
    "label alphabet": ({"label": "01a0"}, "'label' must hold only 0 and 1"),
    "label missing": ({"label": None}, "'label' must be a string"),
    "label wrong": ({"label": "0110"}, "the running XOR"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_check_rejects_bad_records(kind, tmp_path, capsys):
    change, expect = BAD[kind]
    check_rejects(tmp_path, capsys, GOOD, {**GOOD, **change}, expect)


def test_bad_difficulty_range():
    with pytest.raises(ValueError, match="1 <= lo <= hi"):
        get_task("prefix_sums").generate(3, 0, (0, 4))
    with pytest.raises(DataError, match="unknown option"):
        get_task("prefix_sums", p_one=0.3)


@pytest.mark.parametrize("family", sorted(external_families("prefix_sums")))
def test_other_families_validate_and_verify(family):
    task = get_task("prefix_sums")
    make = external_families("prefix_sums")[family]
    records = make(60, 3, (1, 40))
    assert records == make(60, 3, (1, 40)) and len(records) == 60
    for rec in records:
        task.validate(rec)
        task.verify(rec)
        assert rec["label"] == xor_prefix(rec["bits"]) and rec["bucket"] == task.difficulty_of(rec)
    ones = sum(r["bits"].count("1") for r in records) / sum(len(r["bits"]) for r in records)
    expected = {"biased_low": (0.0, 0.2), "biased_high": (0.8, 1.0), "long_runs": (0.6, 1.0), "single_one": (0.0, 0.2)}[family]
    assert expected[0] < ones < expected[1]
