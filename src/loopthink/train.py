"""The training loop, in one readable place.

Determinism: the data, the number of recurrence steps, the random initial state and dropout of
iteration ``i`` all derive from ``(seed, i)``. So a run resumed from a checkpoint at iteration
``k`` sees exactly what an uninterrupted run sees from ``k`` on, and produces the same metrics.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from loopthink.batches import Prefetcher, iteration_rng, validation_sets
from loopthink.checkpoint import (
    CKPT,
    LOCK_FILE,
    OLD,
    TMP,
    RunError,
    atomic_write_text,
    check_device,
    exclusive_lock,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_run_config,
)
from loopthink.config import RunConfig, TrainConfig
from loopthink.datasource import FileData, training_data, with_epochs
from loopthink.loggers import open_loggers
from loopthink.model import build_model
from loopthink.model.core import cross_entropy
from loopthink.progress import TrainProgress, accuracy_line
from loopthink.tasks import Batch, Task, get_task


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf. The last good checkpoint is kept."""


ADAM_BETAS = (0.9, 0.98)  # beta2 0.98, not 0.999: the transformer setting (Vaswani et al. 2017)


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio * lr``."""
    if it < cfg.warmup:
        return cfg.lr * (it + 1) / cfg.warmup
    progress = (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# ---- one step --------------------------------------------------------------------------------
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
    loss_sum, correct = 0.0, 0
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
        correct += int((logits.argmax(-1) == part.labels).sum())
    return loss_sum, correct / len(batch)


@torch.no_grad()
def validate(model: nn.Module, sets: dict[int, Batch], steps: int, device: str, cfg: TrainConfig) -> dict[str, float]:
    """Accuracy on each validation set, read in the training's micro-batch parts: a set padded to
    its longest instance costs up to three times as much (text_stories' five sets of 256: 11.7 s
    against 4.0 s in four parts)."""
    model.eval()
    acc = {}
    for d, b in sets.items():
        parts = b.to(device).length_buckets(cfg.micro_batches, cfg.micro_batch_cuts)
        correct = sum(int((model(p.inputs, steps).logits.argmax(-1) == p.labels).sum()) for p in parts)
        acc[str(d)] = correct / len(b)
    model.train()
    return acc


def step_speedups(model: nn.Module, tc: TrainConfig, device: str) -> Any:
    """Compile ``model``'s step in place (``train.compile``) and return the context its forward
    runs in: bf16 autocast with ``train.amp``, else a no-op."""
    if tc.compile:
        model.step = torch.compile(model.step, dynamic=True)  # the hot loop body
    # bf16 autocast is meant for CUDA; it runs on the CPU too (slower there), which is how tests cover it.
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if tc.amp else nullcontext()


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices except the token/role embedding tables (``embed``/``role``),
    none on vectors (norms, biases, LayerScale). Other tables (text position/segment/entity, depth
    embedding, relation-bias weights) are matrices and are decayed: the measured configs trained so."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in name and "role" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=ADAM_BETAS)


def weight_average(model: nn.Module, cfg: TrainConfig) -> AveragedModel | None:
    """With ``train.ema``: an exponential moving average of ``model``'s weights, updated after every
    optimiser step; validation, the run's weights and everything that loads them read it. None: off."""
    if cfg.ema is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)


# ---- distributed (torchrun) --------------------------------------------------------------------
def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


