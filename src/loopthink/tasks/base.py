"""The contract every task family implements.

A task has two forms of an instance:

* a **record**: a plain ``dict`` that is one line of the documented JSONL format
  (``docs/formats.md``); this is what users read, write and bring;
* an **encoded batch**: padded tensors that a model interface consumes (:class:`Batch`).

Training draws encoded batches directly from :meth:`Task.sample_batch` (vectorised, fast);
files and CLI output go through records. ``encode(generate(...))`` and ``sample_batch(...)``
produce the same kind of batch, so anything a model learned on the fast path applies to files.
"""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

# Difficulty value used for graph queries whose target is unreachable (no hop count).
UNREACHABLE = -1

# Label of a position that carries none in a per-position task (padding, a cell with no answer):
# torch's ``ignore_index``, so the loss and the metrics skip it.
IGNORE = -100

# Bounds on one record (docs/formats.md): larger instances are rejected when read, before any
# tensor is allocated (a graph's adjacency is num_nodes**2 per instance; attention is length**2).
MAX_NODES = 1024  # graph: num_nodes
MAX_EDGES = 65_536  # graph: len(edges)
MAX_EXPRESSION_CHARS = 65_536  # logic: len(expression)
MAX_TEXT_CHARS = 65_536  # text: len(text) + len(question)
MAX_OPTION_NUMBER = MAX_NODES  # every number in a task's generator options (sizes, densities, probabilities)


class DataError(ValueError):
    """A record or file is malformed. The message says where and what."""


# ---- record field checks shared by the tasks' ``validate`` ------------------------------------
def required(record: dict, key: str) -> Any:
    if key not in record:
        raise DataError(f"missing key {key!r}")
    return record[key]


def int_field(record: dict, key: str) -> int:
    value = required(record, key)
    if type(value) is not int:  # bool is an int subclass; 3.0 is not an id
        raise DataError(f"{key!r} must be an integer, got {type(value).__name__} {value!r}")
    return value


def bool_field(record: dict, key: str) -> bool:
    value = required(record, key)
    if not isinstance(value, bool):
        raise DataError(f"{key!r} must be true or false, got {value!r}")
    return value


def optional_int(record: dict, key: str, minimum: int, maximum: int | None = None) -> int | None:
    """``record[key]`` if present and not null: an int >= ``minimum`` (and <= ``maximum``)."""
    value = record.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise DataError(f"{key!r} must be an integer or null, got {value!r}")
    if value < minimum:
        raise DataError(f"{key!r} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise DataError(f"{key!r} must be at most {maximum}, got {value}")
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint).replace("NoneType", "None")


def mismatch(key: str, stated: Any, computed: Any, how: str) -> DataError:
    """The error of :meth:`Task.verify`: a stated field disagrees with the instance."""
    return DataError(f"{key!r} is {json.dumps(stated)} but {how} gives {json.dumps(computed)}")


def _length_axes(v: torch.Tensor, padded: int) -> list[bool]:
    """Per dimension of an input tensor: is it a token/node axis (after the batch dimension, of the
    padded length)? The axes :meth:`Batch.trimmed` cuts and :meth:`Batch.concat` pads."""
    return [ax > 0 and size == padded for ax, size in enumerate(v.shape)]


