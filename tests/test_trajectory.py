import math

import torch

from loopthink.analysis.trajectory import decision_step, entropy, rollout, successive_kl
from tests.test_model import chain_graph, model


def test_decision_step_on_known_cases():
    preds = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]])  # (T=4, B=4)
    # ex0: 0,0,1,1 -> last change at step 3; ex1: 1,1,1,1 -> 1; ex2: 1,0,1,1 -> 3; ex3: 0,0,0,0 -> 1
    assert decision_step(preds).tolist() == [3, 1, 3, 1]
    assert decision_step(torch.tensor([[2, 5]])).tolist() == [1, 1]


def test_kl_and_entropy_on_known_cases():
    logits = torch.log(torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]], [[0.9, 0.1]]]))  # (T=3, B=1, C=2)
    kl = successive_kl(logits)
    assert abs(kl[0, 0]) < 1e-6 and abs(kl[1, 0]) < 1e-6  # uniform vs uniform
    expect = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert abs(kl[2, 0] - expect) < 1e-5
    assert abs(entropy(logits)[0, 0] - math.log(2)) < 1e-6


def test_rollout_matches_forward():
    m = model(layerscale=1.0)
    inp = chain_graph()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    traj = rollout(m, inp, 6, generator=g1)
    out = m(inp, 6, generator=g2, return_step_logits=True, return_states="pooled")
    assert torch.allclose(traj.step_logits, out.step_logits, atol=1e-6)
    assert torch.allclose(traj.pooled, out.states, atol=1e-6)
    assert traj.rel_change.shape == (6, 3) and (traj.rel_change > 0).all()
