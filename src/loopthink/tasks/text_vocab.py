"""The words of the text task: the answer classes, the vocabulary, the tokeniser, and random names
that never read as a vocabulary word."""

from __future__ import annotations

import random
import re

import torch

from loopthink.tasks.kinship import WORDS

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
SENTENCE_END = frozenset({".", "?", "!"})


# ---- tokenisation -------------------------------------------------------------------------------
# Words (letters, optionally hyphenated), "'s"-like clitics, numbers, any other single character.
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|'[^\W\d_]+|\d+|\S")


def tokenize_words(text: str) -> list[str]:
    """Split prose into words and punctuation: "Tom's aunt." -> ["Tom", "'s", "aunt", "."]."""
    return _TOKEN_RE.findall(text)


def is_name(token: str) -> bool:
    """Capitalised and not a vocabulary word ("The" is a word, "Tom" a name)."""
    return token[:1].isupper() and token.lower() not in _INDEX


def token_id(token: str) -> int:
    """The token's vocabulary id: the word itself, else ``<name>`` for a name, else its lower case, else ``<unk>``."""
    idx = _INDEX.get(token)
    if idx is not None:
        return idx
    return NAME if is_name(token) else _INDEX.get(token.lower(), UNK)


# Words that name a family tie: the vocabulary's and common ones outside it. A sentence with none
# of them states no kinship fact (noise, like CLUTRR's irrelevant and disconnected sentences, Sinha
# et al. 2019) and is skipped when facts are read back; a sentence with one that fits no template
# is prose the templates cannot read, and reading stops there (text_templates.read_facts).
KINSHIP_WORDS: frozenset[str] = frozenset(
    [*CLASSES, "married", "siblings", "parent", "child", "related"]
    + """mothers fathers sisters brothers daughters sons wives husbands aunts uncles nieces nephews
    mom mum mommy mummy ma dad daddy papa mama pa parents children kid kids sibling spouse spouses
    cousin cousins twin twins family families relative relatives ancestor descendant heir orphan
    marry marries marrying marriage wed weds wedded wedding divorced divorce widow widower fiance
    fiancee fiancé fiancée engaged bride groom adopted adoptive foster godmother godfather grandma
    grandpa granny grandparent grandparents grandchild grandchildren grandkid grandkids stepmother
    stepfather stepson stepdaughter stepsister stepbrother stepmom stepdad in-laws""".split()
)


def mentions_kinship(sentence: list[str]) -> bool:
    """Whether any token names a family tie: a kinship word, or a lower-case word starting ``grand``
    or ``step`` or ending ``-in-law(s)`` (not a capitalised one: random names may start so).
    Such a sentence may state a fact even outside the templates."""
    for tok in sentence:
        low = tok.lower()
        if low in KINSHIP_WORDS:
            return True
        if tok == low and (low.startswith(("grand", "step")) or low.endswith(("-in-law", "-in-laws"))):
            return True
    return False


def split_sentences(tokens: list[str]) -> list[list[str]]:
    """Tokens cut after each ``.``, ``?`` or ``!`` (the last sentence may lack its end)."""
    out: list[list[str]] = [[]]
    for tok in tokens:
        out[-1].append(tok)
        if tok in SENTENCE_END:
            out.append([])
    return [s for s in out if s]


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
