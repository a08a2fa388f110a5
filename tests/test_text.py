"""Text (kinship) task: generated answers and hop counts are checked against independent solvers.

* answers: a resolver by lowest common family unit + generation gap + spouse links, run twice: on
  the generating family tree, and on a tree rebuilt from the *text alone* (so the stated facts
  determine the answer, A's gender included);
* hops: BFS over the people linked by each fact sentence, read with a parser of its own.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque

import numpy as np
import pytest
import torch

from loopthink.tasks import DataError, get_task
from loopthink.tasks.kinship import WORDS
from loopthink.tasks.text import CLASSES, KINDS, TEXT_VOCAB, TextTask, node_targets, relations_to, tokenize_words

TASK = TextTask()
WORDS_LOWER = {w for w in TEXT_VOCAB if not w.startswith("<")}

# ---- an independent kinship resolver ------------------------------------------------------------
# A unit is a couple (frozenset of its people); a single person is a unit of one. A person's
# ancestry maps units to generations above them: their own marriage unit at 0, the unit they were
# born into at 1, their parents' birth unit at 2, ... The lowest common unit of A and B gives the
# generation gap (up from A, up from B); spouse links extend it to relations by marriage.
BLOOD = {
    (0, 0): ("wife", "husband"),
    (0, 1): ("mother", "father"),
    (1, 0): ("daughter", "son"),
    (1, 1): ("sister", "brother"),
    (0, 2): ("grandmother", "grandfather"),
    (2, 0): ("granddaughter", "grandson"),
    (1, 2): ("aunt", "uncle"),
    (2, 1): ("niece", "nephew"),
}
VIA_SPOUSE_OF_A = {  # gap from A's spouse to B
    (1, 1): ("sister-in-law", "brother-in-law"),
    (1, 0): ("daughter-in-law", "son-in-law"),
    (1, 2): ("aunt", "uncle"),
}
VIA_SPOUSE_OF_B = {  # gap from A to B's spouse
    (0, 1): ("mother-in-law", "father-in-law"),
    (1, 1): ("sister-in-law", "brother-in-law"),
    (2, 1): ("niece", "nephew"),
}


class World:
    """What the resolver needs: each person's marriage unit, birth unit (or None), gender."""

    def __init__(self, marriage: dict, birth: dict, gender: dict):
        self.marriage, self.birth, self.gender = marriage, birth, gender
        self.members: dict = {}
        for p, u in marriage.items():
            self.members.setdefault(u, []).append(p)

    def spouses(self, p) -> list:
        return [q for q in self.members[self.marriage[p]] if q != p]

    def ancestry(self, p) -> dict:
        out, frontier = {self.marriage[p]: 0}, [p]
        for gen in (1, 2, 3):
            units = {self.birth[q] for q in frontier} - {None}
            out.update({u: gen for u in units if u not in out})
            frontier = [q for u in units for q in self.members.get(u, [])]
        return out

    def gap(self, x, y) -> tuple[int, int] | None:
        ax, ay = self.ancestry(x), self.ancestry(y)
        common = [(ax[u] + ay[u], ax[u], ay[u]) for u in ax.keys() & ay.keys()]
        return min(common)[1:] if common else None

    def relations(self, a, b) -> set[str]:
        """Every relation word that holds for A to B (a consistent family gives exactly one)."""
        i = 0 if self.gender[a] == "f" else 1
        found = {BLOOD[g][i] for g in [self.gap(a, b)] if g in BLOOD}
        for s in self.spouses(a):
            found |= {VIA_SPOUSE_OF_A[g][i] for g in [self.gap(s, b)] if g in VIA_SPOUSE_OF_A}
        for t in self.spouses(b):
            found |= {VIA_SPOUSE_OF_B[g][i] for g in [self.gap(a, t)] if g in VIA_SPOUSE_OF_B}
        return found


def tree_world(family) -> World:
    """From the generator's person-level tree: each person's (mother, father) and spouse only."""
    people = range(len(family.gender))
    marriage = {p: frozenset((p, family.spouse(p)) if family.spouse(p) is not None else (p,)) for p in people}
    birth = {p: frozenset(family.parents(p)) if family.parents(p) else None for p in people}
    return World(marriage, birth, dict(enumerate(family.gender)))


