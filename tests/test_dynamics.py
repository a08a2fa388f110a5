import json
import math

import numpy as np
import pytest
import torch

from loopthink.analysis.monitor import FEATURES, default_t0, monitor_features, monitor_target
from loopthink.analysis.stats import auroc, average_ranks, fit_logistic, roc_curve
from loopthink.analysis.summaries import Summaries, majority_vote, mean_pairwise_cosine, summarise

SUMMARY_KEYS = {"per_step", "decision_step", "monitor", "commitment_correct", "commitment_wrong"}


# ---- metrics on known tiny cases ---------------------------------------------------------------
def test_commitment_known_cases():
    v = torch.randn(5, 7)  # (B=5, d=7)
    same = v.expand(4, 5, 7)  # K=4 identical runs
    assert torch.allclose(mean_pairwise_cosine(same), torch.ones(5, dtype=torch.float64))
    eye = torch.eye(3)[:, None, :]  # K=3 mutually orthogonal states, B=1
    assert abs(mean_pairwise_cosine(eye).item()) < 1e-12
    opposite = torch.stack([v, -v])
    assert torch.allclose(mean_pairwise_cosine(opposite), -torch.ones(5, dtype=torch.float64))
    assert mean_pairwise_cosine(torch.zeros(3, 2, 4)).tolist() == [1.0, 1.0]  # identical zero states
    assert mean_pairwise_cosine(v[None]).tolist() == [1.0] * 5  # K = 1
    # two parallel, one orthogonal: pairs (1,1,0,0,0,0 over 6 ordered) -> 1/3
    mixed = torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 1.0]]])
    assert abs(mean_pairwise_cosine(mixed).item() - 1 / 3) < 1e-12


def test_majority_and_consistency():
    preds = torch.tensor([[0, 1], [0, 0], [1, 1], [0, 1], [1, 1]])  # (K=5, B=2)
    maj, agree = majority_vote(preds, 2)
    assert maj.tolist() == [0, 1] and agree.tolist() == [0.6, 0.8]
    maj, agree = majority_vote(torch.tensor([[2], [1]]), 3)  # tie -> lowest class
    assert maj.tolist() == [1] and agree.tolist() == [0.5]
    maj, agree = majority_vote(torch.tensor([[1, 0]] * 4), 2)
    assert agree.tolist() == [1.0, 1.0]


def test_auroc_known_cases_and_ties():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert auroc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5  # all tied
    assert auroc([0.5, 0.5, 0.2], [1, 0, 0]) == 0.75  # a tie counts one half
    assert math.isnan(auroc([1, 2], [1, 1]))
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_auroc_matches_sklearn_and_roc_area():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        s = rng.integers(0, 6, 50).astype(float)  # many ties
        if y.min() == y.max():
            continue
        assert abs(auroc(s, y) - roc_auc_score(y, s)) < 1e-12
        fpr, tpr = roc_curve(s, y)
        assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids (np.trapz/np.trapezoid differ by numpy version)
        assert abs(area - auroc(s, y)) < 1e-12


def test_logistic_regression_separates_and_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(-2, 1, (40, 3)), rng.normal(2, 1, (40, 3))]
    X[:, 2] = 7.0  # a constant feature must not break standardisation
    y = np.r_[np.zeros(40), np.ones(40)]
    m = fit_logistic(X, y, l2=1e-3)
    assert ((m.predict_proba(X) > 0.5) == y).all()
    assert auroc(m.decision_function(X), y) == 1.0
    # same objective as sklearn on standardised features with C = 1 / (n * l2)
    Xn = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(0.7, 1, (60, 2))]
    yn = np.r_[np.zeros(60), np.ones(60)]
    m = fit_logistic(Xn, yn, l2=0.1)
    Z = (Xn - Xn.mean(0)) / Xn.std(0)
    ref = LogisticRegression(C=1 / (len(yn) * 0.1), tol=1e-10, max_iter=1000).fit(Z, yn)
    assert np.allclose(m.weight, ref.coef_[0], atol=1e-4) and abs(m.bias - ref.intercept_[0]) < 1e-4


def _toy_summaries(majority: list[list[int]], agreement: list[list[float]], decision: list[list[int]]) -> Summaries:
    N, T = np.array(majority).shape
    z = np.zeros((N, T))
    return Summaries(
        labels=np.zeros(N, dtype=np.int64),
        keys=np.array(["1"] * N, dtype=object),
        commitment=np.zeros((N, T + 1)),
        rel_change=z,
        kl=z,
        entropy=z,
        max_prob=z,
        lens=z,
        majority=np.array(majority),
        agreement=np.array(agreement),
        decision=np.array(decision),
    )


def test_monitor_target_and_default_t0():
    s = _toy_summaries(
        majority=[[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 1, 1]],
        agreement=[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0.75], [1, 1, 1, 1]],
        decision=[[3, 3], [1, 1], [1, 4], [2, 2]],
    )
    # t0=2: ex0 changes after t0; ex1 stable; ex2 runs disagree at T; ex3 settled at step 2
    assert monitor_target(s, 2).tolist() == [1, 0, 1, 0]
    assert monitor_target(s, 1).tolist() == [1, 0, 1, 1]
    assert monitor_features(s, 2).shape == (4, len(FEATURES))
    # runs whose answer moves: 3, 3, 4, 2, 2 -> median 3 -> t0 = 2
    assert default_t0(s) == 2
    assert default_t0(_toy_summaries([[0, 0]], [[1, 1]], [[1, 1]])) == 1  # nothing moves: clamp to 1


