"""Family stories from a generator of their own, for external validity of the text model.

Written apart from ``tasks/kinship.py`` and ``tasks/text.py`` (it imports nothing of loopthink's
text generator): people are built as a person-level genealogy (mother, father, spouse), every true
basic fact is an edge of the *family graph* (parent/child between a parent and a child, spouse
between a couple, sibling between children of one couple), a story states a random spanning tree of
that graph plus a share of the other true facts (redundant facts close cycles), and the answer is
read off the genealogy by definition (``relation``), never from the stated facts. ``hops`` is the
shortest chain of stated facts (breadth-first search). Records are the text JSONL format
(``docs/formats.md``), worded in sentences the text encoder reads as vocabulary words and names.

    from loopthink.tasks.external.text_stories import FAMILIES
    records = FAMILIES["both_parents"](500, 0, (1, 6))

Each family also comes as ``<family>_noisy``: the same kind of stories with 0..6 sentences that
state no kinship fact (half of them naming two people) mixed in, worded apart from loopthink's
noise (``with_noise``); records then carry ``noise``, their count.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

F, M = "f", "m"
# relation -> (word for a woman, word for a man); the words of the text format's answers
WORD = {
    "parent": ("mother", "father"), "child": ("daughter", "son"), "sibling": ("sister", "brother"),
    "spouse": ("wife", "husband"), "grandparent": ("grandmother", "grandfather"),
    "grandchild": ("granddaughter", "grandson"), "aunt": ("aunt", "uncle"), "niece": ("niece", "nephew"),
    "parent-in-law": ("mother-in-law", "father-in-law"), "child-in-law": ("daughter-in-law", "son-in-law"),
    "sibling-in-law": ("sister-in-law", "brother-in-law"),
}  # fmt: skip
# "{x} is {y}'s <word>" in several wordings; {w} is the gendered word of x's basic relation
GENDERED = ("{x} is the {w} of {y}.", "{x} is {y}'s {w}.", "{y}'s {w} is {x}.", "{y} has a {w} named {x}.",
            "The {w} of {y} is {x}.")  # fmt: skip
PLAIN = {
    "spouse": ("{x} is married to {y}.", "{x} and {y} are married."),
    "sibling": ("{x} and {y} are siblings.",),
    "parent": ("{x} is a parent of {y}.",),
    "child": ("{x} is a child of {y}.",),
}
QUESTIONS = ("How is {a} related to {b}?", "What is {a} to {b}?")
NAMES = {  # by gender, so the stories read naturally (the model takes names as anonymous slots)
    F: tuple(
        "Ada Alma Anya Asha Bea Cara Cleo Cora Dara Dina Elsa Esme Faye Flora Gia Hana Ida Ines Jada Juno "
        "Kira Lale Leni Lina Lola Mara Mika Mina Nell Nina Noor Olga Oona Pia Rhea Rita Rosa Ruth Saba Sela "
        "Tara Tove Una Vera Wren Xena Yara Zara Zoe Edda".split()
    ),
    M: tuple(
        "Abel Amos Arlo Axel Boris Bram Cato Dax Eli Emil Enzo Ezra Finn Gael Gus Hugo Ira Ivo Joel Kai "
        "Knut Lars Levi Lior Luca Milo Nico Odin Omar Otto Pim Quin Rafe Rolf Sami Sven Teo Ugo Uri Vik "
        "Yusuf Zeno Dov Gorm Jarl Mads Nils Pell Tobin Wim".split()
    ),
}


@dataclass
class Genealogy:
    """People by index: gender, mother, father and spouse (-1: none stated in this world)."""

    gender: list[str] = field(default_factory=list)
    mother: list[int] = field(default_factory=list)
    father: list[int] = field(default_factory=list)
    spouse: list[int] = field(default_factory=list)

    def add(self, gender: str, mother: int = -1, father: int = -1) -> int:
        for lst, v in ((self.gender, gender), (self.mother, mother), (self.father, father), (self.spouse, -1)):
            lst.append(v)
        return len(self.gender) - 1

    def marry(self, p: int) -> int:
        """A new person (from outside the family) married to ``p``."""
        q = self.add(F if self.gender[p] == M else M)
        self.spouse[p], self.spouse[q] = q, p
        return q

    def children(self, p: int) -> list[int]:
        return [c for c in range(len(self.gender)) if p in (self.mother[c], self.father[c])]

    def parents(self, p: int) -> set[int]:
        return {self.mother[p], self.father[p]} if self.mother[p] >= 0 else set()

    def basic(self, x: int, y: int) -> str | None:
        """x's basic relation to y, if one holds."""
        if self.spouse[x] == y:
            return "spouse"
        if x in self.parents(y):
            return "parent"
        if y in self.parents(x):
            return "child"
        if x != y and self.parents(x) and self.parents(x) == self.parents(y):
            return "sibling"
        return None