# ---- an independent reader of the generated prose ------------------------------------------------
GENDERED = {
    "mother": ("parent", "f"), "father": ("parent", "m"), "daughter": ("child", "f"), "son": ("child", "m"),
    "sister": ("sibling", "f"), "brother": ("sibling", "m"),
    "wife": ("spouse", "f"), "husband": ("spouse", "m"),
}  # fmt: skip


def names_in(sentence: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]+", sentence) if w[0].isupper() and w.lower() not in WORDS_LOWER]


def read_fact(sentence: str) -> tuple[str, str, str, str | None]:
    """(holder, kind, other, holder's gender or None): "holder is other's <kind>"."""
    words = re.findall(r"[A-Za-z-]+|'s", sentence)
    n1, n2 = names_in(sentence)
    gendered = [w for w in words if w in GENDERED]
    if gendered:
        # The name that owns the role word is the other person: "Y's", "of Y", "Y has".
        def owner(name: str) -> bool:
            i = words.index(name)
            return words[i + 1 : i + 2] in (["'s"], ["has"]) or words[i - 1 : i] == ["of"]

        assert owner(n1) != owner(n2), sentence
        holder, other = (n2, n1) if owner(n1) else (n1, n2)
        kind, gender = GENDERED[gendered[0]]
        return holder, kind, other, gender
    if "married" in words:
        return n1, "spouse", n2, None
    if "siblings" in words:
        return n1, "sibling", n2, None
    kind = "parent" if "parent" in words else "child"
    assert kind in words, sentence
    return n1, kind, n2, None


def read_record(rec: dict) -> tuple[list, str, str]:
    facts = [read_fact(s) for s in re.split(r"(?<=\.)\s+", rec["text"])]
    m = re.fullmatch(r"How is (\w+) related to (\w+)\?|What is (\w+) to (\w+)\?", rec["question"])
    assert m, rec["question"]
    a, b = (g for g in m.groups() if g)
    return facts, a, b


# Which of each person's units a fact joins: M = the unit they married into, B = born into.
SIDES = {"spouse": ("M", "M"), "sibling": ("B", "B"), "parent": ("M", "B"), "child": ("B", "M")}


def fact_world(facts: list) -> World:
    """Rebuild units from the facts by union-find: a fact says two people share a unit."""
    root: dict = {}

    def find(k):
        while root.setdefault(k, k) != k:
            k = root[k]
        return k

    def union(x, y):
        root[find(x)] = find(y)

    gender = {}
    for x, kind, y, g in facts:
        if g:
            gender[x] = g
        side_x, side_y = SIDES[kind]
        union((side_x, x), (side_y, y))
    people = {p for x, _, y, _ in facts for p in (x, y)}
    return World({p: find(("M", p)) for p in people}, {p: find(("B", p)) for p in people}, gender)


def bfs_hops(facts: list, a: str, b: str) -> int | None:
    adj: dict = {}
    for x, _, y, _ in facts:
        adj.setdefault(x, set()).add(y)
        adj.setdefault(y, set()).add(x)
    dist, queue = {a: 0}, deque([a])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist.get(b)


# ---- generation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hops", range(1, 9))
def test_answers_agree_with_the_tree_and_with_the_stated_facts(hops):
    for rec, inst, names in TASK._generate_with_tree(120, seed=hops, difficulty=(hops, hops)):
        a, b = inst.chain[0], inst.chain[-1]
        assert rec["hops"] == hops
        assert tree_world(inst.family).relations(a, b) == {rec["answer"]}, rec
        facts, name_a, name_b = read_record(rec)
        assert (name_a, name_b) == (names[a], names[b])
        person = {v: k for k, v in names.items()}
        for holder, kind, other, gender in facts:  # every sentence is true of the tree
            assert inst.family.kind(person[holder], person[other]) == kind, rec
            assert gender in (None, inst.family.gender[person[holder]]), rec
        world = fact_world(facts)
        assert name_a in world.gender, f"A's gender is not stated: {rec}"
        assert world.relations(name_a, name_b) == {rec["answer"]}, rec


