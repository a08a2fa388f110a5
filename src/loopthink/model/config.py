"""The model's configuration, beside the model (Hugging Face's way): every key of ``model:`` in a
run config, typed and documented. :class:`loopthink.config.RunConfig` composes it with the task,
training and evaluation sections; the model modules need nothing else from a run config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_STEPS = 4096  # recurrence steps, in training and evaluation (each step is a full transformer block)


class StrictConfig(BaseModel):
    """A config section: unknown keys fail, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(StrictConfig):
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
        "step at which news reaches a token cannot be timed; evaluation updates every token; "
        "arch: recurrent, act and ponder (which share its step)",
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
        if self.relation_mask and self.relation_bias is None:
            raise ValueError("relation_mask: true needs relation_bias (the relations it masks along)")
        if self.expression_relations == "tree" and self.relation_bias is None:
            raise ValueError("expression_relations: tree needs relation_bias (the tree's relations enter as its biases)")
        return self
