"""Where along a chain a trained text run goes wrong: accuracy of every person's relation to B (the
every-node readout), by that person's distance to B over the stated facts, per step count.

    python bench/text_distance.py runs/bench/text [--hops 8] [--n 300] [--steps 8,16,32] [--json FILE]

The query's answer is A's relation, so it is right only if every person on the way got theirs.
Fresh instances (seed 700 + hops); persons whose relation to B has no word here, or who are farther
from B than A is, carry no label and are skipped. Nothing is trained; the run is read as it is.
"""

from __future__ import annotations

import argparse

import torch

from _common import emit


def first_mentions(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (B, L): each name's first token in the encoded sequence (its entity slot's first)."""
    entity = inputs["entity"]
    same = entity[:, :, None] == entity[:, None, :]  # (B, L, L)
    earlier = torch.ones_like(same[0]).tril(-1)  # key j before query i
    return (entity > 0) & ~(same & earlier).any(-1)


def by_distance(model, task, records: list[dict], steps: int) -> dict[int, tuple[int, int]]:
    """distance -> (right, labelled persons) at ``steps``: each person's first mention read as
    their relation to B, scored against the every-node labels training uses (``task.node_targets``:
    either gendered word of the kind, for people within A's distance of B) at the distance training
    uses (``inputs["distance"]``: fewest stated facts to B)."""
    batch = task.encode(records)
    allowed = task.node_targets(batch.inputs)  # (B, L, classes)
    with torch.no_grad():
        predicted = model.classify(model(batch.inputs, steps).final_state).argmax(-1)
    scored = first_mentions(batch.inputs) & allowed.any(-1)
    right = allowed.gather(-1, predicted[..., None])[..., 0]  # the predicted word is one of the kind's
    distance = batch.inputs["distance"]
    cells = {}
    for d in distance[scored].unique().tolist():
        at_d = scored & (distance == d)
        cells[d] = (int(right[at_d].sum()), int(at_d.sum()))
    return cells


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--hops", type=int, default=8, help="hop count of the test instances")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--steps", default="8,16,32")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    from loopthink.checkpoint import load_run

    _, model, task = load_run(args.run)
    model.eval()
    records = task.generate(args.n, 700 + args.hops, (args.hops, args.hops))
    result = {}
    for steps in (int(s) for s in args.steps.split(",")):
        cells = by_distance(model, task, records, steps)
        result[str(steps)] = {str(d): {"right": r, "n": n, "acc": round(r / n, 4)} for d, (r, n) in cells.items()}
        print(f"T = {steps}: " + "  ".join(f"d{d} {r / n:.3f} ({n})" for d, (r, n) in cells.items()), flush=True)
    emit({"bench": "text_distance", "run": args.run, "hops": args.hops, "n": args.n, "by_steps": result}, args.json)


if __name__ == "__main__":
    main()
