import json
import math
from dataclasses import dataclass

import pytest
import torch

from loopthink.analysis import halting as H
from loopthink.analysis.trajectory import rollout
from loopthink.config import ModelConfig
from loopthink.model.core import LoopModel
from loopthink.tasks import get_task

# ---- conformal risk control on hand-computed cases -------------------------------------------
LAMS = torch.tensor([0.0, 1.0, 2.0, 3.0])


def _cases():
    # (T=3, B=4) scores and predictions; the final prediction is the last row.
    scores = torch.tensor([[2.0, 0.0, 1.0, 3.0], [0.0, 3.0, 1.0, 3.0], [0.0, 0.0, 0.0, 3.0]])
    preds = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    return scores, preds


def test_premature_losses_hand_computed():
    scores, preds = _cases()
    lams = torch.cat([LAMS, torch.tensor([math.inf])])
    L = H.premature_losses(scores, preds, lams)
    # ex0 exits at step 1 (pred 1 != final 0) for lambda <= 2; ex2 for lambda <= 1; ex1, ex3 never wrong
    assert L.int().tolist() == [[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    # min_steps=2: ex0 cannot exit at step 1 any more; at step 2 its prediction is already final
    L2 = H.premature_losses(scores, preds, lams, min_steps=2)
    assert L2[0].int().tolist() == [0, 0, 0, 0, 0] and L2[2].int().tolist() == [1, 1, 0, 0, 0]


def test_premature_losses_are_monotonised():
    # prediction flips away and back: exit at step 1 is fine, at step 2 premature, at T fine
    scores = torch.tensor([[1.0], [2.0], [0.0], [0.0]])
    preds = torch.tensor([[0], [1], [1], [0]])
    L = H.premature_losses(scores, preds, torch.tensor([0.0, 1.0, 2.0, 3.0, math.inf]))
    assert L[0].int().tolist() == [1, 1, 1, 0, 0]  # raw loss would be [0, 0, 1, 0, 0]


@pytest.mark.parametrize(
    "alpha,expected",
    # risk per lambda (0,1,2,3,inf) = [.5,.5,.25,0,0]; bound (4R+1)/5 = [.6,.6,.4,.2,.2]
    [(0.6, 0.0), (0.5, 2.0), (0.4, 2.0), (0.3, 3.0), (0.2, 3.0), (0.1, math.inf)],
)
def test_conformal_threshold_hand_computed(alpha, expected):
    scores, preds = _cases()
    res = H.conformal_threshold(scores, preds, alpha, lams=LAMS)
    assert res.lam == expected
    assert res.n == 4 and res.bound <= alpha + 1e-12 or math.isinf(expected)


def test_conformal_guarantee_holds_on_a_synthetic_problem():
    """Over many calibration/test draws the mean premature-exit rate stays <= alpha."""
    g = torch.Generator().manual_seed(0)
    T, n_cal, n_test, reps, alpha = 12, 100, 400, 150, 0.1
    lams = torch.linspace(-8, 8, 161)

    def draw(n):
        dec = torch.randint(1, T - 2, (n,), generator=g)  # the step from which the answer is final
        steps = torch.arange(1, T + 1)[:, None]
        preds = (steps < dec).long()  # 1 (wrong) until the decision, 0 after
        flip = torch.rand(n, generator=g) < 0.1  # some flip away and back later
        preds[T - 2, flip] = 1
        scores = (steps - dec).float() + 1.5 * torch.randn(T, n, generator=g)
        return scores, preds

    rates, steps_used = [], []
    for _ in range(reps):
        res = H.conformal_threshold(*draw(n_cal), alpha, lams=lams)
        s, p = draw(n_test)
        exit_ = H.exit_steps(s >= res.lam)
        pred = p.gather(0, (exit_ - 1)[None])[0]
        rates.append(float((pred != p[-1]).float().mean()))
        steps_used.append(float(exit_.float().mean()))
    mean, se = sum(rates) / reps, torch.tensor(rates).std().item() / math.sqrt(reps)
    assert mean <= alpha + 3 * se
    assert mean > alpha / 3  # not trivially conservative
    assert sum(steps_used) / reps < T - 1  # and it does exit early


def test_exit_steps_respects_min_and_max():
    stop = torch.tensor([[True, False, False], [False, False, True], [False, False, False]])
    assert H.exit_steps(stop).tolist() == [1, 3, 2]
    assert H.exit_steps(stop, min_steps=2).tolist() == [3, 3, 2]
    with pytest.raises(ValueError):
        H.exit_steps(stop, min_steps=4)


def test_probe_learns_and_round_trips():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 3, generator=g, dtype=torch.float64)
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).double()
    probe = H.LogisticProbe.fit(x, y)
    assert probe.weight[0] > 0 and probe.weight[1] < 0
    assert H.LogisticProbe.from_dict(json.loads(json.dumps(probe.to_dict()))) == probe


