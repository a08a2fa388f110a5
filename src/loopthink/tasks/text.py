"""Multi-hop kinship reasoning in prose (CLUTRR-like): "How is A related to B?".

Record (one JSONL line; extra keys are allowed and ignored)::

    {"task": "text", "text": "Ann is the sister of Tom. Tom's daughter is Liv.",
     "question": "How is Ann related to Liv?", "answer": "aunt", "hops": 2}

``answer`` is one of :data:`CLASSES` (A's relation to B). ``hops`` is the length of the shortest
chain of stated facts linking A and B (people are nodes, each fact sentence an edge); it may be
null or absent for text in the generator's templates, where :meth:`TextTask.difficulty_of`
parses the facts back. The family model and the relation words are described in ``kinship.py``.

Generated text: facts in random order, each worded from either side with one of several
templates ("Ann is the sister of Tom.", "Tom's sister is Ann.", "Tom has a sister named Ann.",
"Ann and Tom are siblings.", ...). The gender of A is always stated (the answer needs it); no
other gender is needed. Distractors are true facts about the same tree that never shorten the
chain. Names are random pronounceable syllable strings (millions possible), never vocabulary
words, distinct within an instance.

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
import re
from typing import ClassVar

import numpy as np
import torch

from loopthink.tasks.base import MAX_TEXT_CHARS, Batch, DataError, Task, mismatch
from loopthink.tasks.kinship import (
    BASIC_KINDS,
    CHILD,
    FEMALE,
    MALE,
    PARENT,
    SIBLING,
    SPOUSE,
    WORDS,
    Fact,
    Instance,
    pick,
    relations_to,
    sample_instance,
    sample_story,
    shortest_chain,
    shuffle,
)

CLASSES: tuple[str, ...] = (
    "mother", "father", "sister", "brother", "daughter", "son", "wife", "husband",
    "grandmother", "grandfather", "aunt", "uncle", "niece", "nephew", "mother-in-law", "father-in-law",
    "granddaughter", "grandson", "daughter-in-law", "son-in-law", "sister-in-law", "brother-in-law",
)  # fmt: skip
assert sorted(CLASSES) == sorted(w for pair in WORDS.values() for w in pair)
KINDS: tuple[str, ...] = tuple(WORDS)  # ``relation`` input: 0 = no label, 1 + index here
# per kind: the class indices of its (female, male) words
KIND_CLASSES = torch.tensor([[CLASSES.index(w) for w in WORDS[k]] for k in KINDS])

# Fixed forever: checkpoints index their embeddings by it. New words go at the end.
TEXT_VOCAB: tuple[str, ...] = (
    "<pad>", "<cls>", "<unk>", "<name>",
    ".", "?", "!", ",", "'s",
    "a", "and", "are", "child", "has", "how", "is", "married", "named", "of", "parent", "related",
    "siblings", "the", "to", "what",
    *CLASSES,
)  # fmt: skip
PAD, CLS, UNK, NAME = 0, 1, 2, 3
_INDEX = {w: i for i, w in enumerate(TEXT_VOCAB)}
_SENTENCE_END = frozenset({".", "?", "!"})
_SEG_CLS, _SEG_TEXT, _SEG_QUESTION = 1, 2, 3

# ---- templates ----------------------------------------------------------------------------------
# Token patterns: X holds the role, Y is the other person, W the gendered word for X's role.
# The same patterns word the facts and parse them back (difficulty_of).
Pattern = tuple[str, ...]
_GENDERED: tuple[Pattern, ...] = (
    ("X", "is", "the", "W", "of", "Y", "."),
    ("X", "is", "Y", "'s", "W", "."),
    ("Y", "'s", "W", "is", "X", "."),
    ("Y", "has", "a", "W", "named", "X", "."),
    ("the", "W", "of", "Y", "is", "X", "."),
)
_PLAIN: dict[str, tuple[Pattern, ...]] = {  # no gender: the reader needs a gendered fact about A
    SPOUSE: (("X", "is", "married", "to", "Y", "."), ("X", "and", "Y", "are", "married", ".")),
    SIBLING: (("X", "and", "Y", "are", "siblings", "."),),
    PARENT: (("X", "is", "a", "parent", "of", "Y", "."),),
    CHILD: (("X", "is", "a", "child", "of", "Y", "."),),
}
_QUESTIONS: tuple[Pattern, ...] = (
    ("how", "is", "X", "related", "to", "Y", "?"),
    ("what", "is", "X", "to", "Y", "?"),
)
_PLAIN_SHARE = 0.2  # fraction of facts worded without gender
_BASIC_WORD = {WORDS[k][i]: (k, g) for k in BASIC_KINDS for i, g in enumerate((FEMALE, MALE))}


def _format_string(pattern: Pattern) -> str:
    s = " ".join({"X": "{x}", "Y": "{y}", "W": "{w}"}.get(t, t) for t in pattern)
    s = s.replace(" 's", "'s").replace(" .", ".").replace(" ?", "?")
    return s[0].upper() + s[1:]


_GENDERED_FMT = tuple(_format_string(p) for p in _GENDERED)
_PLAIN_FMT = {k: tuple(_format_string(p) for p in ps) for k, ps in _PLAIN.items()}
_QUESTION_FMT = tuple(_format_string(p) for p in _QUESTIONS)

# ---- names --------------------------------------------------------------------------------------
_ONSETS = ("b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "dr", "gr", "kl", "sh", "st", "th", "tr")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_CODAS = ("", "n", "r", "l", "s", "m")
_SYLLABLES = tuple(o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS)  # 1248


def random_name(rng: random.Random) -> str:
    """A capitalised pronounceable word of 2-3 syllables (about 2 billion possible)."""
    while True:
        k = 2 if rng.random() < 0.7 else 3
        name = "".join([_SYLLABLES[int(rng.random() * len(_SYLLABLES))] for _ in range(k)]).capitalize()
        if name.lower() not in _INDEX:  # a name must never read as a word
            return name


# ---- tokenisation -------------------------------------------------------------------------------
# Words (letters, optionally hyphenated), "'s"-like clitics, numbers, any other single character.
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|'[^\W\d_]+|\d+|\S")


def tokenize_words(text: str) -> list[str]:
    """Split prose into words and punctuation: "Tom's aunt." -> ["Tom", "'s", "aunt", "."]."""
    return _TOKEN_RE.findall(text)


def is_name(token: str) -> bool:
    """Capitalised and not a vocabulary word ("The" is a word, "Tom" a name)."""
    return token[:1].isupper() and token.lower() not in _INDEX


def _token_id(token: str) -> int:
    idx = _INDEX.get(token)
    if idx is not None:
        return idx
    return NAME if is_name(token) else _INDEX.get(token.lower(), UNK)


def _sentences(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for tok in tokens:
        out[-1].append(tok)
        if tok in _SENTENCE_END:
            out.append([])
    return [s for s in out if s]


# ---- the task -----------------------------------------------------------------------------------


class TextTask(Task):
    name: ClassVar[str] = "text"
    classes: ClassVar[tuple[str, ...]] = CLASSES
    difficulty_name: ClassVar[str] = "hops"
    interface: ClassVar[str] = "prose"
    vocab: ClassVar[tuple[str, ...]] = TEXT_VOCAB
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {"distractors": (0, 64), "max_entities": (2, 1024)}

    def generate(  # type: ignore[override]
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int] = (1, 4),
        *,
        distractors: int | tuple[int, int] = (2, 6),
        max_entities: int = 64,
        story: dict | None = None,
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
        """
        return [out[0] for out in self._generate_with_tree(n, seed, difficulty, distractors, max_entities, story)]

    def _generate_with_tree(
        self,
        n: int,
        seed: int,
        difficulty: tuple[int, int],
        distractors: int | tuple[int, int] = (2, 6),
        max_entities: int = 64,
        story: dict | None = None,
    ) -> list[tuple[dict, Instance, dict[int, str]]]:
        """Records with the instance behind each (tree, chain, facts) and the names of its people."""
        lo, hi = _check_range("difficulty (hops)", difficulty, 1)
        if isinstance(distractors, int):
            distractors = (distractors, distractors)
        d_lo, d_hi = _check_range("distractors", distractors, 0)
        if max_entities < hi + 1:
            raise ValueError(f"max_entities={max_entities} is too small: {hi} hops need {hi + 1} names")
        people, facts, share = _story_ranges(story) if story is not None else ((0, 0), (0, 0), 0.0)
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            hops = rng.randint(lo, hi)
            if share == 0 or rng.random() >= share:
                inst = sample_instance(rng, hops, rng.randint(d_lo, d_hi), max_entities)
            else:
                inst = sample_story(rng, hops, rng.randint(*people), rng.randint(*facts), max_entities)
            names = _assign_names(inst, rng)
            out.append((_to_record(inst, names, rng), inst, names))
        return out

    def encode(self, records: list[dict]) -> Batch:
        if not records:
            raise DataError("no records to encode")
        for rec in records:
            self.validate(rec)
        max_entities = int(self.options.get("max_entities", 64))
        rows = [_encode_one(rec["text"], rec["question"], max_entities, _relation_ids(rec)) for rec in records]
        width = max(len(r[0]) for r in rows)
        arrays = np.zeros((6, len(rows), width), dtype=np.int64)  # rows as in _encode_one
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
        generator's templates cannot be read back and is not checked."""
        try:
            a, b = parse_question(record["question"])
            facts = parse_facts(record["text"])
        except DataError:
            return
        hops = shortest_chain([(x, y) for x, _, y, _ in facts], a, b)
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


