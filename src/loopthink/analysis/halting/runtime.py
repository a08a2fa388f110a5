"""Halting at run time: :func:`halt` drops stopped rows from the batch, :func:`simulate` replays a
rule on recorded rollouts; both over many records in the chunks and initial states of evaluation.
A per-position task's answers are (B, L) (:mod:`loopthink.analysis.answers_over_steps`): an
instance exits as a whole, its answer read at its exit step at every position."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from loopthink.analysis.accuracy import size_sorted_chunks
from loopthink.analysis.answers_over_steps import answer_at, answer_of, place_rows, positions_of
from loopthink.analysis.halting.features import FeatureTracker, StepFeatures, concat, n_tokens, record, select
from loopthink.analysis.halting.rules import ExitRule
from loopthink.analysis.trajectory import max_token_change, relative_change
from loopthink.model.core import SteppedModel
from loopthink.tasks import Task


@dataclass
class HaltResult:
    predictions: torch.Tensor  # (B,) prediction at each example's exit step; per position (B, L)
    steps_used: torch.Tensor  # (B,) exit step, in [min_steps, max_steps]
    logits: torch.Tensor  # (B, C) readout at the exit step; per position (B, L, C)


def check_steps(max_steps: int, min_steps: int) -> None:
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"min_steps must be in [1, max_steps={max_steps}], got {min_steps}")


@torch.no_grad()
def halt(
    model: SteppedModel,
    inputs: dict[str, torch.Tensor],
    rule: ExitRule,
    max_steps: int,
    min_steps: int = 1,
    generator: torch.Generator | None = None,
    h0: torch.Tensor | None = None,
) -> HaltResult:
    """Run ``model`` on ``inputs`` with per-example halting.

    After each step t the rule sees the active rows' :class:`StepFeatures`; rows it stops (never
    before ``min_steps``; all at ``max_steps``) keep the readout of step t and leave the batch, so
    the remaining steps run on a smaller batch. Results equal a full rollout read at each row's
    exit step (same ``generator`` / ``h0``).
    """
    check_steps(max_steps, min_steps)
    loop = model.iterate(inputs, max_steps, h0=h0, generator=generator, readout=True)
    s = next(loop)
    B = s.h.shape[0]
    rows = torch.arange(B, device=s.h.device)
    token_mask = s.ctx.token_mask
    tok = token_mask[..., None].to(s.h.dtype)
    tracker = FeatureTracker(n_tokens(s.ctx), max_steps, token_mask)
    steps_used = torch.full((B,), max_steps, dtype=torch.long, device=s.h.device)
    out_logits: torch.Tensor | None = None
    for s in loop:
        logits = s.logits
        if out_logits is None:
            out_logits = torch.empty((B, *logits.shape[1:]), dtype=logits.dtype, device=logits.device)
        f = tracker.update(s.t, logits, relative_change(s.h, s.prev, tok), max_token_change(s.h, s.prev, tok))
        if s.t >= max_steps:
            stop = torch.ones_like(f.changed)
        elif s.t < min_steps:
            stop = torch.zeros_like(f.changed)
        else:
            stop = rule.should_stop(f).to(torch.bool)
        if bool(stop.any()):
            done = rows[stop]
            out_logits[done] = logits[stop]
            steps_used[done] = s.t
            keep = (~stop).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            rows, tok = rows[keep], tok[keep]
            s.keep(keep)
            tracker.keep(keep)
    assert out_logits is not None
    return HaltResult(answer_of(out_logits, positions_of(out_logits, token_mask)), steps_used, out_logits)


def exit_steps(stop: torch.Tensor, min_steps: int = 1) -> torch.Tensor:
    """Exit step (1-based) per example from a recorded (T, B) stop matrix: the first step >=
    ``min_steps`` where it is True, else T."""
    T = stop.shape[0]
    check_steps(T, min_steps)
    stop = stop.clone().to(torch.bool)
    stop[: min_steps - 1] = False
    stop[T - 1] = True
    return stop.to(torch.uint8).argmax(0) + 1  # argmax returns the first maximal index


def simulate(rule: ExitRule, feats: StepFeatures, min_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(exit steps, predictions at exit) of ``rule`` on recorded full rollouts, without re-running."""
    steps = exit_steps(rule.should_stop(feats), min_steps)
    return steps, answer_at(feats.prediction, steps)


def record_records(
    model: SteppedModel, task: Task, records: list[dict], max_steps: int, seed: int, batch_size: int = 512, device: str = "cpu"
) -> tuple[StepFeatures, float]:
    """Recorded features of ``records`` (example order kept) and the rollouts' wall time (s)."""
    parts, order, wall = [], [], 0.0
    for i, chunk in enumerate(size_sorted_chunks(records, batch_size)):
        inputs = task.encode([records[j] for j in chunk]).to(device).inputs
        start = time.perf_counter()
        parts.append(record(model, inputs, max_steps, torch.Generator(device).manual_seed(seed + i)))
        wall += time.perf_counter() - start
        order += chunk
    feats = concat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return select(feats, inverse.to(feats.prediction.device)), wall


def halt_records(
    model: SteppedModel,
    task: Task,
    records: list[dict],
    rule: ExitRule,
    max_steps: int,
    min_steps: int,
    seed: int,
    batch_size: int = 512,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(predictions, steps used, wall time) of :func:`halt` over ``records``; the chunks and initial
    states are those of :func:`record_records` with the same ``seed``. Per position, predictions
    are (N, L) padded with IGNORE to the longest record."""
    steps = torch.zeros(len(records), dtype=torch.long)
    chunks, answers, wall = size_sorted_chunks(records, batch_size), [], 0.0
    for i, chunk in enumerate(chunks):
        inputs = task.encode([records[j] for j in chunk]).to(device).inputs
        start = time.perf_counter()
        res = halt(model, inputs, rule, max_steps, min_steps, torch.Generator(device).manual_seed(seed + i))
        wall += time.perf_counter() - start
        answers.append(res.predictions)
        steps[chunk] = res.steps_used.cpu()
    return place_rows(len(records), chunks, answers), steps, wall