@pytest.mark.parametrize("difficulty", [(1, 1), (1, 4), (3, 6), (8, 10)])
def test_hops_is_the_shortest_chain_of_stated_facts(difficulty):
    for rec in TASK.generate(150, seed=7, difficulty=difficulty):
        facts, a, b = read_record(rec)
        assert bfs_hops(facts, a, b) == rec["hops"]
        assert difficulty[0] <= rec["hops"] <= difficulty[1]
        assert TASK.difficulty_of({**rec, "hops": None}) == rec["hops"]  # the module's own parser agrees
        TASK.validate(rec)
        assert list(rec) == ["task", "text", "question", "answer", "hops"]


KIND_OF_WORD = {w: k for k, pair in WORDS.items() for w in pair}


@pytest.mark.parametrize("hops", [1, 2, 4, 8])
def test_every_persons_relation_to_b_agrees_with_the_tree(hops):
    """relations_to (layouts of family units) against the independent resolver on the true tree,
    for every person the stated facts link to B, not only A; people with no word are left out."""
    labelled = 0
    for rec, inst, names in TASK._generate_with_tree(60, seed=50 + hops, difficulty=(hops, hops)):
        facts, _, name_b = read_record(rec)
        got = relations_to(facts, name_b)
        world, person = tree_world(inst.family), {v: k for k, v in names.items()}
        for name in {p for x, _, y, _ in facts for p in (x, y)} - {name_b}:
            words = world.relations(person[name], inst.chain[-1])
            want = {KIND_OF_WORD[w] for w in words}
            assert len(want) <= 1, (rec, name, words)
            linked = bfs_hops(facts, name, name_b) is not None
            assert got.get(name) == (want.pop() if want and linked else None), (rec, name, words)
        labelled += len(got)
    assert labelled >= 60 * 2  # B's relatives beyond A are labelled too


def test_seeded_and_deterministic():
    one = TASK.generate(50, seed=3, difficulty=(1, 6), distractors=(1, 3))
    assert json.dumps(one) == json.dumps(TASK.generate(50, seed=3, difficulty=(1, 6), distractors=(1, 3)))
    assert json.dumps(one) != json.dumps(TASK.generate(50, seed=4, difficulty=(1, 6), distractors=(1, 3)))


def test_every_class_appears_and_answers_are_spread():
    counts = Counter(rec["answer"] for rec in TASK.generate(3000, seed=11, difficulty=(1, 4)))
    assert set(counts) == set(CLASSES)
    assert min(counts.values()) >= 0.01 * 3000 and max(counts.values()) <= 0.15 * 3000, counts
    one_hop = {rec["answer"] for rec in TASK.generate(200, seed=12, difficulty=(1, 1))}
    assert one_hop == {"mother", "father", "sister", "brother", "daughter", "son", "wife", "husband"}


def test_names_come_from_a_large_pool_outside_the_vocabulary():
    seen = []
    for rec in TASK.generate(300, seed=5, difficulty=(1, 4)):
        facts, a, b = read_record(rec)
        names = {p for x, _, y, _ in facts for p in (x, y)}
        for name in names:
            assert re.fullmatch(r"[A-Z][a-z]+", name) and name.lower() not in WORDS_LOWER
        # every capitalised token that is not a vocabulary word is one of these names
        caps = {t for t in tokenize_words(rec["text"]) if t[0].isupper() and t.lower() not in WORDS_LOWER}
        assert caps == names and {a, b} <= names
        seen += sorted(names)
    assert len(set(seen)) > 0.95 * len(seen)  # almost never the same name twice across instances


def test_distractors_and_entity_budget():
    for rec in TASK.generate(100, seed=2, difficulty=(2, 5), distractors=(0, 0)):
        assert len(read_record(rec)[0]) == rec["hops"]  # only the chain
    for rec in TASK.generate(100, seed=2, difficulty=(2, 5), distractors=3):
        assert len(read_record(rec)[0]) == rec["hops"] + 3
    for rec in TASK.generate(100, seed=2, difficulty=(4, 4), distractors=(20, 30), max_entities=8):
        facts, _, _ = read_record(rec)
        assert len({p for x, _, y, _ in facts for p in (x, y)}) <= 8
        assert bfs_hops(facts, *read_record(rec)[1:]) == 4