def _to_record(inst: Instance, names: dict[int, str], rng: random.Random) -> dict:
    fam, a, b = inst.family, inst.chain[0], inst.chain[-1]
    sentences: list[str] = []
    a_gendered = False
    for x, y in inst.facts:
        holder, other = (x, y) if rng.random() < 0.5 else (y, x)
        kind, gender = fam.kind(holder, other), fam.gender[holder]
        sentence, gendered = _word_fact(kind, gender, names[holder], names[other], rng)
        a_gendered |= gendered and holder == a
        sentences.append(sentence)
    if not a_gendered:  # the answer depends on A's gender: state it in A's link of the chain
        x = inst.chain[1]
        word = _gender_word(fam.kind(a, x), fam.gender[a])
        sentences[0] = pick(rng, _GENDERED_FMT).format(x=names[a], y=names[x], w=word)
    shuffle(rng, sentences)
    question = pick(rng, _QUESTION_FMT).format(x=names[a], y=names[b])
    hops = len(inst.chain) - 1
    return {"task": "text", "text": " ".join(sentences), "question": question, "answer": inst.answer, "hops": hops}


def _word_fact(kind: str, gender: str, x: str, y: str, rng: random.Random) -> tuple[str, bool]:
    """A sentence saying ``x`` is ``y``'s ``kind``, and whether it states ``x``'s gender."""
    if rng.random() < _PLAIN_SHARE:
        return pick(rng, _PLAIN_FMT[kind]).format(x=x, y=y), False
    return pick(rng, _GENDERED_FMT).format(x=x, y=y, w=_gender_word(kind, gender)), True


