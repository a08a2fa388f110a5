"""Write random directed graphs as graph-task JSONL, for timing evaluation on large graphs.

    python scripts/random_graphs.py GRAPHS NODES OUT.jsonl [--hub-every K] [--seed S]

Each graph has ``2 * NODES`` distinct random edges (mean out-degree 2, no self loops); every K-th
graph also gets a hub: node 0 with in-edges from NODES/2 random nodes. Source and target are
random; the label and hop count come from a breadth-first search. The construction of
``bench/attention.py``'s graph cases, as records ``loopthink eval`` reads (docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import random

from loopthink.tasks.graph import bfs_distances


def random_graph(n: int, hub: bool, rng: random.Random) -> dict:
    edges: set[tuple[int, int]] = set()
    while len(edges) < 2 * n:
        u, v = rng.randrange(n), rng.randrange(n)
        if u != v:
            edges.add((u, v))
    if hub:
        edges.update((u, 0) for u in rng.sample(range(1, n), n // 2))
    ordered = [list(e) for e in sorted(edges)]
    source = rng.randrange(n)
    target = rng.choice([x for x in range(n) if x != source])
    dist = bfs_distances(n, ordered, source)
    record = {"task": "graph", "num_nodes": n, "edges": ordered, "source": source, "target": target}
    record["label"] = target in dist
    if target in dist:
        record["hops"] = dist[target]
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("graphs", type=int)
    p.add_argument("nodes", type=int)
    p.add_argument("out")
    p.add_argument("--hub-every", type=int, default=4, help="every K-th graph gets a hub (0: none)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as f:
        for g in range(args.graphs):
            f.write(json.dumps(random_graph(args.nodes, bool(args.hub_every) and g % args.hub_every == 0, rng)) + "\n")


if __name__ == "__main__":
    main()
