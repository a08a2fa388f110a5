"""Regenerate every committed figure (docs/figures/*) with the exact commands the README quotes, timed.

    python scripts/reproduce_figures.py [--only frontier,compare,...] [--figures DIR] [--dry-run]

Steps, in order: train each task's config and the variants with figures (runs/bench/NAME, through
bench/train_targets.py) and every baseline/ablation they are compared with (runs/cmp/NAME) unless a
finished run is there, then the frontier, compare, validity, dynamics and halting figures. Each
step's wall-clock time is merged into scripts/figures.json; --dry-run prints the commands and runs nothing. Everything runs on the CPU, one thread per process (about 1.5 hours
from scratch on 2 cores; minutes when the runs exist).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # the helpers shared with bench/
from _common import ROOT  # noqa: E402

LOOPTHINK = [sys.executable, "-m", "loopthink.cli"]
BASELINES = (
    "graph_transformer", "graph_transformer_params", "graph_act", "graph_ponder", "graph_every_step_loss",
    "graph_no_gate", "graph_no_layerscale", "graph_deep", "graph_deep_no_gate", "graph_deep_no_layerscale",
)  # fmt: skip
LOGIC_BASELINES = ("logic_transformer", "logic_no_relations")
NESTED_BASELINES = ("logic_nested_transformer",)
TEXT_BASELINES = ("text_transformer",)
DEFAULT_RUN = "runs/bench/graph"
LOGIC_RUN = "runs/bench/logic"  # configs/logic.yaml: the parse-tree reading
TOKENS_RUN = "runs/bench/logic_tokens"  # configs/variants/logic_tokens.yaml: the seed paper's token-level reading
NESTED_RUN = "runs/bench/logic_nested"
NESTED_TREE_RUN = "runs/bench/logic_nested_tree"
TEXT_RUN = "runs/bench/text"
TEXT_DENSE_RUN = "runs/bench/text_dense"  # configs/variants/text_dense.yaml: attention over every token
# (task or variant name, run) trained by bench/train_targets.py (configs/NAME.yaml or configs/variants/NAME.yaml)
TRAINED = (
    ("graph", DEFAULT_RUN), ("logic", LOGIC_RUN), ("logic_tokens", TOKENS_RUN), ("logic_nested", NESTED_RUN),
    ("logic_nested_tree", NESTED_TREE_RUN), ("text", TEXT_RUN), ("text_dense", TEXT_DENSE_RUN),
)  # fmt: skip
GRAPH_VALIDITY = (("trained_kinds", "gnp,dag,tree,grid,path_star", "1..24", "100"), ("held_out", "scale_free,k_out,ladder,cycles", "1..24", "100"),
                  ("paper", "paper", "1..16", "500"))  # fmt: skip
TEXT_RECIPE_RUN = "runs/paper/text_recipe"  # configs/paper/text_recipe.yaml: text trained one hop further


def steps(figures: str) -> list[tuple[str, list[str], str | None]]:
    """(name, command, run directory that makes the step unnecessary when finished)."""
    out: list[tuple[str, list[str], str | None]] = [
        (
            f"train_{task}_default",
            [sys.executable, "bench/train_targets.py", "--tasks", task, "--out", "runs/bench", "train.threads=1"],
            run,
        )
        for task, run in TRAINED
    ]
    for name in BASELINES + LOGIC_BASELINES + NESTED_BASELINES + TEXT_BASELINES:
        run = f"runs/cmp/{name}"
        out.append(
            (
                f"train_{name}",
                [*LOOPTHINK, "train", f"configs/baselines/{name}.yaml", "train.threads=1", "--out", run, "--no-progress"],
                run,
            )
        )
    out.append(
        (
            "train_text_recipe",
            [*LOOPTHINK, "train", "configs/paper/text_recipe.yaml", "train.threads=1", "--out", TEXT_RECIPE_RUN, "--no-progress"],
            TEXT_RECIPE_RUN,
        )
    )
    labels = ["default"] + [b.removeprefix("graph_") for b in BASELINES]
    out += [
        ("frontier", [*LOOPTHINK, "frontier", DEFAULT_RUN, "--steps", "1,2,4,8,16,32,64,128", "--difficulty", "1..32",
                      "--n-per-cell", "100", "--out", f"{figures}/frontier_graph"], None),
        ("compare", [*LOOPTHINK, "compare", DEFAULT_RUN, *(f"runs/cmp/{b}" for b in BASELINES), "--labels", ",".join(labels),
                     "--difficulty", "1..24", "--n", "100", "--candidates", "16,32,64", "--out", f"{figures}/compare_graph"], None),
        *((f"validity_graph_{name}", [*LOOPTHINK, "validity", DEFAULT_RUN, "--families", families, "--difficulty", hops,
                                      "--n-per-cell", n, "--steps", "8,16,32,64", "--threads", "1",
                                      "--out", f"{figures}/validity_graph/{name}"], None)
          for name, families, hops, n in GRAPH_VALIDITY),
        ("frontier_logic_tree", [*LOOPTHINK, "frontier", LOGIC_RUN, "--steps", "1,2,4,8,16,32,64,128", "--difficulty", "1..24",
                                 "--n-per-cell", "100", "--out", f"{figures}/frontier_logic_tree"], None),
        ("validity_logic_tree", [*LOOPTHINK, "validity", LOGIC_RUN, "--difficulty", "1..24", "--n-per-cell", "30",
                                 "--steps", "8,16,32,64,128", "--threads", "1", "--out", f"{figures}/validity_logic/tree"], None),
        ("frontier_logic", [*LOOPTHINK, "frontier", TOKENS_RUN, "--steps", "1,2,4,8,16,32,64", "--difficulty", "1..16",
                            "--n-per-cell", "100", "--out", f"{figures}/frontier_logic"], None),
        ("compare_logic", [*LOOPTHINK, "compare", TOKENS_RUN, *(f"runs/cmp/{b}" for b in LOGIC_BASELINES),
                           "--labels", "default,transformer,no_relations", "--difficulty", "1..16", "--n", "200",
                           "--candidates", "12,24,48", "--out", f"{figures}/compare_logic"], None),
        ("frontier_logic_nested", [*LOOPTHINK, "frontier", NESTED_RUN, "--steps", "1,2,4,8,16,32,64", "--difficulty", "1..24",
                                   "--n-per-cell", "100", "--out", f"{figures}/frontier_logic_nested"], None),
        ("compare_logic_nested", [*LOOPTHINK, "compare", NESTED_RUN, *(f"runs/cmp/{b}" for b in NESTED_BASELINES),
                                  "--labels", "default,transformer", "--difficulty", "1..24", "--n", "200",
                                  "--candidates", "12,24,48", "--out", f"{figures}/compare_logic_nested"], None),
        ("frontier_logic_nested_tree", [*LOOPTHINK, "frontier", NESTED_TREE_RUN, "--steps", "1,2,4,8,16,32,64,128", "--difficulty",
                                        "1..24", "--n-per-cell", "50", "--out", f"{figures}/frontier_logic_nested_tree"], None),
        ("frontier_text", [*LOOPTHINK, "frontier", TEXT_RUN, "--steps", "1,2,4,8,16,32,64,128", "--difficulty", "1..12",
                           "--n-per-cell", "200", "--out", f"{figures}/frontier_text"], None),
        ("frontier_text_dense", [*LOOPTHINK, "frontier", TEXT_DENSE_RUN, "--steps", "1,2,4,8,16,32,64", "--difficulty", "1..8",
                                 "--n-per-cell", "200", "--out", f"{figures}/frontier_text_dense"], None),
        ("frontier_text_recipe", [*LOOPTHINK, "frontier", TEXT_RECIPE_RUN, "--steps", "1,2,4,8,16,32,64", "--difficulty", "1..10",
                                  "--n-per-cell", "200", "--out", f"{figures}/frontier_text_recipe"], None),
        ("compare_text", [*LOOPTHINK, "compare", TEXT_DENSE_RUN, *(f"runs/cmp/{b}" for b in TEXT_BASELINES),
                          "--labels", "default,transformer", "--difficulty", "1..8", "--n", "200",
                          "--candidates", "6,8,12,16", "--out", f"{figures}/compare_text"], None),
        ("dynamics", [*LOOPTHINK, "diagnose", DEFAULT_RUN, "--difficulty", "1..16", "--steps", "64", "--runs", "8", "--n", "1000",
                      "--threads", "1", "--out", f"{figures}/dynamics_graph"], None),
        ("halting", [*LOOPTHINK, "halt", DEFAULT_RUN, "--rule", "conformal", "--alpha", "0.01", "--max-steps", "64", "--n", "2000",
                     "--n-calib", "2000", "--n-probe", "1000", "--out", f"{figures}/halting_graph"], None),
    ]  # fmt: skip
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated step names (see --dry-run for the list)")
    p.add_argument("--figures", default="docs/figures", help="where the figure directories go")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args()
    plan = steps(args.figures)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {name for name, _, _ in plan}
        if unknown:
            p.error(f"unknown step(s) {sorted(unknown)}; choose from {[name for name, _, _ in plan]}")
        plan = [s for s in plan if s[0] in wanted]
    timings: dict[str, float | str] = {}
    for name, cmd, run in plan:
        shown = " ".join(c if c != sys.executable else "python" for c in cmd)
        if run and (ROOT / run / "model.safetensors").exists():
            print(f"== {name}: {run} is finished, reused", file=sys.stderr)
            timings[name] = "reused"
            continue
        print(f"== {name}: {shown}", file=sys.stderr, flush=True)
        if args.dry_run:
            continue
        t0 = time.time()
        if subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1")).returncode:
            print(f"{name} failed; stopping", file=sys.stderr)
            return 1
        timings[name] = round(time.time() - t0, 1)
    if not args.dry_run:
        path = ROOT / "scripts" / "figures.json"  # merged, so an --only run keeps the other steps' times
        merged = {**(json.loads(path.read_text()) if path.exists() else {}), **timings}
        path.write_text(json.dumps(merged, indent=1))
        print(json.dumps({"bench": "reproduce_figures", "seconds": timings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
