"""The training objective: silent thinking (the last step's readout only, the seed paper's
default), every step's readout, or Deep Thinking's progressive loss (Bansal et al. 2022); an
optional every-node term; and one optimiser step's gradient accumulated over micro-batches.
Answers once per instance or at every position are scored alike (:mod:`loopthink.model.answers`)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from loopthink.config import TrainConfig
from loopthink.model.answers import correct, cross_entropy
from loopthink.tasks import Batch, Task


def compute_loss(
    model: nn.Module, batch: Batch, steps: int, cfg: TrainConfig, rng: np.random.Generator, task: Task
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and final logits: the query's loss, plus ``node_loss`` x the every-node loss (whose
    per-token labels ``task`` gives) after the last step."""
    out, loss = query_loss(model, batch, steps, cfg, rng)
    if cfg.node_loss > 0:
        loss = loss + cfg.node_loss * every_node_loss(model, out.final_state, batch, task)
    return loss, out.logits


def query_loss(model: nn.Module, batch: Batch, steps: int, cfg: TrainConfig, rng: np.random.Generator) -> tuple[Any, torch.Tensor]:
    """(model output, loss on the query). ``final`` is silent thinking: only the last step is supervised."""
    if cfg.loss == "every":
        out = model(batch.inputs, steps, bptt=cfg.steps.bptt, return_step_logits=True)
        per_step = torch.stack([cross_entropy(lg, batch.labels) for lg in out.step_logits])
        intermediate = per_step[:-1].mean() if steps > 1 else per_step.new_zeros(())
        return out, per_step[-1] + cfg.every_step_weight * intermediate
    out = model(batch.inputs, steps, bptt=cfg.steps.bptt)
    objective = getattr(getattr(model, "module", model), "training_loss", None)  # baselines bring their own
    if objective is not None:
        return out, objective(out, batch.labels)
    loss = cross_entropy(out.logits, batch.labels)
    if out.aux_loss is not None:
        loss = loss + out.aux_loss
    if cfg.loss == "progressive" and steps > 1:
        # Bansal et al. 2022: a random number of steps without gradient, then a random number with
        # gradient from that (detached) state, supervised at its end.
        n = int(rng.integers(0, steps))
        k = int(rng.integers(1, steps - n + 1))
        with torch.no_grad():
            h = model(batch.inputs, n).final_state if n > 0 else None
        prog = model(batch.inputs, k, h0=h.detach() if h is not None else None, bptt=cfg.steps.bptt)
        loss = 0.5 * loss + 0.5 * cross_entropy(prog.logits, batch.labels)
    return out, loss


def every_node_loss(model: nn.Module, h: torch.Tensor, batch: Batch, task: Task) -> torch.Tensor:
    """The readout applied to every token that has a label of its own, not only the queried one —
    graph: every node but the source, reachable from it or not; text: every person the facts link to
    B, as their relation to B (either gendered word counts: a person's gender need not be stated);
    logic: every operator, as the value of the subexpression it applies.
    Dense labels, as a maze solver is supervised on every cell (Schwarzschild et al. 2021): the rule
    "a node is reached iff an in-neighbour is" (or "my relation to B composes my link with my
    neighbour's") then has to hold at every distance the instance has, not only at the query's.

    ``h`` is the last state (B, L, d)."""
    core = getattr(model, "module", model)
    allowed = task.node_targets(batch.inputs)
    labelled = allowed.any(-1)
    logp = F.log_softmax(core.classify(h).float(), dim=-1)
    # -log P(an allowed class); unlabelled tokens allow every class, so their term is exactly 0
    per_node = -torch.logsumexp(logp.masked_fill(~(allowed | ~labelled[..., None]), float("-inf")), dim=-1)
    # mean over each instance's labelled tokens, then over instances: every instance weighs the same,
    # so micro-batches of any size give the whole batch's loss
    return ((per_node * labelled).sum(-1) / labelled.sum(-1).clamp(min=1)).mean()


def accumulate_gradients(
    net: nn.Module, batch: Batch, steps: int, cfg: TrainConfig, rng: np.random.Generator, amp: Any, task: Task
) -> tuple[float, float]:
    """Backward of the batch's loss in ``cfg.micro_batches`` length-sorted parts, each weighted by its
    share of the batch (so the gradient is the whole batch's mean); returns (loss, accuracy).

    Each part replays ``rng`` from the same state, so every part splits the progressive loss's
    rollout at the same step. A NaN/inf part stops before its backward pass."""
    parts = batch.length_buckets(cfg.micro_batches, cfg.micro_batch_cuts)
    state = rng.bit_generator.state
    loss_sum, n_correct = 0.0, 0
    for i, part in enumerate(parts):
        rng.bit_generator.state = state
        weight = len(part) / len(batch)
        sync = nullcontext() if i == len(parts) - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with amp:
                loss, logits = compute_loss(net, part, steps, cfg, rng, task)
            if not torch.isfinite(loss):
                return loss.item(), 0.0
            (loss * weight).backward()
        loss_sum += loss.item() * weight
        n_correct += int(correct(logits, part.labels).sum())
    return loss_sum, n_correct / len(batch)