# ---- halting a model ----------------------------------------------------------------------------
def _model(**kw) -> LoopModel:
    torch.manual_seed(0)
    return LoopModel(ModelConfig(d_model=32, n_heads=2, d_ff=64, layerscale=1.0, **kw), "nodes", 2).eval()


@pytest.fixture(scope="module")
def graphs():
    task = get_task("graph")
    return task.encode(task.generate(24, 5, (1, 6))).inputs


@dataclass
class StopAtTokenFraction(H.ExitRule):
    """Exit once step >= n_tokens * frac: exit steps vary per row and do not depend on float noise."""

    frac: float = 0.5

    def should_stop(self, f):
        return f.step >= f.n_tokens * self.frac


def test_a_rule_that_never_fires_equals_the_full_rollout_bit_for_bit(graphs):
    m = _model()
    T = 9
    res = H.halt(m, graphs, H.NeverStop(), T, generator=torch.Generator().manual_seed(3))
    traj = rollout(m, graphs, T, generator=torch.Generator().manual_seed(3))
    assert torch.equal(res.logits, traj.step_logits[-1])
    assert torch.equal(res.predictions, traj.predictions[-1])
    assert (res.steps_used == T).all()


@pytest.mark.parametrize("rule", [StopAtTokenFraction(0.5), StopAtTokenFraction(0.8), H.KLRule(1e-4), H.ConvergenceRule(0.3)])
def test_halted_outputs_equal_the_full_rollout_truncated_at_the_exit_step(graphs, rule):
    m = _model()
    T = 10
    res = H.halt(m, graphs, rule, T, min_steps=2, generator=torch.Generator().manual_seed(4))
    traj = rollout(m, graphs, T, generator=torch.Generator().manual_seed(4))
    feats = H.record(m, graphs, T, generator=torch.Generator().manual_seed(4))
    sim_steps, sim_preds = H.simulate(rule, feats, min_steps=2)
    if isinstance(rule, StopAtTokenFraction):
        assert torch.equal(res.steps_used, sim_steps)
        assert len(set(res.steps_used.tolist())) >= 3  # the batch really shrank in stages
    else:  # thresholds on float features: allow a rare near-tie to land one step apart
        assert (res.steps_used == sim_steps).float().mean() >= 0.9
    rows = torch.arange(len(res.steps_used))
    truncated = traj.step_logits[res.steps_used - 1, rows]
    assert torch.allclose(res.logits, truncated, atol=1e-5, rtol=1e-5)
    assert torch.equal(res.predictions, truncated.argmax(-1))


@pytest.mark.parametrize("min_steps,max_steps", [(1, 1), (1, 6), (3, 6), (6, 6)])
@pytest.mark.parametrize("rule", [H.KLRule(1e9), H.NeverStop(), H.ConvergenceRule(0.3), StopAtTokenFraction(0.4)])
def test_steps_used_stay_within_min_and_max(graphs, rule, min_steps, max_steps):
    res = H.halt(_model(), graphs, rule, max_steps, min_steps, generator=torch.Generator().manual_seed(0))
    assert ((res.steps_used >= min_steps) & (res.steps_used <= max_steps)).all()
    if isinstance(rule, H.KLRule):  # fires at once: everyone exits at min_steps
        assert (res.steps_used == min_steps).all()
    assert res.logits.shape == (graphs["adj"].shape[0], 2) and res.predictions.shape == res.steps_used.shape