def relation(g: Genealogy, a: int, b: int) -> str | None:
    """A's relation to B by definition on the genealogy, or None when it has no word here (or two)."""
    sib = {p for p in range(len(g.gender)) if g.basic(a, p) == "sibling"}
    par_b = g.parents(b)
    found = set()
    if g.basic(a, b):
        found.add(g.basic(a, b))
    if any(a in g.parents(p) for p in par_b):
        found.add("grandparent")
    if any(b in g.parents(p) for p in g.parents(a)):
        found.add("grandchild")
    if sib & par_b or (g.spouse[a] >= 0 and any(g.basic(g.spouse[a], p) == "sibling" for p in par_b)):
        found.add("aunt")
    if any(g.basic(p, b) == "sibling" for p in g.parents(a)) or any(
        g.basic(p, g.spouse[b]) == "sibling" for p in g.parents(a) if g.spouse[b] >= 0
    ):
        found.add("niece")
    if g.spouse[b] >= 0 and a in g.parents(g.spouse[b]):
        found.add("parent-in-law")
    if g.spouse[a] >= 0 and b in g.parents(g.spouse[a]):
        found.add("child-in-law")
    if (g.spouse[b] >= 0 and g.basic(a, g.spouse[b]) == "sibling") or (
        g.spouse[a] >= 0 and g.spouse[a] in {p for p in range(len(g.gender)) if g.basic(p, b) == "sibling"}
    ):
        found.add("sibling-in-law")
    return found.pop() if len(found) == 1 else None


# ---- family shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    depth: int  # generations below the founding couple
    kids: tuple[int, int]  # children per couple
    married: float
    in_laws: float
    redundant: float  # share of true facts beyond a spanning tree that the story also states
    both_parents: float  # chance that a child's two parent facts are both stated
    max_people: int


def _couple_with_children(g: Genealogy, rng: random.Random, p: int, kids: tuple[int, int]) -> list[int]:
    """Marry ``p`` to a newcomer and give the couple ``kids`` children."""
    q = g.marry(p)
    mother, father = (p, q) if g.gender[p] == F else (q, p)
    return [g.add(rng.choice((F, M)), mother, father) for _ in range(rng.randint(*kids))]


def generations(rng: random.Random, shape: Shape) -> Genealogy:
    """A founding couple and ``shape.depth`` generations below it; each child marries with chance
    ``married`` (then has children if a generation is left); a newcomer spouse brings parents and a
    sibling with chance ``in_laws``. Growth stops where it could pass ``max_people``."""
    g = Genealogy()
    kids = shape.kids
    level = _couple_with_children(g, rng, g.add(rng.choice((F, M))), kids)
    for gen in range(1, shape.depth + 1):
        below = []
        for p in level:
            if rng.random() >= shape.married or len(g.gender) + 1 + kids[1] + 3 > shape.max_people:
                continue
            if gen < shape.depth:
                below += _couple_with_children(g, rng, p, kids)
            else:
                g.marry(p)
            if rng.random() < shape.in_laws:
                q = g.spouse[p]
                mom = g.add(F)
                dad = g.marry(mom)
                g.mother[q], g.father[q] = mom, dad
                g.add(rng.choice((F, M)), mom, dad)
        level = below
    return g


