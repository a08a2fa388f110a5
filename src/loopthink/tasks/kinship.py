"""Family trees and fact chains for the text task (no wording here: see ``text.py``).

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


# Chance that a detour step or a distractor picks an existing person of the unit over a new child.
_EXISTING = 0.5
# Chance that a distractor fact starts a separate component (about people of the tree not yet
# mentioned) instead of hanging a dead-end branch off someone already mentioned.
_SEPARATE = 0.25


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


def sample_instance(rng: random.Random, hops: int, distractors: int, max_people: int) -> Instance:
    """A chain of exactly ``hops`` facts plus up to ``distractors`` facts about at most
    ``max_people`` mentioned people (distractors are dropped when the budget runs out)."""
    relation = pick(rng, [k for k, m in MIN_HOPS.items() if m <= hops])
    family = Family(rng)
    chain = build_chain(family, rng, relation, pick(rng, (FEMALE, MALE)), hops)
    links = list(zip(chain, chain[1:]))
    extra = add_distractors(family, rng, chain, distractors, max_people)
    return Instance(family, relation, chain, links + extra)


def build_chain(family: Family, rng: random.Random, relation: str, gender_a: str, hops: int) -> list[int]:
    """People ``A = p0, .., ph = B``, all distinct, ``p_i`` and ``p_i+1`` in one unit."""
    layout = pick(rng, [lay for lay in PATTERNS[relation] if len(lay) <= hops])
    detours = [0] * len(layout)
    for _ in range(hops - len(layout)):
        detours[int(rng.random() * len(layout))] += 1
    entry = family.person(gender_a)
    chain = [entry]
    for (role_in, role_out), extra in zip(layout, detours):
        unit = family.marriage_unit(entry) if role_in == COUPLE else family.birth_unit(entry)
        if role_out == KID:
            leave = family.new_child(unit)
        else:
            leave = pick(rng, [q for q in family.couple[unit] if q != entry])
        chain += _detour(family, rng, unit, (entry, leave), extra)
        chain.append(leave)
        entry = leave
    return chain


def _detour(family: Family, rng: random.Random, unit: int, used: tuple[int, int], extra: int) -> list[int]:
    """``extra`` more people of ``unit`` to pass through (a unit is a clique, so any order works)."""
    spare = [q for q in family.couple[unit] if q not in used]
    out = []
    for _ in range(extra):
        if spare and rng.random() < _EXISTING:
            out.append(spare.pop(int(rng.random() * len(spare))))
        else:
            out.append(family.new_child(unit))
    shuffle(rng, out)
    return out


def add_distractors(family: Family, rng: random.Random, chain: list[int], count: int, max_people: int) -> list[tuple[int, int]]:
    """True facts about the tree that never shorten the chain.

    Each fact names at least one person not mentioned before, so the stated facts stay a forest
    (the chain is a path in it): a fact either hangs a dead end off a mentioned person or starts
    a separate component among unmentioned people of the tree.
    """
    mentioned = list(chain)
    seen = set(chain)
    facts = []
    for _ in range(count):
        anchor = -1
        if len(seen) + 2 <= max_people and rng.random() < _SEPARATE:
            loose = [p for p in range(len(family.gender)) if p not in seen]
            anchor = pick(rng, loose) if loose else -1
        if anchor < 0:
            if len(seen) + 1 > max_people:
                break
            anchor = pick(rng, mentioned)
        other = _relative(family, rng, anchor, seen)
        for p in (anchor, other):
            if p not in seen:
                seen.add(p)
                mentioned.append(p)
        facts.append((anchor, other))
    return facts


def _relative(family: Family, rng: random.Random, p: int, taken: set[int]) -> int:
    """A person of one of ``p``'s units not in ``taken`` (existing, or a new child: always found)."""
    start = int(rng.random() * len(BASIC_KINDS))  # a random kind first, the others as fallbacks
    for kind in BASIC_KINDS[start:] + BASIC_KINDS[:start]:
        unit = family.birth_unit(p) if kind in (PARENT, SIBLING) else family.marriage_unit(p)
        pool = family.couple[unit] if kind in (PARENT, SPOUSE) else family.children[unit]
        free = [q for q in pool if q != p and q not in taken]
        can_add = kind in (CHILD, SIBLING)
        if free and (not can_add or rng.random() < _EXISTING):
            return pick(rng, free)
        if can_add:
            return family.new_child(unit)
    raise AssertionError("unreachable: CHILD always yields a person")


# ---- long, tangled stories ----------------------------------------------------------------------
# A story states many facts about one tree: new people (dead ends and separate branches, as above)
# and *redundant* facts between two people already mentioned who share a unit (both parents of a
# child, a couple, siblings): these close cycles. None may shorten the chain: hops stays exact.
_NO_PATH = 1 << 20


