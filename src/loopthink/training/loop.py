"""The training loop, in one readable place.

Determinism: the data, the number of recurrence steps, the random initial state and dropout of
iteration ``i`` all derive from ``(seed, i)``. So a run resumed from a checkpoint at iteration
``k`` sees exactly what an uninterrupted run sees from ``k`` on, and produces the same metrics.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from loopthink.config import RunConfig, TrainConfig
from loopthink.model import build_model
from loopthink.model.answers import correct
from loopthink.tasks import Batch, Task, get_task
from loopthink.training.batches import Prefetcher, iteration_rng, validation_sets
from loopthink.training.data import FileData, training_data, with_epochs
from loopthink.training.loggers import open_loggers
from loopthink.training.losses import accumulate_gradients
from loopthink.training.progress import TrainProgress, accuracy_line
from loopthink.training.rundir import (
    check_device,
    load_checkpoint,
    open_run_dir,
    save_checkpoint,
    truncate_metrics,
    write_run_config,
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf. The last good checkpoint is kept."""


ADAM_BETAS = (0.9, 0.98)  # beta2 0.98, not 0.999: the transformer setting (Vaswani et al. 2017)


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio * lr``."""
    if it < cfg.warmup:
        return cfg.lr * (it + 1) / cfg.warmup
    progress = (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def validate(model: nn.Module, sets: dict[int, Batch], steps: int, device: str, cfg: TrainConfig) -> dict[str, float]:
    """Accuracy on each validation set, read in the training's micro-batch parts: a set padded to
    its longest instance costs up to three times as much (text_stories' five sets of 256: 11.7 s
    against 4.0 s in four parts)."""
    model.eval()
    acc = {}
    for d, b in sets.items():
        parts = b.to(device).length_buckets(cfg.micro_batches, cfg.micro_batch_cuts)
        right = sum(int(correct(model(p.inputs, steps).logits, p.labels).sum()) for p in parts)
        acc[str(d)] = right / len(b)
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
@dataclass
class Trainer:
    """Everything one training process holds: what it trains, where, and how far it is."""

    cfg: RunConfig
    out: Path
    model: nn.Module
    opt: torch.optim.Optimizer
    average: AveragedModel | None  # the weights' moving average (train.ema), or None
    task: Task
    file_data: FileData | None  # None: generated data
    device: str
    rank: int = 0
    world: int = 1
    start: int = 0  # first iteration this process runs (a resumed run's checkpoint)
    val: dict = field(default_factory=dict)  # the last validation's accuracies

    @property
    def evaluated(self) -> nn.Module:
        """The weights that validation reads and the run saves: the moving average, if any."""
        return self.model if self.average is None else self.average.module


def train(
    cfg: RunConfig, out: str | Path, resume: bool = False, progress: bool | None = None, stop_at: int | None = None
) -> dict[str, Any]:
    """Train a run into ``out``; returns the final validation metrics.

    ``stop_at``: checkpoint and return after this iteration although the schedule runs to
    ``train.iters`` (split a run over several jobs; ``resume`` continues it)."""
    out = Path(out)
    rank, world = _distributed()
    tc = cfg.train
    device = tc.device if world == 1 or not tc.device.startswith("cuda") else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    check_device(device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    task = get_task(cfg.task.name, **cfg.task.options)
    file_data = training_data(task, cfg, world)  # None: generated; read and validated before anything runs
    cfg = with_epochs(cfg, file_data)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, task).to(device)
    opt = make_optimizer(model, cfg.train)
    trainer = Trainer(cfg, out, model, opt, weight_average(model, cfg.train), task, file_data, device, rank, world)
    lock = open_run_dir(out, resume) if rank == 0 else None
    try:
        if resume:
            state = load_checkpoint(out, model, opt, trainer.average)
            trainer.start, trainer.val = state["iter"], state.get("val", {})
        if rank == 0:  # rows logged after the checkpoint (or by a run that never checkpointed) are redone
            truncate_metrics(out / "metrics.jsonl", trainer.start)
            write_run_config(out, cfg)
        return run_loop(trainer, progress, stop_at)
    finally:
        if lock is not None:
            lock.close()


def run_loop(tr: Trainer, progress: bool | None, stop_at: int | None) -> dict[str, Any]:
    """Iterations ``tr.start`` .. ``min(train.iters, stop_at)``: one optimiser step each, with
    logging, validation and checkpoints on rank 0."""
    cfg, tc, model = tr.cfg, tr.cfg.train, tr.model
    net: nn.Module = model
    if tr.world > 1:
        ids = [torch.device(tr.device).index] if tr.device.startswith("cuda") else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    amp = step_speedups(model, tc, tr.device)
    val_sets = validation_sets(tr.task, cfg) if tr.rank == 0 else {}
    eval_steps = tc.steps.max
    # metric sinks open before the data threads start, so a sink that cannot open leaves none behind
    log = open_loggers(tr.out, tc.loggers, tc.wandb_project, cfg.model_dump(mode="json")) if tr.rank == 0 else None
    data = Prefetcher(tr.task, cfg, tr.start, tr.rank, data=tr.file_data)
    bar = TrainProgress(tr.start, tc.iters, show=progress is not False and tr.rank == 0)
    t0, last = time.time(), {}
    try:
        model.train()
        for it in range(tr.start, min(tc.iters, stop_at or tc.iters)):
            batch, steps = next(data)
            torch.manual_seed(tc.seed * 1_000_003 + it)  # dropout / random h0 of this iteration
            for g in tr.opt.param_groups:
                g["lr"] = lr_at(it, tc)
            tr.opt.zero_grad(set_to_none=True)
            rng = iteration_rng(tc.seed, it, tr.rank + 7919)
            loss, acc = accumulate_gradients(net, batch.to(tr.device), steps, tc, rng, amp, tr.task)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"loss is {loss} at iteration {it}; stopped. The last good checkpoint in {tr.out} is kept "
                    "(try a lower train.lr, train.grad_clip, or model.layerscale)."
                )
            gnorm = nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip or float("inf"))
            tr.opt.step()
            if tr.average is not None:
                tr.average.update_parameters(model)
            if tr.rank:
                continue
            done = it + 1
            if done % tc.log_every == 0 or done == tc.iters:
                last = {"iter": done, "loss": round(loss, 6), "acc": round(acc, 4), "steps": steps, "lr": lr_at(it, tc)}
                last["grad_norm"] = round(float(gnorm), 4)
                log.log({**last, "time": round(time.time() - t0, 2)})
            if done % tc.eval_every == 0 or done == tc.iters:
                tr.val = validate(tr.evaluated, val_sets, eval_steps, tr.device, tc)
                log.log({"iter": done, "val": tr.val, "val_steps": eval_steps})
                bar.write(f"iter {done}: " + accuracy_line(tr.val, eval_steps, tr.task.difficulty_name))
            if done % tc.checkpoint_every == 0 or done in (tc.iters, stop_at):
                save_checkpoint(tr.out, model, tr.opt, {"iter": done, "val": tr.val}, tr.average)
            bar.update(done, loss, acc, steps)
    finally:
        data.close()
        bar.close()
        if log:
            log.close()
    return {"iter": tc.iters, "val": tr.val, "val_steps": eval_steps, "last": last, "seconds": time.time() - t0}
