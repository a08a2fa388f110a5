"""Why a graph run gets unreachable targets with no in-edges wrong, measured on its own graphs.

    python bench/graph_indegree0.py runs/graph [--n 400] [--steps 64] [--json-out FILE]

Attention of a graph node is masked to its in-neighbours and itself. A target with no in-edges
has only itself in its row, so its softmax puts weight 1 on its own key: its step is
``h_{t+1} = F(h_t, x_target)``, a map of its own state and role alone, the same in every graph.
The script shows it three ways, on unreachable queries of the run's own generator (seed 5,
hops 1..8) and on the same graphs with every in-edge of the target removed (still unreachable):

* accuracy and mean P(reachable) at the target per step, with and without the target's in-edges;
* autonomy: the cut graphs given one shared initial state at the target; the spread of the
  target's state across graphs then stays 0 at every step (it cannot see the graph);
* where that map goes: the target's state norm per step.
"""

from __future__ import annotations

import argparse
import json

import torch

from _common import emit
from loopthink.checkpoint import load_run

CHECK_STEPS = (1, 2, 4, 8, 16, 32, 64)


@torch.no_grad()
def rollout(model, task, records, steps, h0=None):  # type: ignore[no-untyped-def]
    batch = task.encode(records)
    out = model(batch.inputs, steps, h0=h0, generator=torch.Generator().manual_seed(0), return_step_logits=True, return_states="full")
    rows = torch.arange(len(records))
    p_reach = out.step_logits.softmax(-1)[..., 1]  # (T, B) readout at the target
    target_states = out.states[:, rows, batch.inputs["target"]]  # (T+1, B, d)
    return batch, p_reach, target_states


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, model, task = load_run(args.run)
    negatives = [r for r in task.generate(args.n, 5, (1, 8)) if not r["label"]]
    cut = [dict(r, edges=[e for e in r["edges"] if e[1] != r["target"]]) for r in negatives]
    steps = [t for t in CHECK_STEPS if t <= args.steps]
    result: dict = {"run": args.run, "n": len(negatives), "steps": steps}
    for name, records in (("with_in_edges", negatives), ("in_edges_cut", cut)):
        _, p, states = rollout(model, task, records, args.steps)
        result[name] = {
            "accuracy": {t: float((p[t - 1] < 0.5).float().mean()) for t in steps},
            "mean_p_reachable": {t: float(p[t - 1].mean()) for t in steps},
            "target_state_norm": {t: float(states[t].norm(dim=-1).mean()) for t in steps},
        }
    # autonomy: one initial state for every node of every cut graph -> the target's trajectory
    batch = task.encode(cut)
    d = model.cfg.d_model
    h0 = model.init_state(model.encode(batch.inputs), torch.Generator().manual_seed(1))
    h0[:] = h0[0, 0]
    _, p, states = rollout(model, task, cut, args.steps, h0=h0)
    result["in_edges_cut"]["target_state_spread_same_h0"] = {t: float(states[t].std(0).max()) for t in steps}
    result["in_edges_cut"]["p_reachable_spread_same_h0"] = {t: float(p[t - 1].std()) for t in steps}
    result["d_model"] = d
    for name in ("with_in_edges", "in_edges_cut"):
        print(name, json.dumps(result[name]["accuracy"]))
    emit(result, args.json_out)


if __name__ == "__main__":
    main()
