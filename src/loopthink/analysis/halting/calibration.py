"""The exit rule of a halting evaluation: kl/convergence by threshold, or the conformal rule, whose
probe is fitted on one split and calibrated on another, both disjoint from the test instances."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from loopthink.analysis.halting.conformal import CALIB_SEED_OFFSET, DEFAULT_ALPHA, PROBE_SEED_OFFSET, calibrate_conformal, fit_probe
from loopthink.analysis.halting.features import StepFeatures
from loopthink.analysis.halting.rules import ConformalRule, ExitRule, make_rule
from loopthink.analysis.halting.runtime import halt_records, record_records
from loopthink.model.core import SteppedModel
from loopthink.tasks import DataError, Task
from loopthink.tasks.files import read_run_records

# The alphas every conformal evaluation calibrates, for the alpha sweep in ``halting.json``.
ALPHA_SWEEP = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
# record_records' own default, so `eval --halt` (which names no batch size) records as it always did.
DEFAULT_BATCH_SIZE = 512


@dataclass(frozen=True)
class Rollouts:
    """How every rollout of one halting evaluation runs: which model on which task, how many steps,
    from which seed, in batches of what size, on what device."""

    model: SteppedModel
    task: Task
    max_steps: int
    min_steps: int
    seed: int
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = "cpu"

    def record(self, records: list[dict], seed_offset: int = 0) -> tuple[StepFeatures, float]:
        """Full rollouts of ``records`` recorded step by step, and their wall time (s)."""
        seed = self.seed + seed_offset
        return record_records(self.model, self.task, records, self.max_steps, seed, self.batch_size, self.device)

    def halt(self, records: list[dict], rule: ExitRule) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(predictions, steps used, wall time) of ``records`` halted by ``rule``, from the initial
        states that :meth:`record` (no offset) starts from."""
        return halt_records(self.model, self.task, records, rule, self.max_steps, self.min_steps, self.seed, self.batch_size, self.device)


@dataclass(frozen=True)
class CalibrationSource:
    """Where the probe-training and calibration instances come from: a file (``calib_data``) split in
    half, else ``n_probe`` and ``n_calib`` generated over ``difficulty`` with ``options``."""

    calib_data: str | None
    n_probe: int
    n_calib: int
    difficulty: tuple[int, int]
    options: dict[str, Any]


def read_records(path: str, task: Any) -> list[dict]:
    """The instances of a record file (any format), which must be of the run's task and not empty."""
    return read_run_records(path, task.name, "the run")


def generated_splits(
    task: Task, n_probe: int, n_calib: int, seed: int, difficulty: tuple[int, int], options: dict[str, Any]
) -> tuple[list[dict], list[dict]]:
    """(probe-training records, calibration records) generated with seeds offset from the test seed."""
    probe_records = task.generate(n_probe, seed + PROBE_SEED_OFFSET, difficulty, **options)
    calib_records = task.generate(n_calib, seed + CALIB_SEED_OFFSET, difficulty, **options)
    return probe_records, calib_records


def probe_and_calibration(task: Task, source: CalibrationSource, seed: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """(probe-training records, calibration records, their source): a file split in half, or two
    generated sets with seeds disjoint from the test seed."""
    if source.calib_data:
        pool = read_records(source.calib_data, task)
        if len(pool) < 4:
            raise DataError(f"{source.calib_data}: need at least 4 instances to split into probe/calibration")
        perm = np.random.default_rng(seed).permutation(len(pool))
        half = len(pool) // 2
        return [pool[i] for i in perm[:half]], [pool[i] for i in perm[half:]], {"calib_data": source.calib_data}
    rng = source.difficulty
    probe_records, calib_records = generated_splits(task, source.n_probe, source.n_calib, seed, rng, source.options)
    described = {"difficulty": list(rng), "probe_seed": seed + PROBE_SEED_OFFSET, "calib_seed": seed + CALIB_SEED_OFFSET}
    return probe_records, calib_records, described


def conformal_rules_for(
    rollouts: Rollouts,
    probe_records: list[dict],
    calib_records: list[dict],
    alphas: Sequence[float],
    say: Callable[[str], None] | None = None,
) -> list[ConformalRule]:
    """One calibrated :class:`ConformalRule` per alpha, all from one probe (fitted on ``probe_records``)."""
    say = say or (lambda msg: None)
    say(f"probe: recording {len(probe_records)} rollouts of {rollouts.max_steps} steps")
    probe_feats, _ = rollouts.record(probe_records, PROBE_SEED_OFFSET)
    probe = fit_probe(probe_feats, rollouts.min_steps)
    say(f"calibration: recording {len(calib_records)} rollouts")
    calib_feats, _ = rollouts.record(calib_records, CALIB_SEED_OFFSET)
    return [calibrate_conformal(probe, calib_feats, a, rollouts.min_steps) for a in alphas]


def choose_exit_rule(
    rollouts: Rollouts,
    rule: str,
    alpha: float,
    threshold: float | None,
    source: CalibrationSource,
    say: Callable[[str], None],
) -> tuple[ExitRule, list[ConformalRule], dict[str, Any]]:
    """(the rule, the calibrated conformal rule of every alpha of :data:`ALPHA_SWEEP` (conformal
    only), calibration info). Conformal: the probe on one split, calibration on another, both
    disjoint from the test set."""
    if rule != "conformal":
        return make_rule(rule, threshold), [], {}
    probe_records, calib_records, described = probe_and_calibration(rollouts.task, source, rollouts.seed)
    info = {"source": described, "n_probe": len(probe_records), "n_calib": len(calib_records)}
    alphas = sorted(set(ALPHA_SWEEP) | {alpha})
    rules = conformal_rules_for(rollouts, probe_records, calib_records, alphas, say)
    chosen = rules[alphas.index(alpha)]
    if not math.isfinite(chosen.lam):
        print(
            f"warning: alpha={alpha} cannot be certified with {len(calib_records)} calibration instances "
            f"(needs n >= 1/alpha - 1); every example runs {rollouts.max_steps} steps",
            file=sys.stderr,
        )
    return chosen, rules, info


# ---- exit rules by name, for `eval --halt` and the Python API -------------------------------------
def rule_from_spec(
    spec: str,
    model: SteppedModel,
    task: Task,
    difficulty: tuple[int, int],
    options: dict[str, Any],
    max_steps: int,
    seed: int = 1234,
    n_probe: int = 500,
    n_calib: int = 1000,
    min_steps: int = 1,
    device: str = "cpu",
) -> ExitRule:
    """``kl[:THRESHOLD]``, ``convergence[:THRESHOLD]`` or ``conformal[:ALPHA]`` -> an exit rule.

    The conformal rule is fitted and calibrated here on freshly generated instances of
    ``difficulty`` (seeds offset from ``seed``, so disjoint from test data made with ``seed``)."""
    name, _, value = spec.partition(":")
    try:
        number = float(value) if value else None
    except ValueError:
        raise DataError(f"--halt {spec!r}: {value!r} is not a number") from None
    if name in ("kl", "convergence"):
        return make_rule(name, number)
    if name != "conformal":
        raise DataError(f"--halt {spec!r}: rule must be kl, convergence or conformal")
    alpha = DEFAULT_ALPHA if number is None else number
    if not 0 < alpha < 1:
        raise DataError(f"--halt {spec!r}: alpha must be in (0, 1)")
    probe_records, calib_records = generated_splits(task, n_probe, n_calib, seed, difficulty, options)
    rollouts = Rollouts(model, task, max_steps, min_steps, seed, device=device)
    return conformal_rules_for(rollouts, probe_records, calib_records, [alpha])[0]
