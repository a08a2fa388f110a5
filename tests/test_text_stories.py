"""Long, tangled kinship stories: the ``story`` option of the text generator and the independent
family-story generator (``tasks/external/text_stories.py``), both checked against resolvers of
their own:

* union-find over the stated facts (``tests/test_text.fact_world``) and the generating tree;
* a path resolver: every simple chain of stated facts from A to B, as a word of basic relations,
  rewritten to a normal form by rules of its own (a sibling's child is a child, ...). All chains
  must give the same relation, the answer's; so the cycles the stories contain never make it
  ambiguous;
* hops: breadth-first search over the stated facts (``tests/test_text.bfs_hops``).
"""

from __future__ import annotations

import json
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from loopthink.tasks import get_task
from loopthink.tasks.external.text_stories import FAMILIES, SHAPES
from loopthink.tasks.text import TextTask, relations_to
from tests.test_text import bfs_hops, fact_world, read_record, tree_world

TASK = TextTask()
STORY = {"people": [20, 30], "facts": [30, 50]}

# ---- a path resolver ----------------------------------------------------------------------------
# "p0 r1 p1 r2 p2": p0 is the r1 of p1, p1 the r2 of p2. Two steps in one family unit merge into
# one (monogamous couples, no half-siblings); what is left names the relation or has no word here.
MERGE = {
    ("sibling", "sibling"): "sibling", ("sibling", "child"): "child", ("spouse", "parent"): "parent",
    ("parent", "sibling"): "parent", ("child", "spouse"): "child", ("child", "parent"): "sibling",
    ("parent", "child"): "spouse",
}  # fmt: skip
NAMED = {
    ("parent",): "parent", ("child",): "child", ("sibling",): "sibling", ("spouse",): "spouse",
    ("parent", "parent"): "grandparent", ("child", "child"): "grandchild",
    ("sibling", "parent"): "aunt", ("spouse", "sibling", "parent"): "aunt",
    ("child", "sibling"): "niece", ("child", "sibling", "spouse"): "niece",
    ("parent", "spouse"): "parent-in-law", ("spouse", "child"): "child-in-law",
    ("spouse", "sibling"): "sibling-in-law", ("sibling", "spouse"): "sibling-in-law",
}  # fmt: skip
WORD_KIND = {
    "mother": "parent", "father": "parent", "daughter": "child", "son": "child", "sister": "sibling",
    "brother": "sibling", "wife": "spouse", "husband": "spouse", "grandmother": "grandparent",
    "grandfather": "grandparent", "granddaughter": "grandchild", "grandson": "grandchild", "aunt": "aunt",
    "uncle": "aunt", "niece": "niece", "nephew": "niece", "mother-in-law": "parent-in-law",
    "father-in-law": "parent-in-law", "daughter-in-law": "child-in-law", "son-in-law": "child-in-law",
    "sister-in-law": "sibling-in-law", "brother-in-law": "sibling-in-law",
}  # fmt: skip
INVERSE = {"parent": "child", "child": "parent", "sibling": "sibling", "spouse": "spouse"}


def normal_form(word: list[str]) -> str | None:
    word = list(word)
    merged = True
    while merged:
        merged = False
        for i in range(len(word) - 1):
            if (word[i], word[i + 1]) in MERGE:
                word[i : i + 2] = [MERGE[word[i], word[i + 1]]]
                merged = True
                break
    return NAMED.get(tuple(word))


def chain_relations(facts: list, a: str, b: str, extra: int = 2, limit: int = 300) -> set[str | None]:
    """The relation every simple chain of at most shortest + ``extra`` facts from A to B names."""
    g = nx.Graph()
    for x, kind, y, _ in facts:
        g.add_edge(x, y, said={(x, y): kind, (y, x): INVERSE[kind]})
    cutoff = nx.shortest_path_length(g, a, b) + extra
    found = set()
    for n, path in enumerate(nx.all_simple_paths(g, a, b, cutoff=cutoff)):
        if n == limit:
            break
        found.add(normal_form([g.edges[u, v]["said"][u, v] for u, v in zip(path, path[1:])]))
    return found


