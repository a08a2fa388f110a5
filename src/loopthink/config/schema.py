"""What a run config holds: one typed section per part of a run, every key documented where it is
defined (its ``Field`` description) and validated by pydantic.

The sections map one-to-one onto constructor arguments: ``model`` -> :class:`loopthink.model.LoopModel`,
``task`` -> :func:`loopthink.tasks.get_task`, ``train`` -> :func:`loopthink.train.train`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopthink.tasks import Task, task_class

MAX_STEPS = 4096  # recurrence steps, in training and evaluation (each step is a full transformer block)
MAX_DIFFICULTY = 256  # hops/depth of generated instances (a graph of 256 hops needs 514 nodes)
DEVICE_PATTERN = r"^(cpu|cuda(:\d+)?|mps)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskConfig(_Strict):
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


class ModelConfig(_Strict):
    """The recurrent model (docs/architecture.md). Defaults are the graph model's; each task's config
    states what it changes."""

    d_model: int = Field(64, gt=0, description="width of the latent state and of every token embedding")
    n_heads: int = Field(4, gt=0, description="attention heads; d_model / n_heads must be even (rotary pairs)")
    d_ff: int = Field(256, gt=0, description="hidden width of each block's MLP")
    blocks_per_step: int = Field(
        1,
        ge=1,
        description="transformer blocks inside one recurrent step, shared across steps; more lets one "
        "step do several attention hops (text: name -> fact -> name)",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on attention and MLP outputs (the paper uses 0.1)")
    layerscale: float | None = Field(
        1e-4,
        description="LayerScale init (CaiT, Touvron et al. 2021): each branch starts this quiet, so a "
        "fresh step is near identity and deep rollouts stay stable; null disables it",
    )
    gate: bool = Field(
        True,
        description="identity-biased gated recurrence h' = z*r + (1-z)*h (the seed paper's gate): a step "
        "keeps most of the old state until training opens the gate",
    )
    gate_bias: float = Field(-2.0, description="gate bias init; sigmoid(-2) ~ 0.12 keeps mostly the old state")
    injection: Literal["add", "concat", "none"] = Field(
        "add",
        description="how the encoded input re-enters every step: added to each branch's input (add), "
        "concatenated with the state and projected (concat), or not at all (none: the state starts at it)",
    )
    init_state: Literal["zeros", "random"] = Field(
        "random",
        description="h_0: zeros, or N(0, init_scale^2) (Geiping et al. 2025, Huginn: runs from different "
        "starts must agree, which the dynamics diagnostics measure)",
    )
    init_scale: float = Field(1.0, ge=0.0, description="std of the random initial state")
    depth_embedding: int = Field(
        0,
        ge=0,
        description="size of a learned per-step embedding table (the seed paper's); caps the steps at its "
        "size, so 0 = off is what lets a model run more steps than it was trained with",
    )
    max_entities: int = Field(
        64,
        ge=1,
        description="text: entity slots, the most distinct names one instance can have (at least task.options.max_entities)",
    )
    relation_bias: float | None = Field(
        10.0,
        description="init of the learned attention biases for structural relations (text: same sentence, same "
        "name; logic: same parenthesis group, group link); null = no relation biases",
    )
    rotary_positions: Literal["sequence", "group"] = Field(
        "sequence",
        description="logic: a token's rotary position is its index in the sequence, or in its own "
        "parenthesis group (bounded by the group's size at any depth)",
    )
    expression_relations: Literal["parens", "tree"] = Field(
        "parens",
        description="logic: the two relations read off the parentheses (same group, group link; operator "
        "precedence is learned), or off the parse tree (operand of, operator of; no rotary positions), "
        "so every written form of one expression gives the same relations and a step moves values one level up",
    )
    relation_mask: bool = Field(
        False,
        description="attend only along the relations (and to itself), as graph attends only along edges; needs relation_bias",
    )
    null_key: bool = Field(
        False,
        description="a learned key/value every query may attend to besides its mask: a graph node with no "
        "in-neighbours then attends like one whose in-neighbours carry nothing, instead of to itself alone",
    )
    state_norm: bool = Field(
        False,
        description="RMS-normalise every token's state after each step (no parameters): a constant per-step "
        "increment can then not grow the state without bound, the drift behind text's overthinking; "
        "arch: recurrent, act and ponder (which share its step; the transformer baseline ignores it)",
    )
    depth_attention: bool = Field(
        False,
        description="Depth-Attention: every attention query also attends over its own token's keys from this "
        "block's earlier steps, their values mixed in (no parameters; memory grows with the steps); "
        "arch: recurrent, act and ponder (which share its step; the transformer baseline ignores it)",
    )
    update_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="training only: at every step each token keeps its old state with this probability "
        "(asynchronous updates, as neural cellular automata are trained: Mordvintsev et al. 2020), so the "
        "step at which news reaches a token cannot be timed and the rule it learns is one of states, not "
        "of steps; evaluation updates every token; arch: recurrent, act and ponder (which share its step)",
    )
    update_dropout_eval: bool = Field(
        False,
        description="evaluate as update_dropout trains: every token sits each step out with that chance in "
        "evaluation too (asynchronous evaluation), drawn from the rollout's generator, so a reading is "
        "reproducible and readings with other generators differ; needs update_dropout > 0",
    )
    state_noise: float = Field(
        0.0,
        ge=0.0,
        description="training only: Gaussian noise of this std added to every token's new state at every step "
        "(before the state norm; with state_norm a state has RMS 1), so a step must map a perturbed state back "
        "onto what it reads and an error can shrink along a chain instead of growing; evaluation adds none; "
        "arch: recurrent, act and ponder (which share its step)",
    )
    latch: bool = Field(
        False,
        description="a one-way front: each token's update is scaled by its openness k (1 at the start), which "
        "falls after every step by a learned probability p = sigmoid(w . h + b) of the token's new state "
        "(k <- k (1 - p)), so a token that has settled keeps its state however many steps follow; "
        "arch: recurrent, act and ponder (which share its step; its cost only with arch: recurrent)",
    )
    latch_bias: float = Field(-4.0, description="latch: init of b; sigmoid(-4) ~ 0.018, so tokens start open")
    latch_cost: float = Field(
        0.0,
        ge=0,
        description="latch: weight of the mean openness (over steps and real tokens) added to the training "
        "loss, a ponder cost that asks each token to settle as soon as its state is final; 0 = off",
    )
    entity_state: bool = Field(
        False,
        description="text: one state per person: after every step the tokens that name one person take the "
        "mean of their states, so what one fact tells about a person is at every other mention of them "
        "after one step (the next step composes it with their other facts); what a person reads from "
        "each fact is still learned attention; arch: recurrent, act and ponder (which share its step)",
    )
    readout_feedback: Literal["off", "soft", "hard"] = Field(
        "off",
        description="after every step each token's state gets a learned embedding of what the readout "
        "reads in it (soft: the readout's probabilities; hard: its top class, with the soft gradient), "
        "so a state is pulled towards the class it already leans to and a small error need not grow "
        "along a chain of steps; the embedding starts at zero; arch: recurrent, act and ponder",
    )
    init_std: float | None = Field(
        0.02,
        gt=0.0,
        description="std of Linear weights at init (0.02: GPT-2's); null = 1/sqrt(fan_in), which keeps a "
        "signal's scale through each map where 0.02 shrinks it ~6x at d_model 64",
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model / n_heads must be even (rotary positions rotate pairs)")
        if self.update_dropout_eval and self.update_dropout == 0:
            raise ValueError("update_dropout_eval: true needs update_dropout > 0 (the chance a token sits a step out)")
        if self.relation_mask and self.relation_bias is None:
            raise ValueError("relation_mask: true needs relation_bias (the relations it masks along)")
        if self.expression_relations == "tree" and self.relation_bias is None:
            raise ValueError("expression_relations: tree needs relation_bias (the tree's relations enter as its biases)")
        return self


class StepsConfig(_Strict):
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
    follow_curriculum: bool = Field(
        False,
        description="with train.curriculum: while the hardest level is k below task.train_difficulty's max, "
        "draw from [min - k, max - k] (never below 1), so easy early batches do not pay for steps they "
        "cannot use; the same steps per level as at the end",
    )

    @model_validator(mode="after")
    def _range(self) -> StepsConfig:
        if self.min > self.max:
            raise ValueError(f"min={self.min} > max={self.max}")
        return self


class TrainConfig(_Strict):
    """The optimisation and the training loop (``loopthink.train.train``)."""

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
    node_loss_steps: Literal["final", "front"] = Field(
        "final",
        description="where the node loss applies: final, after the last step only; front, after every "
        "step t, on the tokens whose label can be known by then at one hop per step (text: people at most "
        "t - 1 facts from B), averaged over steps, so a relation once reached is trained to hold",
    )
    idle_prefix: int = Field(
        0,
        ge=0,
        le=64,
        description="before each training rollout, 0..K steps (uniform, without gradient) in which no token "
        "can read the query (text: the question; Task.query_tokens), and the rollout starts from that state: "
        "tokens far from the query wait that long for news of it, as they do in instances longer than "
        "training's; 0 = off",
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
        "and/or wandb (project train.wandb_project); see loopthink/loggers.py",
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


class EvalConfig(_Strict):
    """What ``loopthink eval``, the demo and the bench measure by default."""

    steps: list[Annotated[int, Field(ge=1, le=MAX_STEPS)]] = Field(
        default_factory=lambda: [8, 16, 32],
        description="step counts to evaluate at, all read from one rollout of the largest",
    )
    difficulties: list[tuple[int, int]] = Field(default_factory=list, description="ranges reported by the demo/bench")
    options: dict[str, Any] = Field(default_factory=dict, description="generator options for evaluation data")


class RunConfig(_Strict):
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
    def _front_loss(self) -> RunConfig:
        tc = self.train
        if tc.node_loss_steps == "front":
            if not tc.node_loss or tc.loss != "final" or self.arch != "recurrent":
                raise ValueError("train.node_loss_steps: front needs train.node_loss > 0, train.loss: final and arch: recurrent")
            if task_class(self.task.name).node_ready_step is Task.node_ready_step:
                raise ValueError(f"train.node_loss_steps: front: task {self.task.name!r} gives no per-token distances")
        return self

    @model_validator(mode="after")
    def _entity_state(self) -> RunConfig:
        if self.model.entity_state and task_class(self.task.name).interface != "prose":
            raise ValueError(f"model.entity_state: task {self.task.name!r} has no people (it is for the prose interface)")
        return self

    @model_validator(mode="after")
    def _idle_prefix(self) -> RunConfig:
        if self.train.idle_prefix and task_class(self.task.name).query_tokens is Task.query_tokens:
            raise ValueError(f"train.idle_prefix: task {self.task.name!r} names no query tokens")
        return self

    @model_validator(mode="after")
    def _steps_follow(self) -> RunConfig:
        if self.train.steps.follow_curriculum and not self.train.curriculum:
            raise ValueError("train.steps.follow_curriculum needs train.curriculum > 0 (there is no curriculum to follow)")
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
