"""Drawing kinship instances: a chain of facts from A to B plus distractors (:func:`sample_instance`),
or a long, tangled story around the chain (:func:`sample_story`). The family model is in
``kinship.py``.
"""

from __future__ import annotations

import random
from collections import deque

from loopthink.tasks.kinship import (
    BASIC_KINDS,
    CHILD,
    COUPLE,
    FEMALE,
    KID,
    MALE,
    MIN_HOPS,
    PARENT,
    PATTERNS,
    SIBLING,
    SPOUSE,
    Family,
    Instance,
    pick,
    shuffle,
)

# Chance that a detour step or a distractor picks an existing person of the unit over a new child.
_EXISTING = 0.5
# Chance that a distractor fact starts a separate component (about people of the tree not yet
# mentioned) instead of hanging a dead-end branch off someone already mentioned.
_SEPARATE = 0.25


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