def gender_of(facts: list, name: str) -> str | None:
    return next((g for x, _, _, g in facts if x == name and g), None)


def check_record(rec: dict) -> list:
    """The checks every story must pass; returns its parsed facts."""
    facts, a, b = read_record(rec)
    assert bfs_hops(facts, a, b) == rec["hops"]
    assert TASK.difficulty_of({**rec, "hops": None}) == rec["hops"]
    assert fact_world(facts).relations(a, b) == {rec["answer"]}, rec
    assert chain_relations(facts, a, b) == {WORD_KIND[rec["answer"]]}, rec
    assert gender_of(facts, a) == ("f" if rec["answer"] in FEMALE_WORDS else "m")
    TASK.validate(rec)
    TASK.verify(rec)  # the module's own composition agrees
    return facts


FEMALE_WORDS = {w for w in WORD_KIND if w in ("mother", "daughter", "sister", "wife", "grandmother", "granddaughter",
                "aunt", "niece", "mother-in-law", "daughter-in-law", "sister-in-law")}  # fmt: skip


def has_cycle(facts: list) -> bool:
    g = nx.Graph((x, y) for x, _, y, _ in facts)
    return g.number_of_edges() > g.number_of_nodes() - nx.number_connected_components(g)


# ---- the story option ---------------------------------------------------------------------------


def test_path_resolver_on_known_chains():
    assert normal_form(["sibling", "child", "child"]) == "grandchild"  # a sibling's child's child
    assert normal_form(["spouse", "sibling", "parent"]) == "aunt"
    assert normal_form(["child", "parent", "parent"]) == "aunt"  # a child of a parent of B's parent
    assert normal_form(["parent", "child", "sibling"]) == "sibling-in-law"  # the other parent's sibling
    assert normal_form(["spouse", "sibling", "spouse"]) is None  # a spouse's sibling's spouse: no word
    assert normal_form(["child", "sibling", "parent"]) is None  # a cousin: no word here


@pytest.mark.parametrize("hops", range(1, 9))
def test_stories_are_long_tangled_and_unambiguous(hops):
    records = TASK._generate_with_tree(40, seed=100 + hops, difficulty=(hops, hops), story=STORY)
    cyclic = 0
    for rec, inst, names in records:
        assert rec["hops"] == hops
        facts = check_record(rec)
        assert tree_world(inst.family).relations(inst.chain[0], inst.chain[-1]) == {rec["answer"]}
        person = {v: k for k, v in names.items()}
        for holder, kind, other, _ in facts:  # every sentence is true of the tree
            assert inst.family.kind(person[holder], person[other]) == kind, rec
        people = {p for x, _, y, _ in facts for p in (x, y)}
        assert len(people) <= 30 and len(facts) <= 50
        assert len(people) >= min(20, len(facts))  # the budget of people is spent
        cyclic += has_cycle(facts)
    assert cyclic >= 0.8 * len(records)


def test_every_persons_relation_to_b_in_a_story_agrees_with_the_tree():
    """The every-node loss's labels (relations_to) stay right when chains to B branch and rejoin."""
    labelled = 0
    for rec, inst, names in TASK._generate_with_tree(20, seed=7, difficulty=(2, 6), story=STORY):
        facts, _, name_b = read_record(rec)
        world, person = tree_world(inst.family), {v: k for k, v in names.items()}
        for name, kind in relations_to(facts, name_b).items():
            words = world.relations(person[name], inst.chain[-1])
            assert {WORD_KIND[w] for w in words} == {kind}, (rec, name, words)
            assert chain_relations(facts, name, name_b, extra=1, limit=50) == {kind}, (rec, name)
        labelled += len(relations_to(facts, name_b))
    assert labelled >= 20 * 8


def test_stories_state_both_parents_spouses_and_siblings_in_cycles():
    triangles = Counter()
    sizes = []
    for rec in TASK.generate(60, seed=3, difficulty=(1, 6), story=STORY):
        facts, _, _ = read_record(rec)
        sizes.append(len(facts))
        kinds = {frozenset((x, y)): kind for x, kind, y, _ in facts}
        g = nx.Graph(list(kinds))
        for tri in (c for c in nx.enumerate_all_cliques(g) if len(c) == 3):
            pair_kinds = sorted(kinds[frozenset(p)] for p in ((tri[0], tri[1]), (tri[0], tri[2]), (tri[1], tri[2])))
            triangles[tuple(pair_kinds)] += 1
    assert triangles[("child", "child", "spouse")] + triangles[("parent", "parent", "spouse")] > 0  # both parents
    assert any("sibling" in t for t in triangles)
    assert np.mean(sizes) > 30 and max(sizes) >= 45


