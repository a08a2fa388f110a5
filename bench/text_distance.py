"""Where along a chain a trained text run goes wrong: accuracy of every person's relation to B (the
every-node readout), by that person's distance to B over the stated facts, per step count.

    python bench/text_distance.py runs/bench/text [--hops 8] [--n 300] [--steps 8,16,32] [--json FILE]

The query's answer is A's relation, so it is right only if every person on the way got theirs.
Fresh instances (seed 700 + hops); persons whose relation to B has no word here, or who are farther
from B than A is, carry no label and are skipped. Nothing is trained; the run is read as it is.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict, deque

from _common import emit


def distances(facts: list[tuple], b: str) -> dict[str, int]:
    """Breadth-first distance of every named person to ``b`` over the stated facts."""
    adj: dict[str, set[str]] = defaultdict(set)
    for x, _, y, _ in facts:
        adj[x].add(y)
        adj[y].add(x)
    dist, queue = {b: 0}, deque([b])
    while queue:
        u = queue.popleft()
        for v in adj[u] - dist.keys():
            dist[v] = dist[u] + 1
            queue.append(v)
    return dist


def first_name_tokens(record: dict) -> dict[str, int]:
    """Each name's first token index in the encoded sequence (index 0 is ``<cls>``)."""
    from loopthink.tasks.text_vocab import NAME, token_id, tokenize_words

    words = [w for text in (record["text"], record["question"]) for w in tokenize_words(text)]
    first: dict[str, int] = {}
    for i, word in enumerate(words, start=1):
        if token_id(word) == NAME:
            first.setdefault(word, i)
    return first


def by_distance(model, task, records: list[dict], steps: int) -> dict[int, tuple[int, int]]:
    """distance -> (right, labelled persons) at ``steps``: each person's first mention read as
    their relation to B, scored against the every-node labels training uses (``task.node_targets``:
    either gendered word of the kind, for people within A's distance of B)."""
    import torch

    from loopthink.tasks.text_templates import parse_facts, parse_question

    batch = task.encode(records)
    allowed = task.node_targets(batch.inputs)  # (B, L, classes)
    with torch.no_grad():
        predicted = model.classify(model(batch.inputs, steps).final_state).argmax(-1)
    right, total = Counter(), Counter()
    for i, rec in enumerate(records):
        _, b = parse_question(rec["question"])
        dist = distances(parse_facts(rec["text"]), b)
        for name, index in first_name_tokens(rec).items():
            if allowed[i, index].any():
                total[dist[name]] += 1
                right[dist[name]] += bool(allowed[i, index, predicted[i, index]])
    return {d: (right[d], total[d]) for d in sorted(total)}


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