# ---- on the tiny trained run ---------------------------------------------------------------------
def _diagnose(capsys, *args: str) -> tuple[int, str]:
    """``loopthink diagnose ARGS`` through the module's own parser (the CLI registers exactly these)."""
    import argparse

    from loopthink.commands import diagnose

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(prog="loopthink diagnose")
    diagnose.add_arguments(parser)
    rc = diagnose.run(parser.parse_args(list(args)))
    return rc, capsys.readouterr().out


def test_cli_end_to_end(tiny_graph_run, tmp_path, capsys):
    out = tmp_path / "dyn"
    rc, stdout = _diagnose(
        capsys, str(tiny_graph_run), "--difficulty", "1..3", "--steps", "8", "--runs", "4", "--n", "48", "--out", str(out), "--json"
    )
    assert rc == 0
    summary = json.loads(stdout)
    assert SUMMARY_KEYS <= set(summary)
    assert [r["step"] for r in summary["per_step"]] == list(range(1, 9))
    assert set(summary["per_step"][0]) == {"step", "commitment", "convergence", "lens_accuracy"}
    assert set(summary["decision_step"]) <= {"1", "2", "3", "unreachable"} and "1" in summary["decision_step"]
    assert 1 <= summary["monitor"]["t0"] < 8
    data = json.loads((out / "dynamics.json").read_text())
    for key in ("by_difficulty", "correctness_split", "decision_step_counts", "definitions", "commitment_init"):
        assert key in data
    assert data["commitment_init"] < 0.5  # the K runs start from different random states
    assert data["note"] is None and data["identical_runs"] is False
    assert [m["t0"] for m in data["monitor"]["per_t0"]] == sorted({1, 2, 3, 4, 6, summary["monitor"]["t0"]})
    assert sum(sum(c) for c in data["decision_step_counts"].values()) == 48 * 4
    for name in ("commitment", "convergence", "decision_step", "lens_accuracy", "monitor_roc"):
        assert (out / f"{name}.png").stat().st_size > 1000


def test_cli_data_file_and_errors(tiny_graph_run, tmp_path, capsys):
    from loopthink.tasks import get_task
    from loopthink.tasks.formats import write_jsonl

    path = tmp_path / "g.jsonl"
    write_jsonl(path, get_task("graph").generate(20, 99, (2, 3)))
    rc, stdout = _diagnose(
        capsys, str(tiny_graph_run), "--data", str(path), "--steps", "6", "--runs", "3", "--t0", "2", "--out", str(tmp_path / "d")
    )
    assert rc == 0 and "monitor AUROC" in stdout
    data = json.loads((tmp_path / "d" / "dynamics.json").read_text())
    assert data["n"] == 20 and data["monitor"]["t0"] == 2 and data["monitor"]["heldout_n"] == 20
    from loopthink.tasks import DataError

    with pytest.raises(DataError, match="--t0"):
        _diagnose(capsys, str(tiny_graph_run), "--difficulty", "1..2", "--steps", "4", "--t0", "4", "--out", str(tmp_path / "e"))


def test_runs_start_apart_and_zeros_init(tiny_graph_run, tmp_path, capsys):
    from loopthink.model import build_model
    from loopthink.training.rundir import atomic_save_tensors, load_run, write_run_config
    from tests.conftest import tiny_config

    torch.set_num_threads(1)
    cfg, model, task = load_run(tiny_graph_run)
    recs = task.generate(16, 5, (1, 3))
    s = summarise(model, task, recs, steps=5, runs=3, seed=0)
    assert (s.commitment[:, 0] < 1).all() and s.decision.shape == (16, 3)

    zcfg = tiny_config(model={"init_state": "zeros"})
    run = tmp_path / "zeros"
    write_run_config(run, zcfg)
    zmodel = build_model(zcfg, task)
    atomic_save_tensors(run / "model.safetensors", zmodel.state_dict())
    rc, stdout = _diagnose(
        capsys, str(run), "--difficulty", "1..3", "--steps", "5", "--runs", "4", "--n", "24", "--out", str(tmp_path / "z"), "--json"
    )
    assert rc == 0
    summary = json.loads(stdout)
    assert "identical" in summary["note"]
    assert all(r["commitment"] == 1.0 for r in summary["per_step"])
    data = json.loads((tmp_path / "z" / "dynamics.json").read_text())
    assert data["consistency"] == 1.0 and data["identical_runs"] is True


@pytest.mark.parametrize("name", ["logic", "text"])
def test_other_tasks(name):
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from tests.conftest import tiny_config

    torch.set_num_threads(1)
    cfg = tiny_config(task={"name": name, "train_difficulty": [1, 2]})
    task = get_task(name)
    model = build_model(cfg, task).eval()
    recs = task.generate(12, 3, (1, 2))
    s = summarise(model, task, recs, steps=4, runs=3, seed=1, batch_size=5)
    assert s.commitment.shape == (12, 5) and s.lens.shape == (12, 4)
    assert ((s.majority >= 0) & (s.majority < task.num_classes)).all()
    assert np.isfinite(s.rel_change).all() and (s.commitment[:, 0] < 1).all()


def test_a_model_that_does_not_run_step_by_step_is_refused_with_its_name():
    from torch import nn

    from loopthink.training.rundir import RunError

    with pytest.raises(RunError, match="SteppedModel.*Linear"):
        summarise(nn.Linear(2, 2), None, [{}], steps=2, runs=1, seed=0)