SHAPES: dict[str, Shape] = {
    "tree_small": Shape(1, (1, 3), 0.6, 0.0, 0.0, 0.0, 10),
    "three_generation": Shape(2, (2, 3), 0.7, 0.2, 0.0, 0.0, 24),
    "both_parents": Shape(2, (2, 3), 0.7, 0.2, 0.05, 0.6, 24),
    "with_spouses": Shape(2, (2, 4), 0.9, 0.6, 0.15, 0.3, 30),
    "four_generation": Shape(3, (1, 3), 0.8, 0.3, 0.1, 0.4, 30),
}


# ---- stories -------------------------------------------------------------------------------------


def _family_edges(g: Genealogy) -> list[tuple[int, int]]:
    n = len(g.gender)
    return [(x, y) for x in range(n) for y in range(x + 1, n) if g.basic(x, y)]


def _stated(g: Genealogy, rng: random.Random, shape: Shape) -> list[tuple[int, int]]:
    """A random spanning tree of the family graph (Kruskal on shuffled edges), then the extra facts."""
    edges = _family_edges(g)
    rng.shuffle(edges)
    root = list(range(len(g.gender)))

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    tree, rest = [], []
    for x, y in edges:
        rx, ry = find(x), find(y)
        (tree if rx != ry else rest).append((x, y))
        root[rx] = ry
    chosen = set(tree) | {e for e in rest if rng.random() < shape.redundant}
    for c in range(len(g.gender)):
        if g.mother[c] >= 0 and rng.random() < shape.both_parents:
            chosen |= {tuple(sorted((c, g.mother[c]))), tuple(sorted((c, g.father[c])))}
    out = sorted(chosen)
    rng.shuffle(out)
    return out


def _distances(facts: list[tuple[int, int]], a: int) -> dict[int, int]:
    adj: dict[int, list[int]] = {}
    for x, y in facts:
        adj.setdefault(x, []).append(y)
        adj.setdefault(y, []).append(x)
    dist, queue = {a: 0}, deque([a])
    while queue:
        u = queue.popleft()
        for v in adj.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def _word(g: Genealogy, kind: str, p: int) -> str:
    return WORD[kind][0 if g.gender[p] == F else 1]


def _sentence(g: Genealogy, rng: random.Random, x: int, y: int, names: list[str], gendered: bool) -> str:
    kind = g.basic(x, y)
    assert kind is not None
    if gendered:
        return rng.choice(GENDERED).format(x=names[x], y=names[y], w=_word(g, kind, x))
    return rng.choice(PLAIN[kind]).format(x=names[x], y=names[y])


def story(rng: random.Random, shape: Shape, hops: int, tries: int = 200) -> dict | None:
    """One record whose question is ``hops`` stated facts deep, or None if ``tries`` families had none."""
    for _ in range(tries):
        g = generations(rng, shape)
        facts = _stated(g, rng, shape)
        pairs = [(a, b) for a in range(len(g.gender)) for b, d in _distances(facts, a).items() if d == hops]
        rng.shuffle(pairs)
        a, b = next(((a, b) for a, b in pairs if relation(g, a, b)), (-1, -1))
        if a < 0:
            continue
        pool = {gender: rng.sample(NAMES[gender], len(NAMES[gender])) for gender in (F, M)}
        names = [pool[gender].pop() for gender in g.gender]
        # the answer needs A's gender: one of A's facts is worded from A's side, gendered
        own = rng.choice([i for i, (x, y) in enumerate(facts) if a in (x, y)])
        sentences = []
        for i, (x, y) in enumerate(facts):
            holder, other = (x, y) if rng.random() < 0.5 else (y, x)
            if i == own:
                holder, other = a, x + y - a
            sentences.append(_sentence(g, rng, holder, other, names, i == own or rng.random() < 0.8))
        rng.shuffle(sentences)
        question = rng.choice(QUESTIONS).format(a=names[a], b=names[b])
        answer = _word(g, relation(g, a, b), a)  # type: ignore[arg-type]
        return {"task": "text", "text": " ".join(sentences), "question": question, "answer": answer, "hops": hops}
    return None


