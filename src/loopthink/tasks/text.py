"""Multi-hop kinship reasoning in prose (CLUTRR-like): "How is A related to B?".

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "text", "text": "Ann is the sister of Tom. Tom's daughter is Liv.",
     "question": "How is Ann related to Liv?", "answer": "aunt", "hops": 2}

``answer`` is one of :data:`CLASSES` (A's relation to B). ``hops`` is the length of the shortest
chain of stated facts linking A and B (people are nodes, each fact sentence an edge); it may be
null or absent for text in the generator's templates, where :meth:`TextTask.difficulty_of`
parses the facts back. Sentences with no kinship word state no fact (the ``noise`` option writes
them, ``text_noise.py``; CLUTRR's irrelevant and disconnected sentences, Sinha et al. 2019): they
never count towards ``hops``. Generated records with noise carry ``noise``, their number. The
family model and the relation words are described in ``kinship.py``.

Generated text is worded with the templates of :mod:`loopthink.tasks.text_templates`; its words
and names are in :mod:`loopthink.tasks.text_vocab`. Distractors are true facts about the same
tree that never shorten the chain. Names are random pronounceable syllable strings (millions
possible), never vocabulary words, distinct within an instance.

Encoded inputs (``Batch.inputs``), all long ``(B, L)`` except ``mask``; ``L`` = longest instance:

* ``tokens``: ids into :data:`TEXT_VOCAB`; index 0 is ``<cls>``, then the text, then the
  question; padding 0. A capitalised word whose lower case is not a vocabulary word is a name
  (``<name>``); any other unknown word is ``<unk>`` (so "The" is a word, "Zorblax" a name);
* ``entity``: 0, or the name's slot ``1..E`` numbered by first occurrence (the same name has the
  same slot everywhere, the question included); more than ``max_entities`` names is a DataError;
* ``position``: index of the token within its sentence (0 at each sentence start and at ``<cls>``);
* ``segment``: 0 pad, 1 ``<cls>``, 2 text, 3 question;
* ``sentence``: sentence number ``1..S`` in text order, the question last; 0 for ``<cls>``/pad.
  Sentences end at ``.``, ``?`` or ``!``; sentence order carries no signal in generated data;
* ``mask``: bool, True on real tokens;
* ``relation``: on every name token, 1 + the index in :data:`KINDS` of that person's relation to
  B (the question's second name) when the facts link them by at most as many facts as link A to B
  and the relation has a word; else 0.
  Read from text in the generator's templates (:func:`relations_to`), all 0 for other text. Only
  the every-node training loss (``train.node_loss``) uses it; the model never sees it.
"""

from __future__ import annotations

import random
from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks.base import MAX_TEXT_CHARS, Batch, DataError, Task, mismatch
from loopthink.tasks.kinship import FEMALE, MALE, WORDS, Instance, relations_to, shortest_chain
from loopthink.tasks.kinship_sampling import sample_instance, sample_story
from loopthink.tasks.text_noise import add_noise
from loopthink.tasks.text_templates import parse_facts, parse_question, read_facts, word_instance
from loopthink.tasks.text_vocab import (
    CLASSES,
    CLS,
    KIND_CLASSES,
    KINDS,
    NAME,
    SENTENCE_END,
    TEXT_VOCAB,
    random_name,
    token_id,
    tokenize_words,
)

_SEG_CLS, _SEG_TEXT, _SEG_QUESTION = 1, 2, 3


# ---- the task -----------------------------------------------------------------------------------


