"""What a trained text run gets wrong, per hop count: right answer, right kind with the wrong gender,
the relation of the chain's first or last link (a one-fact shortcut), or another relation.

    python bench/text_errors.py runs/bench/text [--hops 1,2,3] [--n 400] [--steps 12]

Fresh instances (seed 900 + hops), generated with their family tree so each error can be
classified. Prints one line per hop count and a JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import torch

from loopthink.checkpoint import load_run
from loopthink.tasks.kinship import WORDS
from loopthink.tasks.text import CLASSES

KIND = {word: kind for kind, pair in WORDS.items() for word in pair}


def classify(answer: str, predicted: str, first_link: str, last_link: str) -> str:
    if predicted == answer:
        return "right"
    if KIND[predicted] == KIND[answer]:
        return "wrong_gender"
    if KIND[predicted] == first_link:
        return "first_link"
    return "last_link" if KIND[predicted] == last_link else "other"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--hops", default="1,2,3")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--steps", type=int, default=12)
    args = p.parse_args()
    _, model, task = load_run(args.run)
    model.eval()
    result = {}
    for hops in map(int, args.hops.split(",")):
        made = task._generate_with_tree(args.n, 900 + hops, (hops, hops))
        batch = task.encode([rec for rec, _, _ in made])
        with torch.no_grad():
            pred = model(batch.inputs, args.steps).logits.argmax(-1).tolist()
        counts = Counter(
            classify(rec["answer"], CLASSES[p], inst.family.kind(inst.chain[0], inst.chain[1]),
                     inst.family.kind(inst.chain[-2], inst.chain[-1]))
            for (rec, inst, _), p in zip(made, pred)
        )  # fmt: skip
        result[str(hops)] = dict(counts)
        print(f"hops {hops}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(json.dumps({"bench": "text_errors", "run": args.run, "steps": args.steps, "n": args.n, "by_hops": result}))


if __name__ == "__main__":
    main()
