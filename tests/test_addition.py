"""addition: generator labels against Python's int sum, the digit layout, files, bad records, other families."""

from __future__ import annotations

import numpy as np
import pytest

from loopthink.tasks import DataError, get_task
from loopthink.tasks.addition import MAX_DIGITS
from loopthink.tasks.external import external_families
from tests.per_position_checks import assert_padding_ignored, assert_same_batch, check_rejects, round_trip

GOOD = {"task": "addition", "a": "4096", "b": "512", "label": "4608"}


def is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


@pytest.mark.parametrize("difficulty", [(1, 1), (1, 6), (20, 40), (300, 320)])
def test_generated_labels_agree_with_python_ints(difficulty):
    task = get_task("addition")
    for seed in range(5):
        for rec in task.generate(40, seed, difficulty):
            task.validate(rec)
            task.verify(rec)
            assert is_decimal(rec["a"]) and is_decimal(rec["b"])
            assert int(rec["label"]) == int(rec["a"]) + int(rec["b"])
            assert difficulty[0] <= task.difficulty_of(rec) == max(len(rec["a"]), len(rec["b"])) <= difficulty[1]


def test_operand_lengths_and_sides():
    records = get_task("addition").generate(600, 0, (6, 6))
    a_longer = sum(len(r["a"]) == 6 for r in records)
    assert 200 < a_longer < 400  # either operand is the longer one
    assert {min(len(r["a"]), len(r["b"])) for r in records} == set(range(1, 7))
    assert any(len(r["label"]) == 7 for r in records) and any(len(r["label"]) == 6 for r in records)


def test_generate_is_deterministic_and_matches_sample_batch():
    task = get_task("addition")
    assert task.generate(30, 7, (1, 12)) == task.generate(30, 7, (1, 12))
    assert task.generate(30, 7, (1, 12)) != task.generate(30, 8, (1, 12))
    assert_same_batch(task.encode(task.generate(30, 7, (1, 12))), task.sample_batch(30, np.random.default_rng(7), (1, 12)))


def test_layout_is_units_first_with_one_position_for_the_final_carry():
    task = get_task("addition")
    batch = task.encode([GOOD, {"task": "addition", "a": "9", "b": "99", "label": "108"}])
    words = [[task.vocab[t] for t in row] for row in batch.inputs["tokens"].tolist()]
    words2 = [[task.vocab[t] for t in row] for row in batch.inputs["tokens2"].tolist()]
    assert words[0] == ["a6", "a9", "a0", "a4", "a_"] and words2[0] == ["b2", "b1", "b5", "b_", "b_"]
    assert batch.labels[0].tolist() == [8, 0, 6, 4, 0]
    assert words[1][:3] == ["a9", "a_", "a_"] and words2[1][:3] == ["b9", "b9", "b_"]
    assert batch.labels[1].tolist() == [8, 0, 1, -100, -100]
    assert batch.difficulty.tolist() == [4, 2]
    assert_padding_ignored(batch)
    assert not set(batch.inputs["tokens"][batch.inputs["mask"]].tolist()) & set(batch.inputs["tokens2"][batch.inputs["mask"]].tolist())


def test_round_trip_and_encoding(tmp_path):
    task = get_task("addition")
    records = round_trip(tmp_path, task.generate(25, 1, (1, 9)))
    batch = task.encode(records)
    assert batch.labels.shape == (25, 1 + max(task.difficulty_of(r) for r in records))
    assert_padding_ignored(batch)
    for i, rec in enumerate(records):
        size = 1 + task.difficulty_of(rec)
        digits = "".join(task.classes[c] for c in batch.labels[i, :size].tolist())[::-1]
        assert int(digits) == int(rec["label"]) and len(digits) == size


BAD = {
    "sign": ({"a": "-4096"}, "no sign"),
    "plus sign": ({"b": "+512"}, "no sign"),
    "leading zero": ({"a": "04096", "label": "4608"}, "leading zero"),
    "non-digit": ({"b": "5x2"}, "only the digits 0-9"),
    "unicode digit": ({"b": "5²2"}, "only the digits 0-9"),
    "space": ({"a": " 4096"}, "only the digits 0-9"),
    "number, not string": ({"a": 4096}, "must be a decimal string"),
    "empty": ({"b": ""}, "'b' is empty"),
    "too long": ({"a": "1" * (MAX_DIGITS + 1)}, f"at most {MAX_DIGITS} digits"),
    "label too long": ({"label": "104608"}, "'label' has 6 digits"),
    "label too short": ({"label": "460"}, "'label' has 3 digits"),
    "label alphabet": ({"label": "46O8"}, "only the digits 0-9"),
    "label leading zero": ({"label": "04608"}, "leading zero"),
    "label wrong": ({"label": "4618"}, "int(a) + int(b)"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_check_rejects_bad_records(kind, tmp_path, capsys):
    change, expect = BAD[kind]
    check_rejects(tmp_path, capsys, GOOD, {**GOOD, **change}, expect)


def test_bad_difficulty_range():
    with pytest.raises(ValueError, match="1 <= lo <= hi"):
        get_task("addition").generate(3, 0, (0, 4))
    with pytest.raises(DataError, match="unknown option"):
        get_task("addition", carry=1)


def longest_carry_run(a: str, b: str) -> int:
    x, y, carry, run, best = a[::-1], b[::-1], 0, 0, 0
    for i in range(max(len(x), len(y))):
        s = int(x[i] if i < len(x) else 0) + int(y[i] if i < len(y) else 0) + carry
        carry = s // 10
        run = run + 1 if carry else 0
        best = max(best, run)
    return best


@pytest.mark.parametrize("family", sorted(external_families("addition")))
def test_other_families_validate_and_verify(family):
    task = get_task("addition")
    make = external_families("addition")[family]
    records = make(60, 3, (1, 30))
    assert records == make(60, 3, (1, 30)) and len(records) == 60
    for rec in records:
        task.validate(rec)
        task.verify(rec)
        d = task.difficulty_of(rec)
        assert rec["bucket"] == d
        short = min(len(rec["a"]), len(rec["b"]))
        if family == "carry_chain":
            assert longest_carry_run(rec["a"], rec["b"]) >= (d + 1) // 2
        elif family == "forced_carry":
            assert short == d and longest_carry_run(rec["a"], rec["b"]) == d
        else:
            assert short <= max(1, d // 4)


def test_chain_share_writes_long_carry_chains_and_leaves_the_plain_generator_alone():
    """task.options.chain_share: that share of sums carries across many columns (the plain
    generator's longest carry averages about 2); labels stay Python's sum; share 0 changes nothing."""
    task = get_task("addition")
    plain = task.generate(300, 4, (8, 30))
    chained = task.generate(300, 4, (8, 30), chain_share=1.0)
    for r in chained:
        task.validate(r)
        task.verify(r)
    mean_run = sum(longest_carry_run(r["a"], r["b"]) for r in chained) / len(chained)
    assert mean_run > 3 * sum(longest_carry_run(r["a"], r["b"]) for r in plain) / len(plain)
    assert task.generate(50, 7, (1, 20), chain_share=0.0) == task.generate(50, 7, (1, 20))
    batch = get_task("addition", chain_share=0.5).sample_batch(64, np.random.default_rng(0), (1, 20))
    assert batch.labels.shape[0] == 64