# ---- the loop --------------------------------------------------------------------------------
def train(
    cfg: RunConfig, out: str | Path, resume: bool = False, progress: bool | None = None, stop_at: int | None = None
) -> dict[str, Any]:
    """Train a run into ``out``; returns the final validation metrics.

    ``stop_at``: checkpoint and return after this iteration although the schedule runs to
    ``train.iters`` (split a run over several jobs; ``resume`` continues it)."""
    out = Path(out)
    tc = cfg.train
    rank, world = _distributed()
    device = tc.device if world == 1 or not tc.device.startswith("cuda") else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    check_device(device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    task = get_task(cfg.task.name, **cfg.task.options)
    file_data = training_data(task, cfg, world)  # None: generated; read and validated before anything runs
    cfg = with_epochs(cfg, file_data)
    tc = cfg.train
    torch.manual_seed(tc.seed)
    model = build_model(cfg, task).to(device)
    opt = make_optimizer(model, tc)
    average = weight_average(model, tc)

    lock = open_run_dir(out, resume) if rank == 0 else None
    try:
        start, best = 0, {}
        if resume:
            trainer = load_checkpoint(out, model, opt, average)
            start, best = trainer["iter"], trainer.get("val", {})
        if rank == 0:  # rows logged after the checkpoint (or by a run that never checkpointed) are redone
            _truncate_metrics(out / "metrics.jsonl", start)
            write_run_config(out, cfg)
        return _loop(cfg, out, model, opt, average, task, file_data, device, rank, world, start, best, progress, stop_at)
    finally:
        if lock is not None:
            lock.close()


def _loop(
    cfg: RunConfig,
    out: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    average: AveragedModel | None,
    task: Task,
    file_data: FileData | None,
    device: str,
    rank: int,
    world: int,
    start: int,
    best: dict,
    progress: bool | None,
    stop_at: int | None,
) -> dict[str, Any]:
    tc = cfg.train

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    amp = step_speedups(model, tc, device)
    val_sets = validation_sets(task, cfg) if rank == 0 else {}
    eval_steps = tc.steps.max
    # metric sinks open before the data threads start, so a sink that cannot open leaves none behind
    log = open_loggers(out, tc.loggers, tc.wandb_project, cfg.model_dump(mode="json")) if rank == 0 else None
    data = Prefetcher(task, cfg, start, rank, data=file_data)
    bar = TrainProgress(start, tc.iters, show=progress is not False and rank == 0)
    t0, last = time.time(), {}
    try:
        model.train()
        for it in range(start, min(tc.iters, stop_at or tc.iters)):
            batch, steps = next(data)
            batch = batch.to(device)
            torch.manual_seed(tc.seed * 1_000_003 + it)  # dropout / random h0 of this iteration
            for g in opt.param_groups:
                g["lr"] = lr_at(it, tc)
            opt.zero_grad(set_to_none=True)
            loss, acc = accumulate_gradients(net, batch, steps, tc, iteration_rng(tc.seed, it, rank + 7919), amp, task)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"loss is {loss} at iteration {it}; stopped. The last good checkpoint in {out} is kept "
                    "(try a lower train.lr, train.grad_clip, or model.layerscale)."
                )
            gnorm = nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip or float("inf"))
            opt.step()
            if average is not None:
                average.update_parameters(model)
            if rank:
                continue
            done = it + 1
            if done % tc.log_every == 0 or done == tc.iters:
                last = {
                    "iter": done,
                    "loss": round(loss, 6),
                    "acc": round(acc, 4),
                    "steps": steps,
                    "lr": lr_at(it, tc),
                    "grad_norm": round(float(gnorm), 4),
                }
                log.log({**last, "time": round(time.time() - t0, 2)})
            if done % tc.eval_every == 0 or done == tc.iters:
                best = validate(model if average is None else average.module, val_sets, eval_steps, device, tc)
                log.log({"iter": done, "val": best, "val_steps": eval_steps})
                bar.write(f"iter {done}: " + accuracy_line(best, eval_steps, task.difficulty_name))
            if done % tc.checkpoint_every == 0 or done in (tc.iters, stop_at):
                save_checkpoint(out, model, opt, {"iter": done, "val": best}, average)
            bar.update(done, loss, acc, steps)
    finally:
        data.close()
        bar.close()
        if log:
            log.close()
    return {"iter": tc.iters, "val": best, "val_steps": eval_steps, "last": last, "seconds": time.time() - t0}


# What `train` (and `sweep`, train.log) put in a run directory before its config.yaml exists.
RUN_FILES = frozenset({"config.yaml", "metrics.jsonl", "model.safetensors", "train.log", "tensorboard", "wandb", LOCK_FILE, CKPT, TMP, OLD})


def open_run_dir(out: Path, resume: bool) -> Any:
    """Create ``out`` and take its lock (one ``train`` per run directory); refuse a file, a
    directory of other things, and, without ``resume``, a run that has a checkpoint."""
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: is a file; --out must name a run directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{out}: cannot create the run directory ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise RunError(f"{out}: the run directory is not writable")
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.endswith(".tmp"))
    if others and not (out / "config.yaml").is_file():  # a run may hold analysis outputs; anything else may not
        raise RunError(f"{out}: holds files that are not part of a run ({', '.join(others[:4])}); choose an empty or new --out")
    lock = exclusive_lock(out / LOCK_FILE, f"{out}: another `loopthink train` is writing to this run directory")
    if not resume and ((out / CKPT).exists() or (out / OLD).exists()):
        lock.close()
        raise RunError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and latest_checkpoint(out) is None:
        lock.close()
        raise RunError(f"{out}: nothing to resume (no complete checkpoint)")
    return lock


def _truncate_metrics(path: Path, upto: int) -> None:
    """Drop rows logged after the checkpoint we resume from, so the resumed log equals an uninterrupted one."""
    if not path.exists():
        return
    rows = [ln for ln in path.read_text(errors="replace").splitlines() if _row_iter(ln) <= upto]
    atomic_write_text(path, "".join(r + "\n" for r in rows))


def _row_iter(line: str) -> float:
    """A metrics row's iteration; infinite (dropped) for a torn or foreign line."""
    try:
        row = json.loads(line)
    except ValueError:
        return math.inf
    return row.get("iter", 0) if isinstance(row, dict) and type(row.get("iter", 0)) is int else math.inf