class TextTask(Task):
    name: ClassVar[str] = "text"
    classes: ClassVar[tuple[str, ...]] = CLASSES
    difficulty_name: ClassVar[str] = "hops"
    interface: ClassVar[str] = "prose"
    vocab: ClassVar[tuple[str, ...]] = TEXT_VOCAB
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "distractors": (0, 64),
        "max_entities": (2, 1024),
        "noise": (0, 64),
        "two_person_share": (0, 1),
    }

    def generate(  # type: ignore[override]
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int] = (1, 4),
        *,
        distractors: int | tuple[int, int] = (2, 6),
        max_entities: int = 64,
        story: dict | None = None,
        noise: int | tuple[int, int] = (0, 0),
        two_person_share: float = 0.5,
    ) -> list[dict]:
        """``n`` records with ``hops`` uniform in ``difficulty``.

        ``distractors``: distractor facts per instance, uniform in ``(lo, hi)`` or a fixed int (fewer
        when the instance would name more than ``max_entities`` people). ``max_entities`` also
        bounds :meth:`encode`. The answer is uniform over the relations possible at the drawn hops
        (8 at one hop, all 22 from two hops on).

        ``story``: ``{"people": [lo, hi], "facts": [lo, hi], "share": s}`` (ints or ranges; defaults
        30, 50 and 1.0) makes a share ``s`` of the instances long, tangled stories instead of a chain
        with ``distractors``: up to that many people and facts, with redundant facts that close cycles
        (both parents of a child, a couple, siblings), none shortening the chain
        (``kinship.sample_story``).

        ``noise``: sentences that state no kinship fact per instance, uniform in ``(lo, hi)`` or a
        fixed int, at random places (``text_noise.py``); a share ``two_person_share`` of them name
        two people. Records then carry ``noise``, their count. They are drawn from a stream of their
        own, so with noise each record is the record without noise plus those sentences, and
        ``(0, 0)`` (the default) leaves the records as they were.
        """
        noisy = (noise, two_person_share)
        return [out[0] for out in self._generate_with_tree(n, seed, difficulty, distractors, max_entities, story, noisy)]

    def _generate_with_tree(
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int],
        distractors: int | tuple[int, int] = (2, 6),
        max_entities: int = 64,
        story: dict | None = None,
        noise: tuple[int | tuple[int, int], float] = ((0, 0), 0.5),
    ) -> list[tuple[dict, Instance, dict[int, str]]]:
        """Records with the instance behind each (tree, chain, facts) and the names of its people;
        ``noise`` is ``(noise, two_person_share)`` of :meth:`generate`."""
        lo, hi = _check_range("difficulty (hops)", difficulty, 1)
        if isinstance(distractors, int):
            distractors = (distractors, distractors)
        d_lo, d_hi = _check_range("distractors", distractors, 0)
        if max_entities < hi + 1:
            raise ValueError(f"max_entities={max_entities} is too small: {hi} hops need {hi + 1} names")
        people, facts, share = _story_ranges(story) if story is not None else ((0, 0), (0, 0), 0.0)
        (n_lo, n_hi), two_share = _noise_options(*noise)
        rng, noise_rng = random.Random(seed), random.Random(f"noise:{seed}")
        out = []
        for _ in range(n):
            hops = rng.randint(lo, hi)
            if share == 0 or rng.random() >= share:
                inst = sample_instance(rng, hops, rng.randint(d_lo, d_hi), max_entities)
            else:
                inst = sample_story(rng, hops, rng.randint(*people), rng.randint(*facts), max_entities)
            names = _assign_names(inst, rng)
            rec = word_instance(inst, names, rng)
            if n_hi > 0:
                count = noise_rng.randint(n_lo, n_hi)
                rec = add_noise(rec, list(names.values()), noise_rng, count, two_share, max_entities)
            out.append((rec, inst, names))
        return out

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        max_entities = int(self.options.get("max_entities", 64))
        rows = [_encode_one(rec["text"], rec["question"], max_entities, _relation_ids(rec)) for rec in records]
        width = max(len(r[0]) for r in rows)
        arrays = np.zeros((len(rows[0]), len(rows), width), dtype=np.int64)  # rows as in _encode_one
        for i, row in enumerate(rows):
            arrays[:, i, : len(row[0])] = row
        names = ("tokens", "entity", "position", "segment", "sentence", "relation")
        inputs = {k: torch.from_numpy(arrays[j]) for j, k in enumerate(names)}
        inputs["mask"] = inputs["segment"] > 0
        labels = torch.tensor([CLASSES.index(rec["answer"]) for rec in records], dtype=torch.long)
        difficulty = torch.tensor([self.difficulty_of(rec) for rec in records], dtype=torch.long)
        return Batch(inputs, labels, difficulty)

    def validate(self, record: dict) -> None:
        if record.get("task", "text") != "text":
            raise DataError(f"'task' must be 'text', got {record.get('task')!r}")
        for key in ("text", "question", "answer"):
            if key not in record:
                raise DataError(f"missing key {key!r}")
            if not isinstance(record[key], str):
                raise DataError(f"{key!r} must be a string, got {type(record[key]).__name__} {record[key]!r}")
            if not record[key].strip():
                raise DataError(f"{key!r} is empty")
        if len(record["text"]) + len(record["question"]) > MAX_TEXT_CHARS:
            raise DataError(f"'text' and 'question' have more than {MAX_TEXT_CHARS} characters together")
        if record["answer"] not in CLASSES:
            known = ", ".join(CLASSES)
            raise DataError(f"'answer' {record['answer']!r} is not a known relation; one of: {known}")
        hops = record.get("hops")
        if hops is not None and (type(hops) is not int or not 1 <= hops <= MAX_TEXT_CHARS):
            raise DataError(f"'hops' must be a positive integer or null, got {hops!r}")

    def node_targets(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return node_targets(inputs)

    def verify(self, record: dict) -> None:
        """``answer`` and ``hops`` against the stated facts: A's relation to B composed along the
        family units that link them, in the word for A's stated gender. Text outside the
        generator's templates cannot be read back and is not checked; sentences without a kinship word
        state no fact and are skipped (:func:`read_facts`), unless then nothing links A and B."""
        try:
            a, b = parse_question(record["question"])
            facts, skipped = read_facts(record["text"])
        except DataError:
            return
        hops = shortest_chain([(x, y) for x, _, y, _ in facts], a, b)
        if hops is None and skipped:
            return  # prose with a tie the word list misses ("Tom wed Ann."): not read back, as above
        if hops is None:
            raise DataError(f"the stated facts do not link {a} and {b}")
        if record.get("hops") is not None and record["hops"] != hops:
            raise mismatch("hops", record["hops"], hops, "the shortest chain of stated facts")
        kind = relations_to(facts, b).get(a)
        if kind is None:
            raise DataError(f"the stated facts make {a}'s relation to {b} one with no word here")
        genders = {g for x, _, _, g in facts if x == a and g is not None}
        words = [WORDS[kind][(FEMALE, MALE).index(g)] for g in genders] if len(genders) == 1 else list(WORDS[kind])
        if record["answer"] not in words:
            raise mismatch("answer", record["answer"], " or ".join(words), "composing the stated facts")

    def size_of(self, record: dict) -> int:
        return len(record["text"].split()) + len(record["question"].split())  # about a token per word

    def difficulty_of(self, record: dict) -> int:
        """``hops``, or the shortest chain of stated facts when the text is in the generator's templates."""
        if record.get("hops") is not None:
            return int(record["hops"])
        a, b = parse_question(record["question"])
        edges = [(x, y) for x, _, y, _ in parse_facts(record["text"])]
        hops = shortest_chain(edges, a, b)
        if hops is None:
            raise DataError(f"the stated facts do not link {a} and {b}; 'hops' cannot be computed")
        return hops


# ---- generation helpers ------------------------------------------------------------------------


def _check_range(what: str, pair: tuple[int, int], least: int) -> tuple[int, int]:
    lo, hi = (int(x) for x in pair)
    if not least <= lo <= hi:
        raise ValueError(f"{what} must satisfy {least} <= lo <= hi, got {tuple(pair)}")
    return lo, hi


def _noise_options(noise: int | tuple[int, int], two_person_share: float) -> tuple[tuple[int, int], float]:
    lo, hi = _check_range("noise", (noise, noise) if isinstance(noise, int) else noise, 0)
    if not isinstance(two_person_share, (int, float)) or not 0 <= two_person_share <= 1:
        raise ValueError(f"two_person_share must be a number in [0, 1], got {two_person_share!r}")
    return (lo, hi), float(two_person_share)


def _story_ranges(story: dict) -> tuple[tuple[int, int], tuple[int, int], float]:
    """``(people, facts, share)`` of the ``story`` option."""
    if not isinstance(story, dict) or set(story) - {"people", "facts", "share"}:
        raise ValueError(f"story must be a mapping with keys 'people', 'facts', 'share', got {story!r}")
    share = story.get("share", 1.0)
    if not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ValueError(f"story.share must be a number in [0, 1], got {share!r}")

    def span(key: str, default: int) -> tuple[int, int]:
        value = story.get(key, default)
        return _check_range(f"story.{key}", (value, value) if isinstance(value, int) else value, 1)

    return span("people", 30), span("facts", 50), float(share)


def _assign_names(inst: Instance, rng: random.Random) -> dict[int, str]:
    """Distinct random names for the people the facts mention."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for pair in inst.facts:
        for p in pair:
            if p not in names:
                name = random_name(rng)
                while name in used:
                    name = random_name(rng)
                used.add(name)
                names[p] = name
    return names


# ---- encoding -----------------------------------------------------------------------------------


def _encode_one(text: str, question: str, max_entities: int, relation_of: dict[str, int]) -> list[list[int]]:
    """Rows ``[tokens, entity, position, segment, sentence, relation]`` of one instance."""
    tokens, entity, position, segment, sentence, relation = [CLS], [0], [0], [_SEG_CLS], [0], [0]
    slots: dict[str, int] = {}
    n_sent = 0
    for seg, string in ((_SEG_TEXT, text), (_SEG_QUESTION, question)):
        pos = 0  # the question starts a new sentence even if the text lacks a final period
        for tok in tokenize_words(string):
            if pos == 0:
                n_sent += 1
            tid = token_id(tok)
            slot = 0
            if tid == NAME:
                slot = slots.setdefault(tok, len(slots) + 1)
                if slot > max_entities:
                    raise DataError(f"more than max_entities={max_entities} distinct names in one instance")
            tokens.append(tid)
            entity.append(slot)
            position.append(pos)
            segment.append(seg)
            sentence.append(n_sent)
            relation.append(relation_of.get(tok, 0) if slot else 0)
            pos = 0 if tok in SENTENCE_END else pos + 1
    return [tokens, entity, position, segment, sentence, relation]


def _relation_ids(record: dict) -> dict[str, int]:
    """Name -> 1 + index in KINDS of that person's relation to B, for people
    at most as far from B as A is (so a model trained on hops <= 4 is never supervised on a longer
    chain); {} when the text is not in the generator's templates (the every-node loss then has
    nothing to supervise here)."""
    try:
        a, b = parse_question(record["question"])
        facts = parse_facts(record["text"])
    except DataError:
        return {}
    hops = shortest_chain([(x, y) for x, _, y, _ in facts], a, b)
    if hops is None:
        return {}
    return {name: 1 + KINDS.index(kind) for name, kind in relations_to(facts, b, hops).items()}


# ---- the every-node labels ---------------------------------------------------------------------


def node_targets(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, L, classes): the words each token's state should read as, for the every-node loss —
    both of a labelled person's kind (their gender need not be stated); none on other tokens."""
    rel = inputs["relation"]
    allowed = torch.zeros(*rel.shape, len(CLASSES), dtype=torch.bool, device=rel.device)
    pairs = KIND_CLASSES.to(rel.device)[(rel - 1).clamp(min=0)]  # (B, L, 2)
    allowed.scatter_(-1, pairs, (rel > 0)[..., None].expand_as(pairs))
    return allowed