@dataclass
class Batch:
    """Encoded instances, ready for a model interface.

    ``inputs`` holds task-specific tensors (see each task's module docstring), all with the
    batch on dim 0. ``labels`` are class indices into ``Task.classes``: (B,), one answer per
    instance, or for a per-position task (``Task.per_position``) (B, L), one per token on the
    interface's token axis, :data:`IGNORE` where a position carries no label (padding included).
    ``difficulty`` is the hops/depth/size of each instance; for an unreachable graph query it is the
    search depth (how far the source's reachable set extends), so both labels share one axis.
    """

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    difficulty: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            {k: v.to(device, non_blocking=True) for k, v in self.inputs.items()},
            self.labels.to(device, non_blocking=True),
            self.difficulty.to(device, non_blocking=True),
        )

    def index(self, idx: torch.Tensor | slice) -> Batch:
        """Sub-batch (rows ``idx``); padding is kept as is."""
        return Batch({k: v[idx] for k, v in self.inputs.items()}, self.labels[idx], self.difficulty[idx])

    @staticmethod
    def concat(parts: list[Batch]) -> Batch:
        """One batch of ``parts`` (in order), each padded to the longest part's padded length.

        Every task pads with zeros/False after the real tokens/nodes, so padding a part further
        (in each dimension whose size is its padded length, as :meth:`trimmed` cuts) changes nothing
        it encodes."""
        lengths = [p.padding_mask().shape[1] for p in parts]
        width = max(lengths)

        def pad(v: torch.Tensor, n: int) -> torch.Tensor:
            widths = [(0, width - n if is_length else 0) for is_length in _length_axes(v, n)]
            return torch.nn.functional.pad(v, [x for w in reversed(widths) for x in w])

        inputs = {k: torch.cat([pad(p.inputs[k], n) for p, n in zip(parts, lengths)]) for k in parts[0].inputs}
        labels = [
            p.labels if p.labels.ndim == 1 else torch.nn.functional.pad(p.labels, (0, width - n), value=IGNORE)
            for p, n in zip(parts, lengths)
        ]
        return Batch(inputs, torch.cat(labels), torch.cat([p.difficulty for p in parts]))

    def padding_mask(self) -> torch.Tensor:
        """bool (B, L): real tokens (logic, text) or nodes (graph); padding comes after them."""
        return self.inputs["mask"] if "mask" in self.inputs else self.inputs["node_mask"]

    def sizes(self) -> torch.Tensor:
        """Real tokens or nodes per instance: long (B,)."""
        return self.padding_mask().sum(1)

    def trimmed(self) -> Batch:
        """The batch with the padding its largest instance does not need cut off.

        Every task pads after the real tokens/nodes and every model masks padding out, so this
        changes the cost, not the result. Cut: each input dimension after the batch dimension whose
        size is the padded length (tokens (B, L); adjacency (B, N, N))."""
        padded = self.padding_mask().shape[1]
        keep = int(self.sizes().max()) if len(self) else padded
        if keep == padded:
            return self

        def cut(v: torch.Tensor) -> torch.Tensor:
            return v[tuple(slice(keep) if is_length else slice(None) for is_length in _length_axes(v, padded))]

        labels = self.labels if self.labels.ndim == 1 else self.labels[:, :keep]
        return Batch({k: cut(v) for k, v in self.inputs.items()}, labels, self.difficulty)

    def length_buckets(self, k: int, cuts: str = "equal") -> list[Batch]:
        """``k`` sub-batches of instances of similar size, each trimmed. Mixed-difficulty batches
        are mostly padding (logic depth 1..6: 54% of the token slots).

        cuts: "equal" (parts of equal count) or "cost" (the cut points of the size-sorted batch that
        minimise :func:`padded_cost`, so a few long instances get a part of their own)."""
        if k <= 1:
            return [self.trimmed()]
        sizes = self.sizes()
        order = torch.argsort(sizes, stable=True)
        if cuts == "equal":
            groups = order.chunk(k)
        elif cuts == "cost":
            ends = cheapest_cuts(sizes[order], k)
            groups = [order[a:b] for a, b in zip([0, *ends[:-1]], ends)]
        else:
            raise ValueError(f"cuts must be 'equal' or 'cost', got {cuts!r}")
        return [self.index(idx).trimmed() for idx in groups if len(idx)]


# A token's attention cost grows with the padded length L and its linear layers' cost does not. By
# FLOPs the two are equal at L = 256 for d_model 64, d_ff 128 (the shipped text and logic models),
# but attention's small per-head matmuls and L x L softmax run at about half the rate of the linear
# layers on the CPU, hence 128. On text_stories, 32, 128 and 512 were within run-to-run noise.
ATTENTION_TOKENS = 128


def padded_cost(count: int | torch.Tensor, length: int | torch.Tensor) -> int | torch.Tensor:
    """Relative cost of a part of ``count`` instances padded to ``length``: linear layers ~ n L,
    attention ~ n L^2."""
    return count * length * (length + ATTENTION_TOKENS)


def cheapest_cuts(sorted_sizes: torch.Tensor, k: int) -> list[int]:
    """End indices of the ``k`` contiguous parts of ascending ``sorted_sizes`` (n,) whose summed
    :func:`padded_cost` is least (dynamic programming over cut points, O(k n^2), vectorised)."""
    n = len(sorted_sizes)
    k = min(k, n)
    size = sorted_sizes.to(torch.float64)
    start, end = torch.arange(n)[:, None], torch.arange(1, n + 1)[None, :]
    # part[i, j - 1]: cost of instances i..j-1 as one part, padded to size[j - 1] (the largest)
    part = torch.where(end > start, padded_cost((end - start).to(torch.float64), size[None, :]), torch.inf)
    best = part[:, -1]  # best[i]: cost of instances i.. as one part
    choice = []  # choice[m][i]: where the first part ends when i.. is cut into m + 2 parts
    for _ in range(k - 1):
        total = part[:, :-1] + best[None, 1:]  # first part i..j-1, then the rest from j
        best_end = total.argmin(1)
        best = total.gather(1, best_end[:, None])[:, 0]
        choice.append(best_end + 1)
    ends, i = [], 0
    for m in reversed(choice):
        i = int(m[i])
        ends.append(i)
    return [*ends, n]


