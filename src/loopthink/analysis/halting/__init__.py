"""Adaptive halting: per example, stop iterating once more steps would not change the answer.

Exit rules (each an :class:`ExitRule` whose ``should_stop(features)`` returns a bool per example):

* :class:`KLRule` -- stop when KL(p_t || p_{t-1}) between successive readouts < ``threshold``
  (default :data:`KL_THRESHOLD`);
* :class:`ConvergenceRule` -- stop when ||h_t - h_{t-1}|| / ||h_{t-1}|| < ``threshold``
  (default :data:`CONVERGENCE_THRESHOLD`);
* :class:`ConformalRule` -- a logistic probe on per-step features (:data:`FEATURES`) scores
  "the answer will not change any more"; exit at the first step whose score >= lambda, with lambda
  chosen on a calibration set by conformal risk control (Angelopoulos et al., 2022) so that
  P(premature exit) <= alpha. A premature exit is an exit whose prediction differs from the
  prediction after ``max_steps``.

:func:`halt` runs a batch with a rule: halted rows are removed from the batch (``Context.index``),
so later steps cost less, and their outputs are frozen at their exit step. No rule fires before
``min_steps``; every row stops at ``max_steps``.

Conformal risk control, as implemented by :func:`conformal_threshold`: for calibration example i
let tau_i(lambda) be the exit step (first t >= min_steps with score >= lambda, else max_steps) and
l_i(lambda) = 1[pred_i(tau_i(lambda)) != pred_i(max_steps)]. This loss need not be monotone in
lambda (a prediction can flip away and back), so it is monotonised, L_i(lambda) =
max_{lambda' >= lambda} l_i(lambda'), which bounds it from above. lambda-hat is the smallest value
on a fixed grid (:data:`LAMBDA_GRID`, probe logits, plus +inf = never exit early) with
(n * mean_i L_i(lambda) + 1) / (n + 1) <= alpha; then E[premature exit on a fresh exchangeable
example] <= alpha. The probe is fitted on a split disjoint from the calibration split.

Tasks answered at every position (:mod:`loopthink.analysis.answers_over_steps`): an instance halts
as a whole. Its answer is the vector of its per-position predictions, right when every labelled
position is (exact match), changed when any position changed; the KL and entropy features are
the max over its real positions, max_prob the min; so a premature exit is an instance whose answer
at exit differs anywhere from its answer at ``max_steps``, and the guarantee above holds for that.

Modules: :mod:`.features` (what a rule sees), :mod:`.rules` (the rules), :mod:`.runtime` (halting a
batch, replaying a rule on recorded rollouts), :mod:`.conformal` (the probe and its calibration),
:mod:`.calibration` (the exit rule of an evaluation: the conformal probe's splits and calibration,
``eval --halt``'s rule by name), :mod:`.evaluation` (accuracy / steps / premature exits, Pareto
curves, ``loopthink halt``), :mod:`.reporting` (``halting.json``, the CSV, the printed summary).
Splits: test instances use ``--seed``; the probe's training split ``seed + PROBE_SEED_OFFSET`` and
the calibration split ``seed + CALIB_SEED_OFFSET``.
"""

from loopthink.analysis.halting.calibration import ALPHA_SWEEP, rule_from_spec
from loopthink.analysis.halting.conformal import (
    CALIB_SEED_OFFSET,
    DEFAULT_ALPHA,
    LAMBDA_GRID,
    PROBE_SEED_OFFSET,
    CRCResult,
    calibrate_conformal,
    conformal_threshold,
    fit_probe,
    learn_conformal_rule,
    premature_losses,
    record_batches,
    stable_targets,
)
from loopthink.analysis.halting.evaluation import (
    CONVERGENCE_SWEEP,
    KL_SWEEP,
    HaltingEvaluation,
    by_difficulty,
    check_settings,
    evaluate_halting,
    halting_summary,
    pareto_curves,
)
from loopthink.analysis.halting.features import FEATURES, FeatureTracker, StepFeatures, concat, record, select
from loopthink.analysis.halting.reporting import summary_text, write_outputs
from loopthink.analysis.halting.rules import (
    CONVERGENCE_THRESHOLD,
    KL_THRESHOLD,
    ConformalRule,
    ConvergenceRule,
    ExitRule,
    KLRule,
    LogisticProbe,
    NeverStop,
    make_rule,
    num,
)
from loopthink.analysis.halting.runtime import HaltResult, exit_steps, halt, halt_records, record_records, simulate

__all__ = [
    "ALPHA_SWEEP",
    "CALIB_SEED_OFFSET",
    "CONVERGENCE_SWEEP",
    "CONVERGENCE_THRESHOLD",
    "CRCResult",
    "ConformalRule",
    "ConvergenceRule",
    "DEFAULT_ALPHA",
    "ExitRule",
    "FEATURES",
    "FeatureTracker",
    "HaltResult",
    "HaltingEvaluation",
    "KLRule",
    "KL_SWEEP",
    "KL_THRESHOLD",
    "LAMBDA_GRID",
    "LogisticProbe",
    "NeverStop",
    "PROBE_SEED_OFFSET",
    "StepFeatures",
    "by_difficulty",
    "calibrate_conformal",
    "check_settings",
    "concat",
    "conformal_threshold",
    "evaluate_halting",
    "exit_steps",
    "fit_probe",
    "halt",
    "halt_records",
    "halting_summary",
    "learn_conformal_rule",
    "make_rule",
    "num",
    "pareto_curves",
    "premature_losses",
    "record",
    "record_batches",
    "record_records",
    "rule_from_spec",
    "select",
    "simulate",
    "stable_targets",
    "summary_text",
    "write_outputs",
]