def test_bad_options():
    with pytest.raises(ValueError, match="unknown option 'distractor'"):
        get_task("text", distractor=(1, 2))
    with pytest.raises(ValueError, match="difficulty"):
        TASK.generate(1, 0, (0, 3))
    with pytest.raises(ValueError, match="distractors"):
        TASK.generate(1, 0, (1, 3), distractors=(3, 1))
    with pytest.raises(ValueError, match="max_entities"):
        TASK.generate(1, 0, (1, 9), max_entities=5)


# ---- encoding -----------------------------------------------------------------------------------


def test_encode_format():
    records = TASK.generate(40, seed=9, difficulty=(1, 6))
    batch = TASK.encode(records)
    inp = batch.inputs
    assert set(inp) == {"tokens", "entity", "position", "segment", "sentence", "relation", "mask"}
    B, L = inp["tokens"].shape
    assert B == 40 and all(v.shape == (B, L) for v in inp.values())
    assert inp["mask"].dtype == torch.bool
    assert all(v.dtype == torch.long for k, v in inp.items() if k != "mask")
    assert batch.labels.tolist() == [CLASSES.index(r["answer"]) for r in records]
    assert batch.difficulty.tolist() == [r["hops"] for r in records]
    assert (inp["tokens"][:, 0] == TEXT_VOCAB.index("<cls>")).all() and (inp["segment"][:, 0] == 1).all()
    assert (inp["tokens"][~inp["mask"]] == 0).all() and (inp["segment"][~inp["mask"]] == 0).all()
    for i, rec in enumerate(records):
        words = ["<cls>"] + tokenize_words(rec["text"]) + tokenize_words(rec["question"])
        n = len(words)
        assert int(inp["mask"][i].sum()) == n
        keys = ("tokens", "entity", "position", "segment", "sentence")
        tok, ent, pos, seg, sent = (inp[k][i, :n].tolist() for k in keys)
        n_text = 1 + len(tokenize_words(rec["text"]))
        assert seg == [1] + [2] * (n_text - 1) + [3] * (n - n_text)
        slot_of: dict[str, int] = {}
        for j, w in enumerate(words[1:], start=1):
            if w[0].isupper() and w.lower() not in WORDS_LOWER:
                assert tok[j] == TEXT_VOCAB.index("<name>")
                assert ent[j] == slot_of.setdefault(w, len(slot_of) + 1)  # first-occurrence numbering
            else:
                assert tok[j] == TEXT_VOCAB.index(w.lower()) and ent[j] == 0
            starts = j == 1 or words[j - 1] in ".?"
            assert (pos[j] == 0) == starts and (not starts or sent[j] == sent[j - 1] + 1)
            assert starts or (sent[j] == sent[j - 1] and pos[j] == pos[j - 1] + 1)
        assert sent[-1] == rec["text"].count(".") + 1  # the question is the last sentence
        q_names = [w for w in tokenize_words(rec["question"]) if w in slot_of]
        assert len(q_names) == 2 and all(w in rec["text"] for w in q_names)  # question shares text's slots


def test_relation_labels_and_node_targets():
    """``relation`` marks every name token of a person with their relation to B (A's = the answer's
    kind), nothing else; node_targets allows both gendered words of it; text outside the templates
    gets no labels."""
    records = TASK.generate(30, seed=11, difficulty=(1, 5))
    inp = TASK.encode(records).inputs
    rel = inp["relation"]
    assert ((rel == 0) | (inp["entity"] > 0)).all()
    for i, rec in enumerate(records):
        facts, a, b = read_record(rec)
        want = relations_to(facts, b, rec["hops"])
        assert all(bfs_hops(facts, p, b) <= rec["hops"] for p in want)
        words = ["<cls>"] + tokenize_words(rec["text"]) + tokenize_words(rec["question"])
        for j, w in enumerate(words):
            assert rel[i, j] == (1 + KINDS.index(want[w]) if w in want else 0)
        assert want[a] == KIND_OF_WORD[rec["answer"]]
    allowed = node_targets(inp)
    assert allowed.shape == (*rel.shape, len(CLASSES))
    assert (allowed.sum(-1) == torch.where(rel > 0, 2, 0)).all()
    i, j = (rel == 1 + KINDS.index("aunt")).nonzero()[0].tolist()
    assert {CLASSES[c] for c in allowed[i, j].nonzero()[:, 0].tolist()} == {"aunt", "uncle"}
    prose = {**GOOD, "text": "Ann adores her brother Tom.", "hops": 1}
    assert (TASK.encode([prose]).inputs["relation"] == 0).all()