def test_halt_rejects_bad_step_bounds(graphs):
    with pytest.raises(ValueError):
        H.halt(_model(), graphs, H.NeverStop(), 4, min_steps=5)


def test_conformal_rule_with_infinite_lambda_never_exits_early(graphs):
    m = _model()
    feats = H.record(m, graphs, 6, torch.Generator().manual_seed(0))
    probe = H.fit_probe(feats)
    rule = H.ConformalRule(probe, math.inf, 0.01)
    assert (H.halt(m, graphs, rule, 6).steps_used == 6).all()
    calibrated = H.calibrate_conformal(probe, feats, 0.5)
    assert math.isfinite(calibrated.lam) and calibrated.calibration["n"] == graphs["adj"].shape[0]


# ---- CLI end to end -----------------------------------------------------------------------------
SUMMARY_KEYS = {
    "rule",
    "alpha",
    "accuracy",
    "accuracy_at_max",
    "mean_steps",
    "max_steps",
    "compute_saved",
    "premature_exit_rate",
    "by_difficulty",
}


def test_cli_conformal_end_to_end(tiny_graph_run, tmp_path, capsys):
    from loopthink.cli import main

    out = tmp_path / "halt"
    rc = main(
        [
            "halt",
            str(tiny_graph_run),
            "--rule",
            "conformal",
            "--alpha",
            "0.1",
            "--max-steps",
            "8",
            "--n",
            "64",
            "--n-calib",
            "64",
            "--n-probe",
            "32",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["rule"] == "conformal" and summary["alpha"] == 0.1 and summary["max_steps"] == 8
    assert 1 <= summary["mean_steps"] <= 8 and abs(summary["compute_saved"] - (1 - summary["mean_steps"] / 8)) < 1e-9
    assert summary["by_difficulty"] and all("mean_steps" in v for v in summary["by_difficulty"].values())
    data = json.loads((out / "halting.json").read_text())
    assert {r["alpha"] for r in data["alpha_sweep"]} >= {0.01, 0.05, 0.1}
    assert sum(data["steps_histogram"]) == 64
    for name in ("pareto.png", "steps_by_difficulty.png", "calibration.png", "halting_examples.csv"):
        assert (out / name).stat().st_size > 0


def test_cli_threshold_rules_and_errors(tiny_graph_run, tmp_path, capsys):
    from loopthink.cli import main

    out = tmp_path / "kl"
    assert (
        main(
            [
                "halt",
                str(tiny_graph_run),
                "--rule",
                "kl",
                "--threshold",
                "1e-3",
                "--max-steps",
                "6",
                "--difficulty",
                "2..4",
                "--n",
                "32",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["rule"] == "kl" and summary["alpha"] is None and SUMMARY_KEYS <= set(summary)
    assert set(summary["by_difficulty"]) <= {"2", "3", "4", "unreachable"}
    assert (out / "pareto.png").exists() and (out / "steps_by_difficulty.png").exists()
    assert main(["halt", str(tiny_graph_run), "--rule", "conformal", "--threshold", "0.1", "--out", str(out)]) == 2
    assert main(["halt", str(tiny_graph_run), "--rule", "kl", "--min-steps", "9", "--max-steps", "8", "--out", str(out)]) == 2
    assert "min-steps" in capsys.readouterr().err


def test_learn_conformal_rule_from_inputs(graphs):
    m = _model()
    task = get_task("graph")
    calib = task.encode(task.generate(40, 6, (1, 6))).inputs
    rule = H.learn_conformal_rule(m, graphs, [calib], max_steps=6, alpha=0.2, min_steps=2)
    assert isinstance(rule, H.ConformalRule) and rule.alpha == 0.2 and rule.calibration["n"] == 40
    res = H.halt(m, graphs, rule, 6, min_steps=2)
    assert ((res.steps_used >= 2) & (res.steps_used <= 6)).all()
    assert json.dumps(rule.describe())  # JSON-serialisable (written to halting.json)
