"""Task interfaces: the "perceptual" part that turns an encoded batch into token inputs for the core.

Each interface returns a :class:`Context`: the encoded input ``x`` (B, L, d) that the core re-injects
every step, the attention mask, optional rotary tables, which tokens are real, and which token the
readout reads. None of them has a table indexed by instance identity (node ids, names, absolute
positions), so instances larger than anything seen in training run unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from loopthink.model.config import ModelConfig
from loopthink.model.edges import Edges, lattice_pairs, prefer_edges
from loopthink.model.layers import rotary_tables


@dataclass
class Context:
    x: torch.Tensor  # (B, L, d) encoded input
    # bool (B, 1, L, L) True = may attend, float bias (B, H, L, L), or Edges (sparse structure masks:
    # attention along the edges only; model/edges.py's prefer_edges chooses by density)
    mask: torch.Tensor | Edges | None
    rotary: tuple[torch.Tensor, torch.Tensor] | None
    token_mask: torch.Tensor  # bool (B, L) real tokens
    readout_index: torch.Tensor  # long (B,) token whose state the readout reads

    def index(self, idx: torch.Tensor) -> Context:
        """The context of a subset of the batch (for shrinking a batch as examples halt)."""
        rotary = self.rotary
        if rotary is not None and rotary[0].ndim == 4:  # per-example positions
            rotary = (rotary[0][idx], rotary[1][idx])
        mask = self.mask
        if mask is not None:
            mask = mask.index(idx) if isinstance(mask, Edges) else mask[idx]  # edges are renumbered
        return Context(
            self.x[idx],
            mask,
            rotary,
            self.token_mask[idx],
            self.readout_index[idx],
        )


class GraphInterface(nn.Module):
    """One token per node; role embeddings mark source/target; a node attends to its in-neighbours
    and itself, so one recurrence step can move information exactly one hop."""

    ROLES = 4  # other, source, target, padding

    def __init__(self, cfg: ModelConfig, vocab_size: int, d_model: int):
        super().__init__()
        self.role = nn.Embedding(self.ROLES, d_model)

    def forward(self, inputs: dict[str, torch.Tensor]) -> Context:
        adj, node_mask = inputs["adj"], inputs["node_mask"]
        B, N = node_mask.shape
        rows = torch.arange(B, device=adj.device)
        role = torch.where(node_mask, 0, 3)
        role[rows, inputs["source"]] = 1
        role[rows, inputs["target"]] = 2
        if prefer_edges(int(torch.count_nonzero(adj)) + B * N, B, N):  # in-edges and self edges (count_nonzero: 10x faster than a bool sum)
            mask = in_edges(adj, node_mask)
        else:
            eye = torch.eye(N, dtype=torch.bool, device=adj.device)
            mask = ((adj & node_mask[:, None, :]) | eye)[:, None]  # every row has itself: no empty softmax
        return Context(self.role(role), mask, None, node_mask, inputs["target"])


def in_edges(adj: torch.Tensor, node_mask: torch.Tensor) -> Edges:
    """The graph mask as :class:`Edges`: each node's in-edges from real nodes, and every node's self
    edge; built from the edges of ``adj`` alone (no further B × N × N tensor)."""
    B, N = node_mask.shape
    b, i, j = adj.nonzero(as_tuple=True)
    keep = node_mask[b, j] & (i != j)  # a self loop in adj is the self edge, kept once
    every = torch.arange(B * N, device=adj.device)
    receiver, sender = (b * N + i)[keep], (b * N + j)[keep]
    return Edges.from_pairs(torch.cat([receiver, every]), torch.cat([sender, every]), B, N)


class RelationBias(nn.Module):
    """Learned per-head attention biases for R boolean relations between tokens.

    ``bias[b, h, i, j] = sum_r w[r, h] * rel[b, r, i, j]``, padding keys at -inf. At init relation r
    is switched on (``w = init``) in heads ``h % R == r`` and off elsewhere, so each relation has
    heads that follow it from the first step; training may re-weight or drop any of them. These are
    relations, not orders: nothing here depends on where a token sits in the sequence.
    """

    def __init__(self, relations: int, n_heads: int, init: float, hard: bool = False):
        super().__init__()
        w = [[float(init) * (h % relations == r) for h in range(n_heads)] for r in range(relations)]
        self.weight = nn.Parameter(torch.tensor(w))
        self.hard = hard

    @classmethod
    def from_config(cls, relations: int, cfg: ModelConfig) -> RelationBias | None:
        if cfg.relation_bias is None:
            return None
        return cls(relations, cfg.n_heads, cfg.relation_bias, cfg.relation_mask)

    def forward(self, rel: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor | Edges:
        """rel: bool (B, R, L, L); key_mask: bool (B, L) -> float bias (B, H, L, L), or when hard
        and sparse enough (``prefer_edges``) the same biases on :class:`Edges`.

        ``hard``: keys in no relation with the query are masked out too (``-inf``), except the
        query itself, so every row keeps one key: information then moves one relation per
        attention step, the way graph attention moves it one edge per step."""
        B, _, L, _ = rel.shape
        allowed = key_mask[:, None, :]
        if self.hard:
            eye = torch.eye(L, dtype=torch.bool, device=rel.device)
            allowed = (rel.any(1) & allowed) | eye
            if prefer_edges(int(torch.count_nonzero(allowed)), B, L):
                return Edges.from_mask(allowed, rel, self.weight)
        bias = torch.einsum("brij,rh->bhij", rel.to(self.weight.dtype), self.weight)
        return bias.masked_fill(~allowed[:, None], float("-inf"))

    def on_edges(
        self, receiver: torch.Tensor, sender: torch.Tensor, relation: torch.Tensor, batch: int, length: int
    ) -> Edges | torch.Tensor:
        """Hard-masked biases of edges built directly (``relation`` long (E,), R for self edges):
        :class:`Edges`, or their dense bias when ``prefer_edges`` says dense is cheaper."""
        table = torch.cat([self.weight, self.weight.new_zeros(1, self.weight.shape[1])])  # self edges: no bias
        edges = Edges.from_pairs(receiver, sender, batch, length, table[relation])
        return edges if prefer_edges(edges.count, batch, length) else edges.dense()


def _same(ids: torch.Tensor) -> torch.Tensor:
    """(B, L) ids -> bool (B, L, L): both tokens carry the same nonzero id."""
    return (ids[:, :, None] == ids[:, None, :]) & (ids[:, :, None] > 0)


class LogicInterface(nn.Module):
    """Token embeddings with rotary (relative) positions only: no absolute position table, so longer
    expressions than seen in training run. Reads the <cls> token at index 0.

    With ``relation_bias`` set, two relations read off the parentheses (not off positions) enter as
    attention biases: *same group* (two tokens directly inside the same pair of parentheses, the
    top level included) and *group link* (a parenthesis and the tokens directly inside it, both
    ways). A subexpression's value can thus collect at its ``(`` and be read by the enclosing level,
    one nesting level per few steps; operator precedence inside a group is still learned.

    ``expression_relations: tree`` reads the two relations off the parse tree instead: *operand of*
    and *operator of* (``inputs["parent"]``), with no positions at all (and/or are commutative). The
    parser, not the model, then resolves parentheses and precedence, and with ``relation_mask`` a
    step moves a value one tree level up, as a graph step moves reachability one edge.
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, d_model: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.head_dim = d_model // cfg.n_heads
        self.relations = RelationBias.from_config(2, cfg)
        self.group_positions = cfg.rotary_positions == "group"
        self.tree = cfg.expression_relations == "tree"

    def forward(self, inputs: dict[str, torch.Tensor]) -> Context:
        tokens, tmask = inputs["tokens"], inputs["mask"]
        B, L = tokens.shape
        zero = torch.zeros(B, dtype=torch.long, device=tokens.device)
        if self.tree:  # the tree alone, no positions (the config guarantees relation biases)
            parent = inputs["parent"]
            operand = parent[:, None, :] == torch.arange(1, L + 1, device=tokens.device)[None, :, None]  # [b, i, j]: j is an operand of i
            rel = torch.stack([operand, operand.transpose(1, 2)], dim=1)
            return Context(self.embed(tokens), self.relations(rel, tmask), None, tmask, zero)
        positions = position_in_group(inputs["group"]) if self.group_positions else L
        rot = rotary_tables(positions, self.head_dim, tokens.device)
        if self.relations is None:
            return Context(self.embed(tokens), tmask[:, None, None, :], rot, tmask, zero)
        group, inner = inputs["group"], inputs["inner"]
        link = (inner[:, :, None] == group[:, None, :]) & (inner[:, :, None] > 0)
        rel = torch.stack([_same(group), link | link.transpose(1, 2)], dim=1)
        return Context(self.embed(tokens), self.relations(rel, tmask), rot, tmask, zero)