def test_story_share_mixes_with_todays_instances_and_zero_keeps_them():
    plain = TASK.generate(30, seed=8, difficulty=(1, 4))
    assert json.dumps(TASK.generate(30, seed=8, difficulty=(1, 4), story={**STORY, "share": 0})) == json.dumps(plain)
    mixed = TASK.generate(300, seed=8, difficulty=(1, 4), story={"people": 20, "facts": 30, "share": 0.5})
    long = sum(len(read_record(r)[0]) > 12 for r in mixed)  # today's: at most 4 + 6 facts
    assert 100 < long < 200
    for rec in mixed[:60]:
        check_record(rec)


def test_story_option_trains_through_sample_batch_and_rejects_bad_values():
    task = get_task("text", story={"people": [10, 12], "facts": 16})
    batch = task.sample_batch(8, np.random.default_rng(0), (2, 3))
    assert set(batch.difficulty.tolist()) <= {2, 3} and int(batch.inputs["entity"].max()) >= 10
    assert int(batch.inputs["sentence"].max()) >= 16  # 16 facts (fewer only if no fact fits) + question
    for bad, message in [
        ({"people": [5, 3]}, "story.people"),
        ({"facts": 0}, "story.facts"),
        ({"share": 2}, "story.share"),
        ({"persons": 3}, "keys 'people'"),
        ([1, 2], "mapping"),
    ]:
        with pytest.raises(ValueError, match=message):
            TASK.generate(1, 0, (1, 2), story=bad)


# ---- the independent family-story generator -----------------------------------------------------


@pytest.mark.parametrize("family", sorted(SHAPES))  # the noisy ones: tests/test_text_noise.py
def test_external_families_are_true_unambiguous_and_encodable(family):
    records = FAMILIES[family](40, 1, (1, 8))
    assert len(records) >= 20 and records == FAMILIES[family](40, 1, (1, 8))  # seeded
    for rec in records:
        assert rec["family"] == family and 1 <= rec["hops"] <= 8
        facts = check_record(rec)
        assert len({p for x, _, y, _ in facts for p in (x, y)}) <= SHAPES[family].max_people
    batch = TASK.encode(records)  # names become slots and every word is a vocabulary word
    words = batch.inputs["tokens"][batch.inputs["mask"]]
    assert not (words == TASK.vocab.index("<unk>")).any()


def test_external_families_reach_long_chains_and_cycles():
    rec = FAMILIES["with_spouses"](16, 2, (5, 8))
    assert {r["hops"] for r in rec} == {5, 6, 7, 8}
    assert np.mean([len(read_record(r)[0]) for r in rec]) > 20
    both = FAMILIES["both_parents"](40, 2, (1, 6))
    assert sum(has_cycle(read_record(r)[0]) for r in both) > 30


def test_the_text_stories_config_trains_on_a_mixture_of_short_and_tangled_stories():
    from contextlib import nullcontext
    from pathlib import Path

    from loopthink.config import load_config
    from loopthink.model import build_model
    from loopthink.training.batches import sample_training_batch
    from loopthink.training.losses import accumulate_gradients

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "variants" / "text_stories.yaml")
    task = get_task("text", **cfg.task.options)
    batch = sample_training_batch(task, cfg, np.random.default_rng(0), (1, 4))
    facts = (batch.inputs["sentence"].amax(1) - 1).tolist()  # the question is the last sentence
    assert sum(f > 10 for f in facts) > 0.1 * len(facts) and sum(f <= 10 for f in facts) > 0.5 * len(facts)
    model = build_model(cfg, task)
    loss, _ = accumulate_gradients(model, batch, 2, cfg.train, np.random.default_rng(0), nullcontext(), task)
    assert np.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