@dataclass
class Task:
    """Base class of a task family. Subclasses set the class attributes and implement the methods.

    Everything the rest of the library knows about a task comes from here: which model interface
    reads its batches, its labels, its difficulty axis and buckets, its every-node labels and its
    plot defaults. A new task is its own module plus its registration (``tasks/registry.py``).

    Generators take their knobs as keyword-only arguments (``options``); :meth:`check_options`
    rejects unknown ones by name so a config typo fails before training.
    """

    name: ClassVar[str]
    classes: ClassVar[tuple[str, ...]]  # label vocabulary; labels are indices into it
    difficulty_name: ClassVar[str]  # "hops" or "depth"
    # the model interface that reads the batches (model/interfaces.py INTERFACES); "sequence" is
    # the generic one for a token sequence read at one token (docs/tasks.md)
    interface: ClassVar[str] = "sequence"
    # False: one answer per instance, read at one token (labels (B,)); True: an answer at every
    # position (token, node, cell; labels (B, L), IGNORE where none), scored by exact match of the
    # whole instance and per-position accuracy
    per_position: ClassVar[bool] = False
    # True: the answer turns with the input grid (a maze's path), so an evaluation ensemble of a
    # "grid" task may read it turned and mirrored (``loopthink eval --ensemble 8``)
    symmetric: ClassVar[bool] = False
    vocab: ClassVar[tuple[str, ...]] = ()  # token vocabulary of the encoded inputs (empty for graph)
    heatmap_floor: ClassVar[float] = 0.0  # lowest accuracy on the frontier heatmap's colour scale
    options: dict[str, Any] = field(default_factory=dict)
    # (lo, hi) of each numeric option, so a generator is never asked for an instance it cannot
    # build in reasonable time and memory; options not named here get +-MAX_OPTION_NUMBER
    option_bounds: ClassVar[dict[str, tuple[float, float]]] = {}

    def __post_init__(self) -> None:
        self.check_options(self.options)

    # ---- to implement -------------------------------------------------------------------
    def generate(self, n: int, seed: int, difficulty: tuple[int, int], **options: Any) -> list[dict]:
        """``n`` records with difficulty in ``[lo, hi]``; same arguments give identical output."""
        raise NotImplementedError

    def sample_batch(self, n: int, rng: np.random.Generator, difficulty: tuple[int, int]) -> Batch:
        """A fresh encoded batch for training (uses ``self.options``)."""
        return self.encode(self.generate(n, int(rng.integers(2**62)), difficulty, **self.options))

    def encode(self, records: list[dict]) -> Batch:
        """Validated records -> padded tensors. Larger instances than seen in training must work."""
        raise NotImplementedError

    def validate(self, record: dict) -> None:
        """Raise :class:`DataError` (message without line number) if ``record`` is malformed."""
        raise NotImplementedError

    def difficulty_of(self, record: dict) -> int:
        """Difficulty of a record, computed from the instance when its key is missing."""
        raise NotImplementedError

    def node_targets(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """bool (B, L, C): the classes each token may take under the every-node loss
        (``train.node_loss``); a token with none is unlabelled."""
        raise NotImplementedError(f"task {self.name!r} has no per-token labels; set train.node_loss: 0")

    def size_of(self, record: dict) -> int:
        """Tokens plus attention edges of the encoded instance, about: what sizes evaluation
        batches (``analysis.accuracy.EVAL_BUDGET``). Default: the record's length as text."""
        return len(str(record))

    def difficulty_levels(self, lo: int, hi: int) -> list[int]:
        """The difficulties in ``lo..hi`` that instances exist at (a maze's side is odd): the levels
        validation, the frontier and comparisons generate one set each for."""
        return list(range(lo, hi + 1))

    def difficulty_key(self, record: dict) -> str:
        """The bucket a record is reported under in per-difficulty tables: its difficulty."""
        return str(self.difficulty_of(record))

    def verify(self, record: dict) -> None:
        """Raise :class:`DataError` if a validated record's label or difficulty disagrees with
        its instance, recomputed by an independent solver (BFS, the expression's value, the
        kinship composition). A mislabelled record would otherwise score as if it were right.
        The default checks nothing: a plug-in task without a solver of its own relies on ``validate``."""

    # ---- shared -------------------------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        sig = inspect.signature(cls.generate)
        return [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Unknown options, values of the wrong type (by the generator's annotations) and numbers
        beyond ``MAX_OPTION_NUMBER`` fail here, naming the option."""
        from pydantic import TypeAdapter, ValidationError

        if not options:
            return
        allowed = cls.option_names()
        hints = typing.get_type_hints(cls.generate)
        for key, value in options.items():
            if key not in allowed:
                raise DataError(f"unknown option {key!r} for task {cls.name!r}; allowed: {', '.join(allowed) or 'none'}")
            try:
                TypeAdapter(hints[key]).validate_python(value, strict=not isinstance(value, list))
            except ValidationError:
                raise DataError(f"option {key!r} of task {cls.name!r}: {value!r} is not a {_type_name(hints[key])}") from None
            lo, hi = cls.option_bounds.get(key, (-MAX_OPTION_NUMBER, MAX_OPTION_NUMBER))
            for x in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(x, (int, float)) and not lo <= x <= hi:
                    raise DataError(f"option {key!r} of task {cls.name!r}: {x!r} is outside {lo}..{hi}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)