# ---- sentences that state no kinship fact --------------------------------------------------------
# Written apart from loopthink's own noise (other words, other sentence shapes), so that a model
# trained with that noise is tested on noise it never saw: CLUTRR's irrelevant and disconnected
# sentences (Sinha et al. 2019), about people of the story or people it names nowhere else. No
# family word, no gendered noun; some copy a fact's shape ("Ada is a good friend of Finn.", "The
# dentist of Finn is Ada."); every sentence starts with a name or "The" (a capitalised word the
# text format does not know reads as a name).
SOLO = (
    "{a} plays the violin.", "{a} grew up in a fishing village.", "{a} studies chemistry at night.",
    "{a} was tired after a long shift.", "{a} fixed an old radio.", "{a} drives a green van.",
    "{a} bakes bread every morning.", "{a} is afraid of spiders.", "{a} moved to a bigger flat.",
    "{a} runs a small bookshop.", "The garden of {a} is full of roses.",
)  # fmt: skip
DUO = (
    "{a} and {b} shared a taxi.", "{a} borrowed a ladder from {b}.", "{a} sat next to {b} on the train.",
    "{a} sent {b} a postcard.", "{a} and {b} sing in one choir.", "{a} is a good friend of {b}.",
    "{a} and {b} play cards on weekends.", "{a} helped {b} carry boxes.", "{a} owes {b} money.",
    "{b} hired {a} last spring.", "{a} and {b} are old schoolmates.", "{a} is {b}'s business partner.",
    "{a} lives next door to {b}.", "The dentist of {b} is {a}.", "{b} has a tenant named {a}.",
)  # fmt: skip
NOISE = (0, 6)  # noise sentences per noisy story, uniform
TWO_NAMES = 0.5  # share of them naming two people
NEWCOMER = 0.3  # chance that a name in one is someone the facts never mention


def with_noise(rng: random.Random, rec: dict, count: int) -> dict:
    """``rec`` with ``count`` sentences that state no kinship fact at random places; ``noise`` = count."""
    everyone = set(NAMES[F]) | set(NAMES[M])
    cast = list(dict.fromkeys(w for w in rec["text"].replace("'", " ").replace(".", " ").split() if w in everyone))
    unused = sorted(everyone - set(cast))
    rng.shuffle(unused)
    sentences = rec["text"].split(". ")
    sentences = [s if s.endswith(".") else s + "." for s in sentences]

    def someone(besides: str) -> str:
        if unused and rng.random() < NEWCOMER:
            cast.append(unused.pop())
            return cast[-1]
        return rng.choice([p for p in cast if p != besides])

    for _ in range(count):
        a = someone("")
        line = rng.choice(DUO).format(a=a, b=someone(a)) if rng.random() < TWO_NAMES else rng.choice(SOLO).format(a=a)
        sentences.insert(rng.randint(0, len(sentences)), line)
    return {**rec, "text": " ".join(sentences), "noise": count}


def _family(name: str, noisy: bool = False) -> Callable[[int, int, tuple[int, int]], list[dict]]:
    shape = SHAPES[name]
    label = f"{name}_noisy" if noisy else name

    def generate(n: int, seed: int, difficulty: tuple[int, int]) -> list[dict]:
        """``n`` stories of this family, hops uniform in ``difficulty`` (hop counts the family cannot
        reach within its size are skipped, so fewer records may come back); a noisy family adds
        ``NOISE`` sentences that state no fact to each."""
        rng = random.Random(f"{label}:{seed}")
        out = []
        for i in range(n):
            rec = story(rng, shape, difficulty[0] + i % (difficulty[1] - difficulty[0] + 1))
            if rec is not None:
                out.append({**(with_noise(rng, rec, rng.randint(*NOISE)) if noisy else rec), "family": label})
        return out

    return generate


FAMILIES: dict[str, Callable[[int, int, tuple[int, int]], list[dict]]] = {name: _family(name) for name in SHAPES}
FAMILIES.update({f"{name}_noisy": _family(name, noisy=True) for name in SHAPES})
