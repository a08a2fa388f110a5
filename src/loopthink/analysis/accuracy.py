"""Accuracy over (step counts x difficulty), computed once here for ``eval``, ``frontier`` and
``compare``.

Every step count is read from ONE rollout of the largest T (the per-step readouts), not one
rollout per step count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from loopthink.config import MAX_STEPS
from loopthink.model.answers import correct, position_hits
from loopthink.tasks import Task
from loopthink.training.progress import tracked

# Tokens plus edges in one evaluation batch, padded (``Task.size_of``): evaluation memory stays
# bounded whatever a file holds (a 1,024-node graph is ~3,000 of them, a 59x59 maze ~17,000), while
# files of the shipped tasks' sizes are still read in batches of ``batch_size``.
EVAL_BUDGET = 1 << 18
# On the CPU a chunk runs in slices of at most this many tokens plus edges, so a step's working set
# stays near the cache: 64 graphs of 1,024 nodes at T = 32 evaluate in 6.9 s and 438 MiB against
# 10.9 s and 868 MiB in one pass (one thread; docs/results.md). The chunk stays the unit of the
# random draws, so slicing changes no answer.
CPU_SLICE = 1 << 14


@torch.no_grad()
def readings_over_steps(
    model: nn.Module | Sequence[nn.Module],
    task: Task,
    records: list[dict],
    steps: list[int],
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
    seed: int = 0,
    ensemble: int = 1,
    budget: int = EVAL_BUDGET,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Per chunk of records: (their indices, scores (len(steps), b, C) or (len(steps), b, L, C) for
    a per-position task, their labels). Scores are logits for one reading, else mean probabilities.

    Random initial states come from a generator seeded by ``(seed, chunk)``, so the same records
    give the same answers every time.

    model: one model, or a pool of models trained on ``task`` (e.g. a sweep's seeds) that answers
    with the members' mean probability at each step count.

    ensemble: K > 1 reads every record K times with every model, each reading with its own generator
    (its own random initial state; text: its own entity-slot numbering; a symmetric grid task:
    its own turn of the grid; the interface's ``renumbered``), and answers with the readings' mean
    probability. K times the compute.

    budget: tokens plus edges per batch (:func:`size_sorted_chunks`), so memory stays bounded."""
    if not steps or not all(1 <= s <= MAX_STEPS for s in steps):
        raise ValueError(f"step counts must be in 1..{MAX_STEPS}, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    models = [model] if isinstance(model, nn.Module) else list(model)
    if not models:
        raise ValueError("a pool needs at least one model")
    renumbers = [ensemble_renumbering(m, ensemble, task) for m in models]
    # One reading answers by its logits (the same argmax, without softmax's float ties); several
    # by their mean probability.
    single = len(models) == 1 and ensemble == 1
    t_max = max(steps)
    sizes = [task.size_of(r) for r in records]
    chunks = size_sorted_chunks(records, batch_size, sizes, budget)
    for k, chunk in enumerate(tracked(chunks, "eval", progress)):
        batch = task.encode([records[i] for i in chunk]).to(device)
        rows = max(1, CPU_SLICE // max(sizes[i] for i in chunk)) if torch.device(device).type == "cpu" else len(chunk)
        scores = torch.zeros(())
        for m, renumber in zip(models, renumbers):
            for member in range(ensemble):
                if ensemble == 1:  # the plain reading: the numbering as encoded, one generator per chunk
                    gen = torch.Generator(device).manual_seed(seed * 1_000_003 + k)
                    inputs = batch.inputs
                else:
                    gen = torch.Generator(device).manual_seed((seed * 1_000_003 + k) * 1_009 + member)
                    inputs = batch.inputs if renumber is None else renumber(batch.inputs, gen, member)
                logits = step_readouts(m, inputs, t_max, steps, gen, rows)
                scores = scores + (logits if single else logits.float().softmax(-1))
        yield chunk, scores, batch.labels


def step_readouts(model: nn.Module, inputs: dict, t_max: int, steps: list[int], gen: torch.Generator, rows: int) -> torch.Tensor:
    """The readouts after ``steps`` of one rollout of ``t_max`` steps: (len(steps), B, [L,] C),
    computed ``rows`` examples at a time from the initial state the whole batch would draw."""
    B = len(next(iter(inputs.values())))
    if rows >= B:
        return model(inputs, t_max, generator=gen, return_step_logits=True, keep_steps=steps).step_logits
    h0 = model.init_state(model.encode(inputs), gen)
    parts = [
        model({k: v[i : i + rows] for k, v in inputs.items()}, t_max, h0=h0[i : i + rows], return_step_logits=True, keep_steps=steps)
        for i in range(0, B, rows)
    ]
    return torch.cat([p.step_logits for p in parts], dim=1)


def predict_over_steps(model: nn.Module | Sequence[nn.Module], task: Task, records: list[dict], steps: list[int], **kw: Any) -> np.ndarray:
    """Predicted class per (step count, record) of a task answered once per instance: an int array
    (len(steps), len(records)). (``kw``: :func:`readings_over_steps`'s.)"""
    if task.per_position:
        raise ValueError(f"task {task.name!r} answers at every position; use correct_over_steps / score_over_steps")
    preds = np.zeros((len(steps), len(records)), dtype=np.int64)
    for chunk, scores, _ in readings_over_steps(model, task, records, steps, **kw):
        preds[:, chunk] = scores.argmax(-1).cpu().numpy()
    return preds


@dataclass
class Scores:
    """Per (step count, record): the answer is right (``correct``, bool; per position: every
    position is, the exact match), and per position the right positions (``hits``) out of the
    labelled ones (``positions``, per record); both all-ones for a task answered once."""

    correct: np.ndarray  # bool (S, N)
    hits: np.ndarray  # int (S, N)
    positions: np.ndarray  # int (N,)


def score_over_steps(model: nn.Module | Sequence[nn.Module], task: Task, records: list[dict], steps: list[int], **kw: Any) -> Scores:
    """:class:`Scores` of ``records`` after each step count (``kw``: :func:`readings_over_steps`'s)."""
    out = Scores(
        np.zeros((len(steps), len(records)), bool), np.zeros((len(steps), len(records)), np.int64), np.ones(len(records), np.int64)
    )
    for chunk, scores, labels in readings_over_steps(model, task, records, steps, **kw):
        labels = labels.to(scores.device)
        out.correct[:, chunk] = torch.stack([correct(s, labels) for s in scores]).cpu().numpy()
        if task.per_position:
            hits = [position_hits(s, labels) for s in scores]
            out.hits[:, chunk] = torch.stack([h for h, _ in hits]).cpu().numpy()
            out.positions[chunk] = hits[0][1].cpu().numpy()
        else:
            out.hits[:, chunk] = out.correct[:, chunk]
    return out


def ensemble_renumbering(model: nn.Module, ensemble: int, task: Task) -> Any:
    """The interface's ``renumbered`` (text's entity slots, a symmetric task's grid turns), or None;
    ValueError for an ensemble of a model whose evaluation draws nothing at random (its members
    would all be the same), or of more readings than a grid has turns."""
    if ensemble < 1:
        raise ValueError(f"ensemble must be >= 1, got {ensemble}")
    interface = getattr(model, "interface", None)
    renumber = getattr(interface, "renumbered", None)
    readings = getattr(interface, "READINGS", None)  # a grid: its turns, valid only if the answer turns too
    if readings is not None and not task.symmetric:
        renumber = None
    if ensemble > 1 and renumber is None and model.deterministic_init():
        raise ValueError(
            "an ensemble needs evaluation rollouts that differ: this model starts from a fixed state and its "
            "task has no entity slots to renumber nor a symmetric grid to turn (train with model.init_state: random)"
        )
    if readings is not None and renumber is not None and ensemble > readings and model.deterministic_init():
        raise ValueError(f"a grid has {readings} turns (four turns, each mirrored): an ensemble of {ensemble} would repeat them")
    return renumber


def labels_of(task: Task, records: list[dict]) -> np.ndarray:
    """The label per record of a task answered once per instance."""
    return task.encode(records).labels.numpy() if records else np.zeros(0, dtype=np.int64)


def difficulty_keys(task: Task, records: list[dict]) -> list[str]:
    """Bucket key per record (:meth:`Task.difficulty_key`): hops/depth as a string, or a named bucket."""
    return [task.difficulty_key(r) for r in records]


def size_sorted_chunks(records: list[dict], batch_size: int, sizes: list[int] | None = None, budget: int = EVAL_BUDGET) -> list[list[int]]:
    """Record indices in batches of similar size, so batches carry little padding: at most
    ``batch_size`` records, and with ``sizes`` (per record) at most ``budget`` once padded to the
    batch's largest (a record larger than the budget is a batch of its own)."""
    order = sorted(range(len(records)), key=lambda i: len(str(records[i])))
    chunks: list[list[int]] = []
    chunk: list[int] = []
    largest = 0
    for i in order:
        size = sizes[i] if sizes is not None else 0
        if chunk and (len(chunk) == batch_size or (len(chunk) + 1) * max(largest, size) > budget):
            chunks.append(chunk)
            chunk, largest = [], 0
        chunk.append(i)
        largest = max(largest, size)
    return chunks + [chunk] if chunk else chunks


def bucket_order(key: str) -> tuple[int, int]:
    """Sort key of difficulty buckets: numbers in order, then named ones ("unreachable")."""
    return (1, 0) if not str(key).lstrip("-").isdigit() else (0, int(key))


def correct_over_steps(model: nn.Module, task: Task, records: list[dict], steps: list[int], **kw: Any) -> np.ndarray:
    """(len(steps), len(records)) bool: is the answer after each step count right (per position:
    every position)? (``kw``: :func:`readings_over_steps`'s batch_size, device, progress, seed, ensemble.)"""
    return score_over_steps(model, task, records, steps, **kw).correct


def correct_counts(
    model: nn.Module, task: Task, data: dict[int, list[dict]], steps: list[int], progress: bool = False, desc: str = "difficulty", **kw: Any
) -> np.ndarray:
    """Correct answers per (step count, difficulty): an int array (len(steps), len(data)), the
    difficulties of ``data`` (difficulty -> records) in sorted order."""
    diffs = sorted(data)
    counts = np.zeros((len(steps), len(diffs)), dtype=np.int64)
    for k, d in enumerate(tqdm(diffs, desc=desc, leave=False, disable=not progress)):
        counts[:, k] = correct_over_steps(model, task, data[d], steps, **kw).sum(1)
    return counts


def evaluate_records(
    model: nn.Module, task: Task, records: list[dict], steps: list[int], by: str | None = None, **kw: Any
) -> dict[str, Any]:
    """The ``loopthink eval --json`` object: overall and per-difficulty accuracy per step count (per
    position: exact match, with the per-position accuracy beside it); with ``by``, also per value
    of that record key (records without it under "none")."""
    sc = score_over_steps(model, task, records, steps, **kw)
    out: dict[str, Any] = {"n": len(records), "steps": {}}
    for j, s in enumerate(steps):
        out["steps"][str(s)] = {"accuracy": float(sc.correct[j].mean())}
        if task.per_position:
            out["steps"][str(s)]["position_accuracy"] = float(sc.hits[j].sum() / max(1, sc.positions.sum()))
    groups = [("difficulty", np.array(difficulty_keys(task, records)))]
    if by is not None:
        groups.append(("group", np.array([str(r.get(by, "none")) for r in records])))
    for name, keys in groups:
        table: dict[str, dict[str, float]] = {}
        for k in sorted(set(keys.tolist()), key=bucket_order):
            table[k] = {str(s): float(sc.correct[j, keys == k].mean()) for j, s in enumerate(steps)}
        out[f"by_{name}"] = table
        out[f"n_by_{name}"] = {k: int((keys == k).sum()) for k in table}
    if by is not None:
        out["group_key"] = by
    return out


def format_table(result: dict[str, Any], difficulty_name: str = "difficulty") -> str:
    """A plain-text table: rows = difficulty buckets, columns = step counts."""
    steps = list(result["steps"])
    head = f"{difficulty_name:>12} " + " ".join(f"T={s:>5}" for s in steps) + "      n"
    lines = [head, "-" * len(head)]
    for k, row in result["by_difficulty"].items():
        n = result.get("n_by_difficulty", {}).get(k, "")
        lines.append(f"{k:>12} " + " ".join(f"{row[s]:>7.3f}" for s in steps) + f" {n:>6}")
    lines.append(f"{'all':>12} " + " ".join(f"{result['steps'][s]['accuracy']:>7.3f}" for s in steps) + f" {result['n']:>6}")
    if "position_accuracy" in result["steps"][steps[0]]:
        lines.append(f"{'positions':>12} " + " ".join(f"{result['steps'][s]['position_accuracy']:>7.3f}" for s in steps))
        lines.insert(0, "exact match of the whole instance per row; 'positions': the share of positions right")
    if "by_group" in result:
        lines += ["", f"{result['group_key']:>12} " + head[13:], "-" * len(head)]
        for k, row in result["by_group"].items():
            lines.append(f"{k[:12]:>12} " + " ".join(f"{row[s]:>7.3f}" for s in steps) + f" {result['n_by_group'][k]:>6}")
    if "halting" in result:
        h = result["halting"]
        lines.append(
            f"\nwith halting ({h['rule'].get('rule', '?')}, at most {h['max_steps']} steps): accuracy {h['accuracy']:.3f}, "
            f"mean steps {h['mean_steps']:.1f}, compute saved {h['compute_saved']:.0%}"
        )
        lines += [f"{k:>12}  accuracy {v['accuracy']:.3f}  mean steps {v['mean_steps']:.1f}" for k, v in h["by_difficulty"].items()]
    return "\n".join(lines)