def _gender_word(kind: str, gender: str) -> str:
    return WORDS[kind][0 if gender == FEMALE else 1]


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
            tid = _token_id(tok)
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
            pos = 0 if tok in _SENTENCE_END else pos + 1
    return [tokens, entity, position, segment, sentence, relation]


def _relation_ids(record: dict) -> dict[str, int]:
    """Name -> 1 + index in KINDS of that person's relation to B, for people at most as far from B as
    A is (so a model trained on hops <= 4 is never supervised on a longer chain); {} when the text is
    not in the generator's templates (the every-node loss then has nothing to supervise here)."""
    try:
        a, b = parse_question(record["question"])
        facts = parse_facts(record["text"])
    except DataError:
        return {}
    hops = shortest_chain([(x, y) for x, _, y, _ in facts], a, b)
    if hops is None:
        return {}
    return {name: 1 + KINDS.index(kind) for name, kind in relations_to(facts, b, hops).items()}


# ---- parsing back (for difficulty_of) -----------------------------------------------------------


def _match(pattern: Pattern, sent: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(sent):
        return None
    slots: dict[str, str] = {}
    for want, tok in zip(pattern, sent):
        if want in ("X", "Y"):
            if not is_name(tok):
                return None
            slots[want] = tok
        elif want == "W":
            if tok.lower() not in _BASIC_WORD:
                return None
            slots[want] = tok.lower()
        elif tok.lower() != want:
            return None
    return slots if slots["X"] != slots["Y"] else None


def _parse_fact(sent: list[str]) -> Fact | None:
    for pattern in _GENDERED:
        m = _match(pattern, sent)
        if m:
            kind, gender = _BASIC_WORD[m["W"]]
            return m["X"], kind, m["Y"], gender
    for kind, patterns in _PLAIN.items():
        for pattern in patterns:
            m = _match(pattern, sent)
            if m:
                return m["X"], kind, m["Y"], None
    return None


def parse_facts(text: str) -> list[Fact]:
    """The facts of text written in the generator's templates; DataError on any other sentence."""
    facts = []
    for sent in _sentences(tokenize_words(text)):
        fact = _parse_fact(sent)
        if fact is None:
            raise DataError(
                f"cannot read the sentence {' '.join(sent)!r} as a kinship fact; "
                "'hops' is required for text not written in the generator's templates"
            )
        facts.append(fact)
    return facts


def parse_question(question: str) -> tuple[str, str]:
    """``(A, B)`` of "How is A related to B?" / "What is A to B?"."""
    sent = tokenize_words(question)
    for pattern in _QUESTIONS:
        m = _match(pattern, sent)
        if m:
            return m["X"], m["Y"]
    raise DataError(f"cannot read the question {question!r}; 'hops' is required for questions not in the generator's templates")


def node_targets(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, L, classes): the words each token's state should read as, for the every-node loss —
    both of a labelled person's kind (their gender need not be stated); none on other tokens."""
    rel = inputs["relation"]
    allowed = torch.zeros(*rel.shape, len(CLASSES), dtype=torch.bool, device=rel.device)
    pairs = KIND_CLASSES.to(rel.device)[(rel - 1).clamp(min=0)]  # (B, L, 2)
    allowed.scatter_(-1, pairs, (rel > 0)[..., None].expand_as(pairs))
    return allowed


__all__ = [
    "CLASSES", "TEXT_VOCAB", "TextTask", "is_name", "parse_facts", "parse_question", "random_name", "tokenize_words",
]  # fmt: skip
