"""The sentence templates of the text task: wording a generated instance as a record, and reading
text written in those templates back into facts (for ``difficulty_of``, ``verify`` and the
every-node labels).

Generated text: facts in random order, each worded from either side with one of several
templates ("Ann is the sister of Tom.", "Tom's sister is Ann.", "Tom has a sister named Ann.",
"Ann and Tom are siblings.", ...). The gender of A is always stated (the answer needs it); no
other gender is needed. Sentences that state no fact (``text_noise.py``) are read back as none.
"""

from __future__ import annotations

import random

from loopthink.tasks.base import DataError
from loopthink.tasks.kinship import BASIC_KINDS, CHILD, FEMALE, MALE, PARENT, SIBLING, SPOUSE, WORDS, Fact, Instance, pick, shuffle
from loopthink.tasks.text_vocab import is_name, mentions_kinship, split_sentences, tokenize_words

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


# ---- wording an instance ------------------------------------------------------------------------


def word_instance(inst: Instance, names: dict[int, str], rng: random.Random) -> dict:
    """The record of ``inst``: each fact worded from a random side, in random order, and the question."""
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


def read_facts(text: str) -> tuple[list[Fact], int]:
    """``(facts, skipped)``: the facts of text written in the generator's templates, and how many
    sentences without a kinship word were skipped as stating none (noise sentences, as CLUTRR's
    irrelevant ones: "Ann and Tom went hiking."); DataError on a sentence with a kinship word that
    fits no template, which only prose outside the templates has."""
    facts, skipped = [], 0
    for sent in split_sentences(tokenize_words(text)):
        fact = _parse_fact(sent)
        if fact is None:
            if not mentions_kinship(sent):
                skipped += 1
                continue
            raise DataError(
                f"cannot read the sentence {' '.join(sent)!r} as a kinship fact; "
                "'hops' is required for text not written in the generator's templates"
            )
        facts.append(fact)
    return facts, skipped


def parse_facts(text: str) -> list[Fact]:
    """The facts of text written in the generator's templates, sentences without a kinship word
    skipped (:func:`read_facts`)."""
    return read_facts(text)[0]


def parse_question(question: str) -> tuple[str, str]:
    """``(A, B)`` of "How is A related to B?" / "What is A to B?"."""
    sent = tokenize_words(question)
    for pattern in _QUESTIONS:
        m = _match(pattern, sent)
        if m:
            return m["X"], m["Y"]
    raise DataError(f"cannot read the question {question!r}; 'hops' is required for questions not in the generator's templates")