def test_encode_unknown_words_unseen_names_and_longer_texts():
    rec = {
        "task": "text",
        "text": "Zorblax is the mother of Quentin-Ray. Quentin-Ray adores pizza, and Zorblax knows 3 jokes",
        "question": "How is Zorblax related to Quentin-Ray?",
        "answer": "mother",
        "hops": 1,
    }
    long = TASK.generate(1, seed=1, difficulty=(12, 12), distractors=(25, 25))[0]
    batch = TASK.encode([rec, long])
    words = ["<cls>"] + tokenize_words(rec["text"]) + tokenize_words(rec["question"])
    toks = batch.inputs["tokens"][0, : len(words)].tolist()
    expect = {"Zorblax": "<name>", "Quentin-Ray": "<name>"}
    expect.update(dict.fromkeys(["adores", "pizza", "knows", "3", "jokes"], "<unk>"))
    for w, t in zip(words, toks):
        assert TEXT_VOCAB[t] == expect.get(w, w.lower())
    ents = batch.inputs["entity"][0, : len(words)].tolist()
    assert {e for w, e in zip(words, ents) if w == "Zorblax"} == {1}
    assert {e for w, e in zip(words, ents) if w == "Quentin-Ray"} == {2}
    # no final period: the question still starts a new sentence at position 0
    q0 = 1 + len(tokenize_words(rec["text"]))
    assert batch.inputs["position"][0, q0] == 0 and batch.inputs["sentence"][0, q0] == 3
    assert batch.inputs["mask"][1].sum() > 150 and batch.difficulty.tolist() == [1, 12]


def test_too_many_names_is_a_data_error():
    letters = [chr(97 + i // 26) + chr(97 + i % 26) for i in range(40)]
    text = " ".join(f"Aa{x} is the son of Bb{x[1]}." for x in letters)
    rec = {"task": "text", "text": text, "question": "What is Aaaa to Bba?", "answer": "son", "hops": 1}
    with pytest.raises(DataError, match="max_entities=64"):
        TASK.encode([rec, rec])
    get_task("text", max_entities=80).encode([rec])


def test_sample_batch_uses_options():
    task = get_task("text", distractors=(0, 0))
    batch = task.sample_batch(16, np.random.default_rng(0), (2, 3))
    assert len(batch) == 16 and set(batch.difficulty.tolist()) <= {2, 3}
    assert int(batch.inputs["sentence"].max()) <= 4  # 2-3 facts + the question


# ---- validation and difficulty_of ---------------------------------------------------------------
GOOD = {
    "task": "text",
    "text": "Ann is Tom's sister.",
    "question": "How is Ann related to Tom?",
    "answer": "sister",
    "hops": 1,
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"text": None}, "missing key 'text'"),
        ({"question": None}, "missing key 'question'"),
        ({"text": 3}, "'text' must be a string"),
        ({"text": "  "}, "'text' is empty"),
        ({"answer": "cousin"}, "one of: mother, father"),
        ({"hops": 0}, "'hops' must be a positive integer or null"),
        ({"hops": "2"}, "'hops' must be a positive integer or null"),
        ({"hops": True}, "'hops' must be a positive integer or null"),
        ({"task": "graph"}, "'task' must be 'text'"),
    ],
)
def test_validate_rejects_malformed_records(change, message):
    rec = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(DataError, match=re.escape(message)):
        TASK.validate(rec)


def test_difficulty_of_parses_templates_and_asks_for_hops_otherwise():
    TASK.validate(GOOD)
    assert TASK.difficulty_of({**GOOD, "hops": None}) == 1
    text = "Ann is Tom's sister. Tom has a son named Leo. Leo and Mia are siblings."
    chain = {**GOOD, "text": text, "question": "What is Ann to Mia?", "answer": "aunt"}
    del chain["hops"]
    assert TASK.difficulty_of(chain) == 3
    with pytest.raises(DataError, match="'hops' is required"):
        TASK.difficulty_of({**GOOD, "text": "Ann adores her brother Tom.", "hops": None})
    with pytest.raises(DataError, match="do not link"):
        TASK.difficulty_of({**GOOD, "text": "Ann is Bo's sister. Tom is Cy's son.", "hops": None})
