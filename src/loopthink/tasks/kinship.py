"""The family model of the text task: people, family units, relation words and the layouts that
name a relation, and reading relations off stated facts. Drawing instances is in
``kinship_sampling.py``, wording them in ``text_templates.py``.

World model (what a reader of the generated text may assume): couples are monogamous, a man and
a woman, married once; every child has both parents of one couple; no half-siblings. Hence the
people of one **family unit** (a couple and their children) are pairwise related by the four
*basic* kinds ``parent``, ``child``, ``sibling``, ``spouse``, and a person belongs to at most
two units: the one they were born into (as a child) and the one they married into (as one of
the couple). Everyone is created fresh, so no one marries a relative: units form a tree.

A fact is a basic relation between two people of one unit. A chain of facts from A to B therefore
walks through a sequence of units, entering and leaving each through a shared person. The
generator picks the answer first (A's relation to B), lays out the units that relation needs
(:data:`PATTERNS`), and spends the remaining hops on detours inside those units (the other parent,
extra siblings). Because units form a tree, every simple chain from A to B has this shape, and A's
relation to B is fixed by the units alone, whatever detours the chain takes.

Relation words cover blood and marriage: *aunt/uncle* is a parent's sibling or a parent's
sibling's spouse; *niece/nephew* is the inverse (a sibling's or a spouse's sibling's child);
*sister/brother-in-law* is a spouse's sibling or a sibling's spouse.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
FEMALE, MALE = "f", "m"
PARENT, CHILD, SIBLING, SPOUSE = "parent", "child", "sibling", "spouse"  # "X is the <kind> of Y"
BASIC_KINDS = (PARENT, CHILD, SIBLING, SPOUSE)
COUPLE, KID = "P", "C"  # a person's role in a family unit

# relation kind -> (word for a woman, word for a man)
WORDS: dict[str, tuple[str, str]] = {
    PARENT: ("mother", "father"),
    CHILD: ("daughter", "son"),
    SIBLING: ("sister", "brother"),
    SPOUSE: ("wife", "husband"),
    "grandparent": ("grandmother", "grandfather"),
    "grandchild": ("granddaughter", "grandson"),
    "aunt": ("aunt", "uncle"),
    "niece": ("niece", "nephew"),
    "parent-in-law": ("mother-in-law", "father-in-law"),
    "child-in-law": ("daughter-in-law", "son-in-law"),
    "sibling-in-law": ("sister-in-law", "brother-in-law"),
}

# A's relation to B -> the ways to lay it out: per unit on the way from A to B, the roles of the
# person entering the unit (A first) and of the one leaving it (B last). Consecutive units share
# the leaving/entering person, who is a child in one unit and one of the couple in the other.
Layout = tuple[tuple[str, str], ...]
P, C = COUPLE, KID
PATTERNS: dict[str, tuple[Layout, ...]] = {
    PARENT: (((P, C),),),
    CHILD: (((C, P),),),
    SIBLING: (((C, C),),),
    SPOUSE: (((P, P),),),
    "grandparent": (((P, C), (P, C)),),
    "grandchild": (((C, P), (C, P)),),
    "aunt": (((C, C), (P, C)), ((P, P), (C, C), (P, C))),  # parent's sibling; parent's sibling's spouse
    "niece": (((C, P), (C, C)), ((C, P), (C, C), (P, P))),  # sibling's child; spouse's sibling's child
    "parent-in-law": (((P, C), (P, P)),),
    "child-in-law": (((P, P), (C, P)),),
    "sibling-in-law": (((C, C), (P, P)), ((P, P), (C, C))),  # spouse's sibling; sibling's spouse
}
MIN_HOPS: dict[str, int] = {kind: min(len(layout) for layout in ways) for kind, ways in PATTERNS.items()}
KIND_OF_LAYOUT: dict[Layout, str] = {layout: kind for kind, ways in PATTERNS.items() for layout in ways}
# "X is the <kind> of Y" -> (X's role, Y's role) in the unit they share
ROLES: dict[str, tuple[str, str]] = {PARENT: (P, C), CHILD: (C, P), SIBLING: (C, C), SPOUSE: (P, P)}


def extend_layout(roles: tuple[str, str], layout: Layout) -> Layout:
    """The layout from X to B, given X's link to the next person Y (``roles`` = (X's, Y's) in their
    unit) and the layout from Y to B. Y keeps one role per unit (a kid where born, one of the couple
    where married), so Y having the same role in both means the link lies in Y's first unit."""
    x_role, y_role = roles
    if layout and layout[0][0] == y_role:
        return ((x_role, layout[0][1]),) + layout[1:]
    return ((x_role, y_role),) + layout


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its rejection loop (2x faster; generation is per-instance Python)."""
    return seq[int(rng.random() * len(seq))]


def shuffle(rng: random.Random, items: list) -> None:
    """In-place Fisher-Yates shuffle on ``rng.random`` (faster than ``rng.shuffle``)."""
    for i in range(len(items) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        items[i], items[j] = items[j], items[i]


@dataclass
class Family:
    """People and family units. Person and unit ids are list indices; -1 means "none"."""

    rng: random.Random
    gender: list[str] = field(default_factory=list)
    birth: list[int] = field(default_factory=list)  # unit the person is a child of
    marriage: list[int] = field(default_factory=list)  # unit the person is one of the couple of
    couple: list[tuple[int, int]] = field(default_factory=list)  # per unit: (wife, husband)
    children: list[list[int]] = field(default_factory=list)

    def person(self, gender: str | None = None) -> int:
        self.gender.append(gender or (FEMALE if self.rng.random() < 0.5 else MALE))
        self.birth.append(-1)
        self.marriage.append(-1)
        return len(self.gender) - 1

    def _unit(self, wife: int, husband: int) -> int:
        self.couple.append((wife, husband))
        self.children.append([])
        u = len(self.couple) - 1
        self.marriage[wife] = self.marriage[husband] = u
        return u

    def marriage_unit(self, p: int) -> int:
        """The unit ``p`` married into, marrying ``p`` to a new person if single."""
        if self.marriage[p] < 0:
            other = self.person(MALE if self.gender[p] == FEMALE else FEMALE)
            self._unit(*((p, other) if self.gender[p] == FEMALE else (other, p)))
        return self.marriage[p]

    def birth_unit(self, p: int) -> int:
        """The unit ``p`` was born into, giving ``p`` two new parents if they have none."""
        if self.birth[p] < 0:
            u = self._unit(self.person(FEMALE), self.person(MALE))
            self.birth[p] = u
            self.children[u].append(p)
        return self.birth[p]

    def new_child(self, unit: int) -> int:
        c = self.person()
        self.birth[c] = unit
        self.children[unit].append(c)
        return c

    def kind(self, x: int, y: int) -> str:
        """Basic relation of ``x`` to ``y`` (two different people of one unit)."""
        if self.marriage[x] >= 0 and self.marriage[x] == self.marriage[y]:
            return SPOUSE
        if self.marriage[x] >= 0 and self.marriage[x] == self.birth[y]:
            return PARENT
        if self.birth[x] >= 0 and self.birth[x] == self.marriage[y]:
            return CHILD
        if self.birth[x] >= 0 and self.birth[x] == self.birth[y]:
            return SIBLING
        raise ValueError(f"people {x} and {y} share no family unit")

    # Person-level view (used by tests and tools that want a classic family tree).
    def parents(self, p: int) -> tuple[int, int] | None:
        """``(mother, father)`` of ``p``, or None."""
        return self.couple[self.birth[p]] if self.birth[p] >= 0 else None

    def spouse(self, p: int) -> int | None:
        if self.marriage[p] < 0:
            return None
        wife, husband = self.couple[self.marriage[p]]
        return husband if p == wife else wife


@dataclass
class Instance:
    """One generated instance before wording: the tree, the chain A..B and every stated fact."""

    family: Family
    relation: str  # kind of A's relation to B (a key of WORDS)
    chain: list[int]  # chain[0] = A, chain[-1] = B; consecutive people share a unit
    facts: list[tuple[int, int]]  # the chain's links, then distractors; each pair shares a unit

    @property
    def answer(self) -> str:
        female, male = WORDS[self.relation]
        return female if self.family.gender[self.chain[0]] == FEMALE else male


# ---- reading relations off stated facts ------------------------------------------------------
Fact = tuple[str, str, str, "str | None"]  # (holder, basic kind, other, holder's gender if stated)


def relations_to(facts: list[Fact], b: str, max_hops: int | None = None) -> dict[str, str]:
    """Each person the facts link to ``b`` by at most ``max_hops`` facts -> the kind of their
    relation to ``b`` (a key of WORDS), leaving out ``b`` and people whose relation has no word here
    (cousins, great-aunts, ...)."""
    return {p: kind for p, (kind, _) in relations_and_distances(facts, b, max_hops).items()}


def relations_and_distances(facts: list[Fact], b: str, max_hops: int | None = None) -> dict[str, tuple[str, int]]:
    """As :func:`relations_to`, with each person's distance to ``b`` (fewest facts linking them).

    Breadth-first from ``b``: a person's layout (the family units on the way to ``b``, with the
    roles entering and leaving each) extends the layout of the neighbour they were reached from,
    and the layout names the relation (``kinship.PATTERNS``)."""
    links: dict[str, list[tuple[str, tuple[str, str]]]] = {}  # person -> (other, (other's role, own role))
    for x, kind, y, _ in facts:
        rx, ry = ROLES[kind]
        links.setdefault(x, []).append((y, (ry, rx)))
        links.setdefault(y, []).append((x, (rx, ry)))
    layouts: dict[str, Layout] = {b: ()}
    hops = {b: 0}
    queue = deque([b])
    while queue:
        u = queue.popleft()
        if max_hops is not None and hops[u] >= max_hops:
            continue
        for v, roles in links.get(u, ()):
            if v not in layouts:
                layouts[v] = extend_layout(roles, layouts[u])
                hops[v] = hops[u] + 1
                queue.append(v)
    return {p: (KIND_OF_LAYOUT[lay], hops[p]) for p, lay in layouts.items() if lay in KIND_OF_LAYOUT}


def shortest_chain(edges: list[tuple[str, str]], a: str, b: str) -> int | None:
    """Fewest facts (edges, either direction) linking ``a`` and ``b``; None if no chain does."""
    adj: dict[str, list[str]] = {}
    for x, y in edges:
        adj.setdefault(x, []).append(y)
        adj.setdefault(y, []).append(x)
    dist = {a: 0}
    queue = deque([a])
    while queue:
        u = queue.popleft()
        for v in adj.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                if v == b:
                    return dist[v]
                queue.append(v)
    return None