def position_in_group(group: torch.Tensor) -> torch.Tensor:
    """(B, L) group ids -> (B, L) index of each token among the tokens of its own group.

    Bounded by a group's size whatever the nesting depth, so a deeper expression than any seen in
    training brings no larger rotary distance between tokens of one group (sequence positions do:
    the tokens after a long subexpression sit farther from its ``(`` than any training example had)."""
    L = group.shape[1]
    earlier = torch.ones(L, L, dtype=torch.bool, device=group.device).tril(-1)  # [i, j]: j before i
    return ((group[:, :, None] == group[:, None, :]) & earlier).sum(-1)


class TextInterface(nn.Module):
    """Word tokens + position *within* a sentence + segment + entity-slot embeddings.

    Names are entity slots numbered by first occurrence, so unseen names work; in training the slot
    numbers are randomly permuted per example so no slot is special. Two relations between tokens
    enter as learned per-head attention biases (relations, not orders, so sentence order carries no
    signal): *same sentence* (a fact's words) and *same name* (co-reference across facts, the hop
    from one fact to the next). Half the heads start biased to each, so a chain of facts can be
    followed from the first step instead of being discovered through slot-embedding matches.
    """

    MAX_POSITION = 64  # longer sentences share the last position embedding

    def __init__(self, cfg: ModelConfig, vocab_size: int, d_model: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(self.MAX_POSITION, d_model)
        self.segment = nn.Embedding(4, d_model)
        self.entity = nn.Embedding(cfg.max_entities + 1, d_model)
        self.relations = RelationBias.from_config(2, cfg)
        self.max_entities = cfg.max_entities

    def _slots(self, entity: torch.Tensor) -> torch.Tensor:
        self._check_slots(entity)
        return permuted_slots(entity, self.max_entities) if self.training else entity

    def _check_slots(self, entity: torch.Tensor) -> None:
        if entity.max() > self.max_entities:
            raise ValueError(f"an instance has {int(entity.max())} distinct names; this model has {self.max_entities} entity slots")

    def renumbered(self, inputs: dict[str, torch.Tensor], generator: torch.Generator, member: int = 0) -> dict[str, torch.Tensor]:
        """The same instances with their names moved to other entity slots, one random permutation
        per instance drawn from ``generator``, as training draws them. Training makes the answer
        independent of the numbering, so an evaluation ensemble reads several
        (``analysis.accuracy.predict_over_steps``'s ``ensemble``; each reading ``member`` has a
        generator of its own, so the index itself is not needed)."""
        self._check_slots(inputs["entity"])
        return {**inputs, "entity": permuted_slots(inputs["entity"], self.max_entities, generator)}

    def forward(self, inputs: dict[str, torch.Tensor]) -> Context:
        tokens, tmask, sent = inputs["tokens"], inputs["mask"], inputs["sentence"]
        pos = inputs["position"].clamp(max=self.MAX_POSITION - 1)
        x = self.embed(tokens) + self.position(pos) + self.segment(inputs["segment"]) + self.entity(self._slots(inputs["entity"]))
        ent = inputs["entity"]
        read = _first_question_name(inputs["segment"], ent)
        if self.relations is None:
            return Context(x, tmask[:, None, None, :], None, tmask, read)
        bias = self.relations(torch.stack([_same(sent), _same(ent)], dim=1), tmask)
        return Context(x, bias, None, tmask, read)


def permuted_slots(entity: torch.Tensor, slots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``entity`` (B, L) with each instance's names moved by a random permutation of slots 1..slots
    (0, no name, stays 0); from torch's random state, or from ``generator``."""
    device = entity.device if generator is None else generator.device
    perm = torch.argsort(torch.rand(entity.shape[0], slots, generator=generator, device=device), dim=1).to(entity.device) + 1
    perm = torch.cat([torch.zeros_like(perm[:, :1]), perm], dim=1)
    return torch.gather(perm, 1, entity)


def _first_question_name(segment: torch.Tensor, entity: torch.Tensor) -> torch.Tensor:
    """Index of A's name in "How is A related to B?" (the answer is A's relation, so the readout
    reads A's token, which reaches A's facts through the same-name bias); ``<cls>`` (0) when the
    question names no one."""
    is_a = (segment == 3) & (entity > 0)
    return torch.where(is_a.any(1), is_a.int().argmax(1), 0)


class SequenceInterface(nn.Module):
    """The generic interface for a plug-in task: a token sequence read at one token.

    Inputs: ``tokens`` long (B, L) ids into the task's ``vocab``, ``mask`` bool (B, L) real tokens
    (padding after them), optional ``readout`` long (B,) the token the answer is read at (default 0,
    e.g. a ``<cls>`` token). Token embeddings with rotary (relative) positions only, so sequences
    longer than any seen in training run; full attention over the real tokens."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, d_model: int):
        super().__init__()
        if vocab_size < 1:
            raise ValueError("the sequence interface needs a task with a token vocabulary (Task.vocab)")
        self.embed = nn.Embedding(vocab_size, d_model)
        self.head_dim = d_model // cfg.n_heads

    def forward(self, inputs: dict[str, torch.Tensor]) -> Context:
        tokens, tmask = inputs["tokens"], inputs["mask"]
        rot = rotary_tables(tokens.shape[1], self.head_dim, tokens.device)
        read = inputs.get("readout", torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device))
        return Context(self.embed(tokens), tmask[:, None, None, :], rot, tmask, read)


class LatticeInterface(nn.Module):
    """Tokens on a lattice, for per-position tasks: each token attends only to its lattice
    neighbours and itself (hard-masked), each neighbour relation with learned per-head biases
    (:class:`RelationBias`: heads ``h % R == r`` start on relation r). Coordinates only find the
    neighbours and are never embedded, so a lattice of any size runs as a small one; the edges are
    built in O(L), never as an L × L tensor (dense only where ``prefer_edges`` says it is cheaper).
    Every token is read (``readout_index`` is 0; the per-position readout reads them all).

    Each token also gets a learned embedding for every neighbour it lacks (``border``): a token
    whose left neighbour is missing attends to itself instead, and with the same content on both
    sides ("11") it could not tell the left end from the right one. Knowing which neighbours exist
    is relative, so it holds at any size."""

    OFFSETS: tuple[tuple[int, ...], ...] = ()

    def __init__(self, cfg: ModelConfig, vocab_size: int, d_model: int):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"the {type(self).__name__} needs a task with a token vocabulary (Task.vocab)")
        self.embed = nn.Embedding(vocab_size, d_model)
        self.border = nn.Embedding(len(self.OFFSETS), d_model)  # row r: this token has no neighbour in direction r
        self.relations = RelationBias(len(self.OFFSETS), cfg.n_heads, cfg.relation_bias or 0.0, hard=True)

    def coords(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """long (B, L, C): each token's lattice coordinates."""
        raise NotImplementedError

    def embedded(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.embed(inputs["tokens"])

    def forward(self, inputs: dict[str, torch.Tensor]) -> Context:
        tokens, tmask = inputs["tokens"], inputs["mask"]
        B, L = tokens.shape
        offsets = torch.tensor(self.OFFSETS, dtype=torch.long, device=tokens.device)
        receiver, sender, relation = lattice_pairs(self.coords(inputs), tmask, offsets)
        mask = self.relations.on_edges(receiver, sender, relation, B, L)
        has = torch.zeros(B * L, len(self.OFFSETS), dtype=self.border.weight.dtype, device=tokens.device)
        neighbour = relation < len(self.OFFSETS)
        has[receiver[neighbour], relation[neighbour]] = 1.0
        missing = (1.0 - has.view(B, L, -1)) * tmask[..., None]  # padding lacks nothing: it is not read
        zero = torch.zeros(B, dtype=torch.long, device=tokens.device)
        return Context(self.embedded(inputs) + missing @ self.border.weight, mask, None, tmask, zero)


class ChainInterface(LatticeInterface):
    """A chain (prefix sums, ...): relations left neighbour (i - 1) and right neighbour (i + 1).
    Inputs ``tokens`` long (B, L), optional ``tokens2`` long (B, L) (a second channel through the
    same embedding table, summed), ``mask`` bool (B, L). No absolute positions: a 512-long chain
    runs as a 32-long one, and shifting the content along the chain only shifts the outputs."""

    OFFSETS = ((-1,), (1,))

    def coords(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = inputs["tokens"]
        return torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)[..., None]

    def embedded(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.embed(inputs["tokens"])
        return x if "tokens2" not in inputs else x + self.embed(inputs["tokens2"])


class GridInterface(LatticeInterface):
    """A grid of cells (mazes, ...): relations up, down, left, right read off ``row`` and ``col``
    (long (B, L), never embedded). Inputs ``tokens`` long (B, L) (cells, row-major), ``mask``."""

    OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))
    READINGS = 8  # the square's symmetries: four turns, each also mirrored

    def coords(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([inputs["row"], inputs["col"]], dim=-1)

    def renumbered(self, inputs: dict[str, torch.Tensor], generator: torch.Generator, member: int = 0) -> dict[str, torch.Tensor]:
        """The same grids read turned by ``member`` quarter turns, mirrored from ``member`` 4 on: which
        neighbour is "up" is renumbered, while the cells and their answers stay where they are.
        Only for a task whose answer turns with the grid (``Task.symmetric``: a maze's path does).
        The four direction relations make the model's rule differ by orientation, so an evaluation
        ensemble of the eight readings averages eight slightly different rules (docs/results.md)."""
        row, col = inputs["row"], inputs["col"]
        if member % self.READINGS >= 4:
            col = -col
        for _ in range(member % 4):  # a quarter turn: (row, col) -> (col, -row)
            row, col = col, -row
        return {**inputs, "row": row, "col": col}


# Interface kinds by the structure they read; a task names its kind (``Task.interface``).
INTERFACES: dict[str, type[nn.Module]] = {
    "nodes": GraphInterface,
    "expression": LogicInterface,
    "prose": TextInterface,
    "sequence": SequenceInterface,
    "chain": ChainInterface,
    "grid": GridInterface,
}


def build_interface(kind: str, cfg: ModelConfig, vocab_size: int = 0, d_model: int | None = None) -> nn.Module:
    """The interface ``kind`` (a task's ``interface``); ``d_model`` overrides ``cfg.d_model``
    (parameter-matched baselines)."""
    if kind not in INTERFACES:
        raise ValueError(f"unknown model interface {kind!r}; known: {', '.join(INTERFACES)}")
    return INTERFACES[kind](cfg, vocab_size, d_model or cfg.d_model)
