"""Halting and the dynamics diagnostics on per-position tasks: an instance's answer is the vector
of its per-position predictions (right = exact match, changed = any position changed); KL reduces
to the max over the real positions, confidence to the min; the commands run end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from loopthink.analysis import halting as H
from loopthink.analysis.answers_over_steps import (
    answer_ids,
    answer_of,
    cat_answers,
    correct,
    differ,
    least_sure,
    place_rows,
    worst_max,
)
from loopthink.analysis.summaries import majority_vote
from loopthink.analysis.trajectory import decision_step, kl_step, log_probs, rollout, successive_kl
from loopthink.cli import main
from loopthink.tasks import IGNORE


# ---- the reductions on hand-made logits ----------------------------------------------------------
def _two_steps() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (T=2, B=1, L=4, C=2): between the steps only position 1 moves (and flips its answer);
    position 3 is padding and moves a lot."""
    first = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [5.0, 0.0]]])
    second = first.clone()
    second[0, 1] = torch.tensor([0.0, 2.0])
    second[0, 3] = torch.tensor([0.0, 9.0])
    mask = torch.tensor([[True, True, True, False]])
    return torch.stack([first, second]), mask


def test_kl_is_the_largest_position_kl_over_real_positions():
    logits, mask = _two_steps()
    kl = successive_kl(logits, mask)  # (T, B)
    logp = log_probs(logits)
    at_1 = kl_step(logp[1, 0, 1], logp[0, 0, 1])
    assert at_1 > 0.5
    assert torch.allclose(kl[1, 0], at_1)  # the one position that moved; padding (larger) left out
    # a KL that is zero everywhere but one position: that position's KL, whatever the others
    per_position = torch.tensor([[0.0, 0.7, 0.0, 9.0]])
    assert worst_max(per_position, mask).tolist() == pytest.approx([0.7])
    # step 1 against the uniform readout: still the max over the real positions
    assert torch.allclose(kl[0, 0], kl_step(logp[0, 0, :3], log_probs(torch.zeros(3, 2))).max())


def test_confidence_is_the_least_sure_real_position():
    logits, mask = _two_steps()
    p = log_probs(logits[0]).exp().max(-1).values  # (B, L)
    assert least_sure(p, mask).item() == pytest.approx(p[0, :3].min().item())
    assert least_sure(p, None) is p  # once per instance: unchanged


def test_an_answer_that_changes_at_one_position_changed():
    logits, mask = _two_steps()
    answers = answer_of(logits, mask)  # (T, B, L)
    assert answers[:, 0].tolist() == [[0, 0, 1, IGNORE], [0, 1, 1, IGNORE]]
    assert differ(answers[1], answers[0], 1).tolist() == [True]
    assert differ(answers[0], answers[0], 1).tolist() == [False]
    assert decision_step(answers).tolist() == [2]
    assert decision_step(answers[:1].expand(3, -1, -1)).tolist() == [1]
    tracker = H.FeatureTracker(torch.tensor([3.0]), 2, mask)
    f1 = tracker.update(1, logits[0], torch.ones(1), torch.ones(1))
    f2 = tracker.update(2, logits[1], torch.zeros(1), torch.zeros(1))
    assert f1.changed.tolist() == [True] and f2.changed.tolist() == [True] and f2.stable.tolist() == [1]
    assert torch.allclose(f2.kl, successive_kl(logits, mask)[1])
    assert f2.prediction.shape == (1, 4)


def test_exact_match_and_once_per_instance_unchanged():
    labels = torch.tensor([[0, 1, 1, IGNORE], [1, 1, IGNORE, IGNORE]])
    answers = torch.tensor([[0, 1, 1, IGNORE], [1, 0, IGNORE, IGNORE]])
    assert correct(answers, labels, 1).tolist() == [True, False]
    # a narrower batch's answers compare with wider labels (padding only)
    assert correct(answers[:, :3], labels, 1).tolist() == [True, False]
    # once per instance: the plain comparisons
    a, b = torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3])
    assert torch.equal(differ(a, b, 1), a != b) and torch.equal(correct(a, b, 1), a == b)
    assert cat_answers([a[None], b[None]], 1).tolist() == [[1, 2, 3, 1, 0, 3]]
    assert place_rows(3, [[2, 0], [1]], [torch.tensor([5, 6]), torch.tensor([7])]).tolist() == [6, 7, 5]
    wide = place_rows(2, [[1], [0]], [torch.tensor([[1, 0, 1]]), torch.tensor([[0]])])
    assert wide.tolist() == [[0, IGNORE, IGNORE], [1, 0, 1]]


