"""Sentences that state no kinship fact, mixed into generated stories (the ``noise`` option).

Real prose is full of sentences that link people without a family tie: who went hiking with whom,
who works with whom, who is whose friend. CLUTRR (Sinha et al. 2019) adds such "irrelevant" and
"disconnected" noise facts about people on and off the chain; a reader that takes every sentence
naming two people as a fact fails on them. A noise sentence names one person or two (``two_share``
of them name two), each a person of the story (on the chain or off it) or, with chance
:data:`NEW_PERSON`, someone new; it goes in at a random place among the facts.

The wording uses no kinship word (``text_vocab.mentions_kinship`` is false on every sentence, so
the facts are read back without them) and no gendered noun; some sentences copy a fact template's
shape with a word that is not a relation ("Ann is the neighbour of Tom.", "Tom has a friend named
Ann.", "Ann and Tom are colleagues.") so that the shape of a sentence never marks it as a fact.
Sentences start with a name or "The"-like vocabulary word: a capitalised unknown word reads as a
name. Almost every content word is outside the vocabulary and reads as ``<unk>``; "," and "!" also
appear, so a model trained with noise has seen every token of the vocabulary it will read.
"""

from __future__ import annotations

import random
import re

from loopthink.tasks.text_vocab import random_name

NEW_PERSON = 0.3  # chance that a name in a noise sentence is someone the facts never mention

_FILL: dict[str, tuple[str, ...]] = {
    "activity": ("hiking", "swimming", "fishing", "skiing", "shopping", "camping", "sailing", "dancing", "cycling"),
    "job": ("baker", "nurse", "pilot", "teacher", "farmer", "painter", "lawyer", "chef", "plumber", "dentist"),
    "place": ("a small village", "a port town", "the mountains", "the capital", "a farming town"),
    "feeling": ("happy", "tired", "proud", "nervous", "calm", "hungry", "lucky", "bored"),
    "where": ("near the river", "by the sea", "downtown", "on a farm", "above a bakery"),
    "hobby": ("jazz", "chess", "gardening", "old films", "puzzles", "tennis"),
    "contest": ("race", "lottery", "chess match", "baking contest"),
    "role": ("friend", "neighbour", "colleague", "roommate", "classmate", "coach", "tutor", "boss", "doctor"),
    "roles": ("friends", "neighbours", "colleagues", "roommates", "classmates", "teammates"),
    "venue": ("the market", "a concert", "the gym", "work", "the library", "a birthday party"),
    "when": ("yesterday", "last week", "at noon", "twice"),
}
ONE_PERSON: tuple[str, ...] = (
    "{x} went {activity}.",
    "{x} works as a {job}.",
    "{x} was born in {place}.",
    "{x} felt {feeling}.",
    "{x} lives {where}.",
    "{x} likes {hobby}.",
    "{x} spent the weekend {activity}.",
    "{x}, a {job}, lives {where}.",
    "{x} won the {contest}!",
)
TWO_PEOPLE: tuple[str, ...] = (
    "{x} and {y} went {activity}.",
    "{x} works with {y}.",
    "{x} is {y}'s {role}.",
    "{x} is the {role} of {y}.",
    "{y} has a {role} named {x}.",
    "{x} and {y} are {roles}.",
    "{x} met {y} at {venue}.",
    "{x} called {y} {when}.",
    "{x} and {y} were born in {place}.",
    "{x}, a {job}, works with {y}.",
)
_SLOT = re.compile(r"\{(\w+)\}")


def noise_sentence(rng: random.Random, people: list[str]) -> str:
    """One sentence about ``people`` (one or two names), its other slots filled at random."""
    template = ONE_PERSON if len(people) == 1 else TWO_PEOPLE
    text = template[int(rng.random() * len(template))]
    names = dict(zip("xy", people))

    def fill(m: re.Match[str]) -> str:
        slot = m.group(1)
        if slot in names:
            return names[slot]
        words = _FILL[slot]
        return words[int(rng.random() * len(words))]

    return _SLOT.sub(fill, text)


def add_noise(record: dict, story_names: list[str], rng: random.Random, count: int, two_share: float, max_names: int) -> dict:
    """``record`` with ``count`` noise sentences put at random places among its sentences, and the
    key ``noise`` = ``count``. Question, answer and hops are unchanged: the sentences state no fact.
    New people are only added while the instance names fewer than ``max_names``."""
    sentences = re.split(r"(?<=[.!?])\s+", record["text"].strip())
    pool = list(story_names)
    taken = set(pool)
    for _ in range(count):
        first = _person(rng, pool, taken, max_names, exclude="")
        people = [first]
        if rng.random() < two_share:
            people.append(_person(rng, pool, taken, max_names, exclude=first))
        sentences.insert(int(rng.random() * (len(sentences) + 1)), noise_sentence(rng, people))
    return {**record, "text": " ".join(sentences), "noise": count}


def _person(rng: random.Random, pool: list[str], taken: set[str], max_names: int, exclude: str) -> str:
    """A person of the story (``pool``, new people included once named) or, sometimes, someone new."""
    others = [p for p in pool if p != exclude]
    if len(pool) < max_names and (not others or rng.random() < NEW_PERSON):
        name = random_name(rng)
        while name in taken:
            name = random_name(rng)
        pool.append(name)
        taken.add(name)
        return name
    return others[int(rng.random() * len(others))]
