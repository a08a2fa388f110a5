"""Sentences that state no kinship fact (CLUTRR's irrelevant and disconnected noise, Sinha et al.
2019): loopthink's ``noise`` option (``tasks/text_noise.py``) and the independent generator's
``<family>_noisy`` families. Noise sentences are told apart here by a word list of this file's own
(the relation words the test readers know), then the facts are checked with the independent
readers of ``tests/test_text.py`` and ``tests/test_text_stories.py``; unknown words must encode.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from loopthink.cli import main
from loopthink.tasks import DataError
from loopthink.tasks.external.text_stories import DUO, FAMILIES, NOISE, SHAPES, SOLO
from loopthink.tasks.text import TEXT_VOCAB, TextTask, tokenize_words
from loopthink.tasks.text_noise import ONE_PERSON, TWO_PEOPLE
from loopthink.tasks.text_templates import read_facts
from tests.test_text import bfs_hops, fact_world, names_in, read_record
from tests.test_text_stories import WORD_KIND, check_record

TASK = TextTask()
# every word a kinship fact can use, as the test readers read them; a noise sentence has none
KIN = set(WORD_KIND) | {"married", "siblings", "parent", "child", "related"}


def split(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


def is_noise(sentence: str) -> bool:
    return not KIN & {w.lower() for w in re.findall(r"[A-Za-z-]+", sentence)}


def without_noise(rec: dict) -> dict:
    return {**rec, "text": " ".join(s for s in split(rec["text"]) if not is_noise(s))}


def plain_and_noisy(n: int, seed: int, **noise) -> list[tuple[dict, dict]]:
    plain = TASK._generate_with_tree(n, seed, (1, 6))
    noisy = TASK.generate(n, seed, (1, 6), **noise)
    return [(p, q) for p, q in zip(plain, noisy)]


# ---- loopthink's generator ----------------------------------------------------------------------


def test_default_output_is_unchanged_and_noise_only_adds_sentences():
    base = TASK.generate(60, 5, (1, 6))
    assert json.dumps(TASK.generate(60, 5, (1, 6), noise=(0, 0))) == json.dumps(base)
    assert all("noise" not in r for r in base)
    places, counts = Counter(), Counter()
    for (plain, _, _), noisy in plain_and_noisy(300, 5, noise=(2, 4)):
        assert {k: noisy[k] for k in ("question", "answer", "hops")} == {k: plain[k] for k in ("question", "answer", "hops")}
        sentences = split(noisy["text"])
        added = [i for i, s in enumerate(sentences) if is_noise(s)]
        assert len(added) == noisy["noise"] and 2 <= noisy["noise"] <= 4
        assert [s for s in sentences if not is_noise(s)] == split(plain["text"])  # facts as they were, in order
        counts[noisy["noise"]] += 1
        for i in added:  # where each went among the sentences: first, last or between
            places["first" if i == 0 else "last" if i == len(sentences) - 1 else "between"] += 1
    assert set(counts) == {2, 3, 4} and min(counts.values()) > 60
    assert min(places.values()) > 0.05 * sum(places.values()), places


def test_noise_names_people_on_and_off_the_chain_and_new_people():
    where, two = Counter(), []
    for rec, inst, names in TASK._generate_with_tree(200, 7, (2, 5), noise=((1, 4), 0.5)):
        chain = {names[p] for p in inst.chain}
        story = set(names.values())
        for sentence in filter(is_noise, split(rec["text"])):
            people = names_in(sentence)
            assert len(people) in (1, 2) and len(set(people)) == len(people), sentence
            two.append(len(people) == 2)
            for p in people:
                where["chain" if p in chain else "story" if p in story else "new"] += 1
            assert read_facts(sentence) == ([], 1)  # no template reads it as a fact
    assert min(where.values()) > 0.1 * sum(where.values()), where
    assert 0.4 < np.mean(two) < 0.6
    for share, want in ((0.0, 1), (1.0, 2)):
        for rec in TASK.generate(30, 1, (1, 3), noise=2, two_person_share=share):
            assert {len(names_in(s)) for s in split(rec["text"]) if is_noise(s)} == {want}


def test_noise_wording_has_no_kinship_or_gendered_word_and_fits_the_entity_budget():
    for template in ONE_PERSON + TWO_PEOPLE + SOLO + DUO:
        assert is_noise(template), template
        assert template[0] == "{" or template.split()[0].lower() in TEXT_VOCAB  # no capitalised non-name
    ours = {re.sub(r"\{\w+\}", "_", t) for t in ONE_PERSON + TWO_PEOPLE}
    assert not ours & {re.sub(r"\{\w+\}", "_", t) for t in SOLO + DUO}  # the two generators' wording differs
    for rec in TASK.generate(50, 2, (4, 4), distractors=(20, 30), max_entities=10, noise=(6, 6)):
        assert len({p for s in split(rec["text"]) for p in names_in(s)}) <= 10
        TASK.verify(rec)
    with pytest.raises(ValueError, match="noise"):
        TASK.generate(1, 0, (1, 2), noise=(3, 1))
    with pytest.raises(ValueError, match="two_person_share"):
        TASK.generate(1, 0, (1, 2), noise=1, two_person_share=2)
    with pytest.raises(DataError, match="outside 0..64"):
        TextTask(options={"noise": [0, 65]})


def test_verifier_and_independent_reader_rederive_labels_with_noise():
    records = TASK.generate(150, 3, (1, 6), noise=(1, 6), story={"people": 20, "facts": 30, "share": 0.3})
    for rec in records:
        TASK.validate(rec)
        TASK.verify(rec)
        assert TASK.difficulty_of({**rec, "hops": None}) == rec["hops"]
        facts, a, b = read_record(without_noise(rec))  # the test's own reader, noise taken out
        assert bfs_hops(facts, a, b) == rec["hops"]
        assert fact_world(facts).relations(a, b) == {rec["answer"]}
    wrong = next(r for r in records if r["answer"] == "aunt")
    with pytest.raises(DataError, match="'answer'"):
        TASK.verify({**wrong, "answer": "niece"})
    with pytest.raises(DataError, match="'hops'"):
        TASK.verify({**wrong, "hops": wrong["hops"] + 1})


def test_every_node_labels_are_the_same_with_and_without_noise():
    for (plain, _, _), noisy in plain_and_noisy(40, 9, noise=(3, 6)):
        batches = [TASK.encode([r]).inputs for r in (plain, noisy)]
        labels = [
            {w: int(rel) for w, rel in zip(["<cls>", *tokenize_words(r["text"])], b["relation"][0].tolist()) if rel}
            for r, b in zip((plain, noisy), batches)
        ]
        assert labels[0] and labels[0] == labels[1]


# ---- unknown words ------------------------------------------------------------------------------


def test_unknown_words_read_as_unk_and_capitalised_ones_as_names():
    rec = {
        "task": "text",
        "text": "Quorbel zindled Marplo quickly. Quorbel is Marplo's mother. Marplo plonked, gleefully, 42 wugs!",
        "question": "How is Quorbel related to Marplo?",
        "answer": "mother",
        "hops": 1,
    }
    inputs = TASK.encode([rec]).inputs
    words = ["<cls>", *tokenize_words(rec["text"])]
    read = {w: TEXT_VOCAB[t] for w, t in zip(words, inputs["tokens"][0].tolist())}
    assert [read[w] for w in ("Quorbel", "zindled", "Marplo", "quickly", "plonked", "42", "wugs", "!", ",")] == [
        "<name>", "<unk>", "<name>", "<unk>", "<unk>", "<unk>", "<unk>", "!", ",",
    ]  # fmt: skip
    slots = {w: e for w, e in zip(words, inputs["entity"][0].tolist()) if e}
    assert slots == {"Quorbel": 1, "Marplo": 2}
    TASK.verify(rec)
    assert read_facts(rec["text"]) == ([("Quorbel", "parent", "Marplo", "f")], 2)
    # a capitalised unknown word is a name wherever it stands, sentence start included
    start = TASK.encode([{**rec, "text": "Yesterday Quorbel sang. " + rec["text"]}]).inputs
    assert int(start["entity"][0].max()) == 3


def test_prose_outside_the_templates_is_still_not_read_back():
    rec = {"task": "text", "question": "How is Ann related to Tom?", "answer": "wife", "hops": 1}
    TASK.verify({**rec, "text": "Ann adores her husband Tom."})  # a kinship word, no template: unread
    TASK.verify({**rec, "text": "Ann went hiking. Tom wed Ann."})  # nothing links them: unread
    with pytest.raises(DataError, match="'hops' is required"):
        TASK.difficulty_of({**rec, "text": "Ann adores her husband Tom.", "hops": None})
    with pytest.raises(DataError, match="'answer'"):
        TASK.verify({**rec, "text": "Ann went hiking. Ann is the sister of Tom.", "answer": "wife"})


# ---- the command line and eval --by noise -------------------------------------------------------


def test_data_text_noise_then_check(tmp_path: Path, capsys):
    out = tmp_path / "noisy.jsonl"
    assert main(["data", "text", "--n", "40", "--difficulty", "1..5", "--noise", "2,4", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["noise"] for r in records} <= {2, 3, 4} and len(records) == 40
    assert main(["check", str(out)]) == 0
    bad = {**records[0], "hops": records[0]["hops"] + 1}
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n")
    assert main(["check", str(tmp_path / "bad.jsonl")]) != 0


def test_eval_by_noise_groups_by_the_count():
    from loopthink.analysis.accuracy import evaluate_records
    from loopthink.config import load_config
    from loopthink.model import build_model

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "text.yaml")
    task = TextTask(options={"noise": [0, 3]})
    records = task.generate(24, 0, (1, 3), noise=(0, 3))
    result = evaluate_records(build_model(cfg, task), task, records, [2], by="noise")
    assert result["n_by_group"] == {str(k): v for k, v in sorted(Counter(r["noise"] for r in records).items())}
    assert list(result["by_group"]) == ["0", "1", "2", "3"]


# ---- the independent generator's noisy families -------------------------------------------------


@pytest.mark.parametrize("family", sorted(SHAPES))
def test_external_noisy_families_validate_verify_and_are_worded_apart(family):
    make = FAMILIES[f"{family}_noisy"]
    records = make(42, 1, (1, 6))
    assert len(records) >= 20 and records == make(42, 1, (1, 6))
    two, counts = [], Counter()
    for rec in records:
        assert rec["family"] == f"{family}_noisy" and NOISE[0] <= rec["noise"] <= NOISE[1]
        noise = [s for s in split(rec["text"]) if is_noise(s)]
        assert len(noise) == rec["noise"]
        two += [len(names_in(s)) == 2 for s in noise]
        counts[rec["noise"]] += 1
        TASK.validate(rec)
        TASK.verify(rec)  # loopthink's verifier skips the noise
        check_record(without_noise(rec))  # the independent resolvers on the facts alone
    assert len(counts) >= 5 and 0.3 < np.mean(two) < 0.7
    TASK.encode(records)  # unknown words and new names encode