def test_premature_exit_is_about_the_whole_answer():
    # (T=3, B=2, L=2): instance 0 changes one position at step 2; instance 1 never changes
    preds = torch.tensor([[[0, 0], [1, 1]], [[0, 1], [1, 1]], [[0, 1], [1, 1]]])
    scores = torch.tensor([[5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    L = H.premature_losses(scores, preds, torch.tensor([0.0, math.inf]))
    assert L.int().tolist() == [[1, 0], [0, 0]]
    assert H.stable_targets(preds).tolist() == [[False, True], [True, True], [True, True]]


def test_answer_ids_number_whole_answers():
    # T=2, K=2, B=1, L=2: runs answer [1,0],[0,1] at step 1 and [0,1],[0,1] at step 2; label [0,1]
    answers = torch.tensor([[[[1, 0]], [[0, 1]]], [[[0, 1]], [[0, 1]]]])
    ids, label_ids, n = answer_ids(answers, torch.tensor([[0, 1]]), 2)
    assert n == 2 and label_ids.tolist() == [0]  # [0,1] < [1,0] lexicographically
    assert ids[:, :, 0].tolist() == [[1, 0], [0, 0]]
    maj, agree = majority_vote(ids.transpose(0, 1), n)
    assert maj[:, 0].tolist() == [0, 0] and agree[:, 0].tolist() == [0.5, 1.0]  # tie -> smallest answer
    same = torch.tensor([[1, 0]])
    assert answer_ids(same, torch.tensor([1, 1]), 3)[0] is same  # once per instance: class indices


# ---- a per-position model whose answers never change ---------------------------------------------
def _frozen_model():
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from tests.conftest import tiny_config

    task = get_task("prefix_sums")
    cfg = tiny_config(task={"name": "prefix_sums", "train_difficulty": [1, 6]}, model={"init_state": "random"})
    model = build_model(cfg, task).eval()
    model.step = lambda h, ctx, t, frozen=None, memory=None: h  # the state, and so every answer, stays put
    return model, task


def test_answers_that_never_change_halt_at_the_first_allowed_step():
    torch.set_num_threads(1)
    model, task = _frozen_model()
    batch = task.encode(task.generate(6, 0, (1, 6)))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    res = H.halt(model, batch.inputs, H.ConvergenceRule(), max_steps=8, min_steps=3, generator=g())
    assert res.steps_used.tolist() == [3] * 6
    full = rollout(model, batch.inputs, 8, generator=g())
    assert res.predictions.shape == batch.labels.shape and res.logits.shape[:2] == batch.labels.shape
    assert torch.equal(res.predictions, full.predictions[2])
    assert torch.equal(res.predictions == IGNORE, batch.labels == IGNORE)
    feats = H.record(model, batch.inputs, 8, g())
    assert feats.prediction.shape == (8, *batch.labels.shape) and feats.kl.shape == (8, 6)
    assert not feats.changed[1:].any() and (feats.kl[1:] == 0).all()
    steps, preds = H.simulate(H.ConvergenceRule(), feats, min_steps=3)
    assert steps.tolist() == [3] * 6 and torch.equal(preds, res.predictions)
    assert H.simulate(H.KLRule(), feats)[0].tolist() == [2] * 6  # step 1 moves away from uniform


# ---- the commands on a tiny per-position run ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_prefix_run(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pp") / "ptiny"
    args = ["train.iters=30", "train.batch_size=16", "train.eval_every=30", "train.eval_n=8", "train.threads=1"]
    args += ["task.train_difficulty=[1,6]", "train.steps.min=4", "train.steps.max=6"]
    assert main(["train", "configs/prefix_sums.yaml", *args, "--out", str(out), "--no-progress"]) == 0
    return out


def test_halt_command(tiny_prefix_run, tmp_path, capsys):
    out = tmp_path / "halt"
    args = ["--rule", "conformal", "--alpha", "0.1", "--max-steps", "8", "--n", "40", "--n-calib", "30", "--n-probe", "30"]
    assert main(["halt", str(tiny_prefix_run), *args, "--difficulty", "1..8", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 40 and 1 <= summary["mean_steps"] <= 8
    data = json.loads((out / "halting.json").read_text())
    assert data["per_position"] and 0 <= data["position_accuracy"] <= 1 and data["simulated_exit_agreement"] == 1.0
    rows = list(csv.DictReader(open(out / "halting_examples.csv")))
    assert len(rows) == 40 and all(len(r["label"].split()) == int(r["difficulty"]) for r in rows)
    for name in ("pareto.png", "steps_by_difficulty.png", "calibration.png"):
        assert (out / name).stat().st_size > 0


def test_diagnose_command(tiny_prefix_run, tmp_path, capsys):
    out = tmp_path / "dyn"
    args = ["--difficulty", "1..6", "--steps", "8", "--runs", "3", "--n", "20", "--out", str(out), "--json"]
    assert main(["diagnose", str(tiny_prefix_run), *args]) == 0
    data = json.loads((out / "dynamics.json").read_text())
    assert data["n"] == 20 and "answer" in data["definitions"] and len(data["per_step"]) == 8
    assert 1 <= data["decision_step_stats"]["mean"] <= 8
    for name in ("commitment", "convergence", "decision_step", "lens_accuracy", "monitor_roc"):
        assert (out / f"{name}.png").stat().st_size > 0


def test_eval_with_halting(tiny_prefix_run, tmp_path, capsys):
    data = tmp_path / "p.jsonl"
    assert main(["data", "prefix_sums", "--n", "20", "--difficulty", "1..8", "--out", str(data)]) == 0
    capsys.readouterr()
    args = ["--data", str(data), "--steps", "4,8", "--halt", "convergence", "--max-steps", "8", "--json"]
    assert main(["eval", str(tiny_prefix_run), *args]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    halting = result["halting"]
    assert 0 <= halting["accuracy"] <= 1 and 1 <= halting["mean_steps"] <= 8