def sample_story(rng: random.Random, hops: int, people: int, facts: int, max_people: int) -> Instance:
    """A chain of exactly ``hops`` facts inside a story of up to ``facts`` facts naming up to
    ``people`` people (at most ``max_people``). Each fact off the chain names someone new with the
    chance that spreads the people still to come over the facts still to come; else it is redundant."""
    relation = pick(rng, [k for k, m in MIN_HOPS.items() if m <= hops])
    family = Family(rng)
    chain = build_chain(family, rng, relation, pick(rng, (FEMALE, MALE)), hops)
    story = _Story(family, chain)
    people = min(people, max_people)
    for left in range(facts - hops, 0, -1):
        room = people - len(story.seen)
        if room > 0 and rng.random() * left < room:
            story.add_new(rng, people)
        elif not story.add_redundant(rng) and room > 0:
            story.add_new(rng, people)
    return Instance(family, relation, chain, story.facts)


class _Story:
    """Stated facts as a graph, with each mentioned person's distance to A and to B over them."""

    def __init__(self, family: Family, chain: list[int]):
        self.family = family
        self.facts = list(zip(chain, chain[1:]))
        self.mentioned = list(chain)
        self.seen = set(chain)
        self.adj: dict[int, list[int]] = {p: [] for p in chain}
        self.pairs: set[tuple[int, int]] = set()
        for x, y in self.facts:
            self._link(x, y)
        self.dist = [{p: i for i, p in enumerate(chain)}, {p: len(chain) - 1 - i for i, p in enumerate(chain)}]
        self.hops = len(chain) - 1

    def _link(self, x: int, y: int) -> None:
        self.adj.setdefault(x, []).append(y)
        self.adj.setdefault(y, []).append(x)
        self.pairs.add((min(x, y), max(x, y)))

    def _mention(self, p: int) -> None:
        if p not in self.seen:
            self.seen.add(p)
            self.mentioned.append(p)

    def _state(self, x: int, y: int) -> None:
        new = y not in self.adj  # a dead end off x: one step further than x from A and from B
        self.facts.append((x, y))
        self._link(x, y)
        for p in (x, y):
            self._mention(p)
        for dist in self.dist:  # relax distances through the new fact (breadth-first from its ends)
            if new:
                if x in dist:
                    dist[y] = dist[x] + 1
                continue
            queue = deque(p for p in (x, y) if p in dist)
            while queue:
                u = queue.popleft()
                for v in self.adj[u]:
                    if dist[u] + 1 < dist.get(v, _NO_PATH):
                        dist[v] = dist[u] + 1
                        queue.append(v)

    def _keeps_hops(self, x: int, y: int) -> bool:
        (da, db), far = self.dist, _NO_PATH
        return min(da.get(x, far) + db.get(y, far), da.get(y, far) + db.get(x, far)) + 1 >= self.hops

    def add_new(self, rng: random.Random, people: int) -> None:
        """A fact naming someone new: off a mentioned person, or (if room) between two new people."""
        anchor = -1
        if len(self.seen) + 2 <= people and rng.random() < _SEPARATE:
            loose = [p for p in range(len(self.family.gender)) if p not in self.seen]
            anchor = pick(rng, loose) if loose else -1
        if anchor < 0:
            anchor = pick(rng, self.mentioned)
        self._state(anchor, _relative(self.family, rng, anchor, self.seen))

    def add_redundant(self, rng: random.Random, tries: int = 4) -> bool:
        """A fact between two mentioned people of one unit not yet stated; False if none was found."""
        fam = self.family
        for _ in range(tries):
            x = pick(rng, self.mentioned)
            units = [u for u in (fam.birth[x], fam.marriage[x]) if u >= 0]
            pool = [q for u in units for q in (*fam.couple[u], *fam.children[u])]
            free = [q for q in pool if q != x and q in self.seen and (min(x, q), max(x, q)) not in self.pairs]
            free = [q for q in free if self._keeps_hops(x, q)]
            if free:
                self._state(x, pick(rng, free))
                return True
        return False


# ---- reading relations off stated facts ------------------------------------------------------
Fact = tuple[str, str, str, "str | None"]  # (holder, basic kind, other, holder's gender if stated)


def relations_to(facts: list[Fact], b: str, max_hops: int | None = None) -> dict[str, str]:
    """Each person the facts link to ``b`` by at most ``max_hops`` facts -> the kind of their
    relation to ``b`` (a key of WORDS), leaving out ``b`` and people whose relation has no word here
    (cousins, great-aunts, ...).

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
    return {p: KIND_OF_LAYOUT[lay] for p, lay in layouts.items() if lay in KIND_OF_LAYOUT}


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
