"""What a run config holds: one typed section per part of a run, every key documented where it is
defined (its ``Field`` description) and validated by pydantic.

The sections map one-to-one onto constructor arguments: ``model`` -> :class:`loopthink.model.LoopModel`,
``task`` -> :func:`loopthink.tasks.get_task`, ``train`` -> :func:`loopthink.training.loop.train`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from loopthink.model.config import MAX_STEPS, ModelConfig, StrictConfig
from loopthink.tasks import task_class

MAX_DIFFICULTY = 1024  # hops, depth or size of generated instances (512-bit prefix sums); each generator bounds its own
DEVICE_PATTERN = r"^(cpu|cuda(:\d+)?|mps)$"


class TaskConfig(StrictConfig):
    name: str = Field(description="a registered task: graph, logic, text, or a plug-in (docs/tasks.md)")
    train_difficulty: tuple[int, int] = Field(description="inclusive hops/depth range seen in training")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the generator")
    train_data: str | None = Field(
        None,
        description="train on this record file instead of generated data: JSONL (docs/formats.md), .parquet, "
        "or a Hugging Face datasets save_to_disk directory; null = generate",
    )
    val_data: str | None = Field(
        None,
        description="validate on this record file (one accuracy per difficulty found in it); null = generated "
        "validation sets over train_difficulty",
    )

    @field_validator("name")
    @classmethod
    def _registered(cls, v: str) -> str:
        task_class(v)  # unknown names fail here, listing the known ones
        return v

    @field_validator("train_difficulty")
    @classmethod
    def _ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= MAX_DIFFICULTY:
            raise ValueError(f"need 0 <= lo <= hi <= {MAX_DIFFICULTY}, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _known_options(self) -> TaskConfig:
        cls = task_class(self.name)
        cls.check_options(self.options)
        try:  # the generator's own checks (ranges, options that depend on each other), on 2 instances
            cls(options=self.options).generate(2, 0, tuple(self.train_difficulty), **self.options)
        except (ValueError, TypeError, OverflowError) as e:
            raise ValueError(f"options {self.options} with train_difficulty {list(self.train_difficulty)}: {e}") from None
        return self


class StepsConfig(StrictConfig):
    """How many recurrence steps a training batch uses; evaluation picks its own (``eval.steps``)."""

    mode: Literal["fixed", "uniform", "lognormal_poisson"] = Field(
        "uniform",
        description="fixed (always max), uniform in [min, max], or lognormal_poisson (Huginn's heavy-tailed "
        "draw around mean, clipped to [min, max]): varying T keeps the model from tying its answer to one T",
    )
    min: int = Field(1, ge=1, description="fewest steps a batch gets")
    max: int = Field(16, ge=1, le=MAX_STEPS, description="most steps a batch gets; also the steps validation runs")
    mean: float = Field(8.0, gt=0, description="lognormal_poisson: mean number of steps")
    bptt: int | None = Field(
        None,
        ge=1,
        description="backprop through only the last k steps (earlier ones run without a graph, so memory stays flat in T); null = all",
    )

    @model_validator(mode="after")
    def _range(self) -> StepsConfig:
        if self.min > self.max:
            raise ValueError(f"min={self.min} > max={self.max}")
        return self


class TrainConfig(StrictConfig):
    """The optimisation and the training loop (``loopthink.training.loop.train``)."""

    iters: int = Field(2000, ge=1, description="optimiser steps; each draws a fresh batch")
    batch_size: int = Field(128, ge=1, description="instances per optimiser step")
    lr: float = Field(1e-3, gt=0, description="peak AdamW learning rate (betas 0.9, 0.98)")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="floor of the cosine decay, as a fraction of lr")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay on matrices (not on norms, biases, token tables)")
    warmup: int = Field(100, ge=0, description="iterations of linear learning-rate warmup")
    grad_clip: float | None = Field(1.0, gt=0, description="clip the gradient's global norm to this; null = no clipping")
    steps: StepsConfig = Field(default_factory=StepsConfig, description="recurrence steps per training batch")
    loss: Literal["final", "every", "progressive"] = Field(
        "final",
        description="final: only the last step's readout is supervised (silent thinking); every: every "
        "step's too; progressive: Bansal et al. 2022's mix with a rollout restarted from a detached state",
    )
    every_step_weight: float = Field(1.0, ge=0, description="loss='every': weight of the mean over earlier steps")
    node_loss: float = Field(
        0.0,
        ge=0,
        description="weight of an extra loss that applies the readout to every token with a label of its "
        "own after the final step (graph: each node, reachable from the source or not; text: each person "
        "within A's distance of B, their relation to B; logic: each operator, its subexpression's value); "
        "the labels come from the training instance, so training still sees no longer chains; 0 = off",
    )
    ema: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="decay of an exponential moving average of the weights, updated after every optimiser "
        "step and kept in the checkpoint; validation and the run's model.safetensors (what eval and every "
        "analysis load) are the average; null = off (the trained weights)",
    )
    curriculum: float = Field(
        0.0,
        ge=0,
        le=1,
        description="fraction of iters over which the hardest training difficulty grows from the easiest "
        "to task.train_difficulty's max (one level per equal share); 0 = off",
    )
    difficulty_weights: Literal["uniform", "linear"] = Field(
        "uniform",
        description="how a batch's instances spread over the current difficulty range: uniform, or "
        "linear (level lo+k drawn with weight k+1, so the hardest level gets the most; easy levels "
        "are learned first and then waste most of a uniform batch)",
    )
    micro_batches: int = Field(
        1,
        ge=1,
        description="split each batch into this many micro-batches of similar instance size, each "
        "trimmed of padding; gradients accumulate, so the update is the whole batch's, at less cost",
    )
    micro_batch_cuts: Literal["equal", "cost"] = Field(
        "equal",
        description="where the size-sorted batch is cut into micro-batches: equal (parts of equal "
        "count) or cost (the cuts that minimise the padded cost n L (L + 128), linear layers plus "
        "attention, so a few long instances get a part of their own; the same update, cheaper on "
        "batches of mixed lengths)",
    )
    epochs: float | None = Field(
        None,
        gt=0,
        description="with task.train_data: passes over the file; sets iters = ceil(epochs * N / (batch_size * "
        "world size)); null = train for iters",
    )
    seed: int = Field(0, description="seeds the data, the steps per batch, the initial states and dropout of every iteration")
    eval_every: int = Field(250, ge=1, description="iterations between validations (fixed seeded sets, one per training difficulty)")
    eval_n: int = Field(256, ge=1, description="validation instances per difficulty")
    checkpoint_every: int = Field(250, ge=1, description="iterations between checkpoints (a run resumes from the last)")
    log_every: int = Field(10, ge=1, description="iterations between rows of metrics.jsonl")
    loggers: list[Literal["jsonl", "tensorboard", "wandb"]] = Field(
        default_factory=lambda: ["jsonl"],
        description="where metrics go: metrics.jsonl always (the source of truth), plus tensorboard (RUN/tensorboard) "
        "and/or wandb (project train.wandb_project); see loopthink/training/loggers.py",
    )
    wandb_project: str = Field("loopthink", description="loggers: wandb: the W&B project")
    device: str = Field("cpu", pattern=DEVICE_PATTERN, description="cpu, cuda, cuda:N or mps")
    amp: bool = Field(False, description="bf16 autocast (for CUDA; also runs, slower, on the CPU)")
    compile: bool = Field(
        False,
        description="torch.compile the recurrence step; on a GPU, and on the CPU for small models too (text "
        "stories: 0.42 -> 0.29 s per step after ~10 s of compiling; needs a C++ compiler there)",
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default all cores")
    data_workers: int = Field(
        0,
        ge=0,
        description="processes generating training batches ahead (for a GPU, where one background "
        "thread cannot keep up); 0 = one background thread. The batches are the same either way",
    )


class EvalConfig(StrictConfig):
    """What ``loopthink eval``, the demo and the bench measure by default."""

    steps: list[Annotated[int, Field(ge=1, le=MAX_STEPS)]] = Field(
        default_factory=lambda: [8, 16, 32],
        description="step counts to evaluate at, all read from one rollout of the largest",
    )
    difficulties: list[tuple[int, int]] = Field(default_factory=list, description="ranges reported by the demo/bench")
    options: dict[str, Any] = Field(default_factory=dict, description="generator options for evaluation data")


class RunConfig(StrictConfig):
    """One run: the task, the model, how it trains and how it is evaluated."""

    task: TaskConfig = Field(description="the task family and its training data")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the recurrent model (also the baselines' shared parts)")
    train: TrainConfig = Field(default_factory=TrainConfig, description="optimisation and the training loop")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="default evaluation settings")
    arch: Literal["recurrent", "transformer", "act", "ponder"] = Field(
        "recurrent",
        description="recurrent (this model) or a baseline trained the same way: transformer (untied "
        "layers), act (Universal Transformer + ACT, Graves 2016), ponder (PonderNet, Banino et al. 2021)",
    )
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="arch-specific settings of a baseline, checked in model/baselines.py"
    )

    @model_validator(mode="after")
    def _eval_options(self) -> RunConfig:
        task_class(self.task.name).check_options(self.eval.options)
        return self

    @model_validator(mode="after")
    def _depth_table(self) -> RunConfig:
        table = self.model.depth_embedding
        steps = self.train.steps.max
        if table and table < steps:
            raise ValueError(f"model.depth_embedding={table} has fewer entries than the {steps} steps training uses")
        return self

    @model_validator(mode="after")
    def _file_data(self) -> RunConfig:
        if self.task.train_data is None:
            if self.train.epochs is not None:
                raise ValueError("train.epochs needs task.train_data (generated data has no epochs; set train.iters)")
            return self
        if self.train.curriculum or self.train.difficulty_weights != "uniform":
            raise ValueError(
                "train.curriculum and train.difficulty_weights shape generated data; with task.train_data the file's own mix is used"
            )
        return self
