"""The GPU speed paths, run for real on a CUDA device: fp32, bf16 autocast, autocast + torch.compile.

    python scripts/gpu_paths.py [--config configs/graph.yaml] [--iters 100] [--json OUT.json] [key=value ...]

Trains the same config for the same iterations each way (same seed, same batches) and reports
wall-clock seconds, iterations per second (after the first 10, which hold compilation and CUDA
warm-up) and the logged losses; fails when one of the losses at iterations 5..20 is not finite or
strays from the fp32 run's by more than 5% of their largest value (the tolerance tests/test_train.py uses for the CPU paths).
The CPU test suite covers the same code paths on the CPU; this script is for a machine with a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # the helpers shared with bench/
from _common import ROOT, emit  # noqa: E402
from loopthink.config import load_config  # noqa: E402
from loopthink.training.loop import train  # noqa: E402

COMPARED = 4  # losses logged at iterations 5..20; later ones drift apart by chance, as any two runs do
WAYS = {"fp32": [], "amp": ["train.amp=true"], "amp+compile": ["train.amp=true", "train.compile=true"]}


def run_way(config: Path, iters: int, overrides: list[str], out: Path) -> dict:
    cfg = load_config(
        config,
        [
            f"train.iters={iters}",
            "train.device=cuda",
            "train.log_every=5",
            f"train.eval_every={iters}",
            f"train.checkpoint_every={iters}",
            *overrides,
        ],
    )
    t0 = time.time()
    train(cfg, out, progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "loss" in r]
    warm = next(r for r in timed if r["iter"] >= 10)
    rate = (timed[-1]["iter"] - warm["iter"]) / max(1e-9, timed[-1]["time"] - warm["time"])
    return {
        "seconds": round(time.time() - t0, 2),
        "iters_per_s_after_10": round(rate, 2),
        "losses": [r["loss"] for r in timed],
        "val": rows[-1].get("val"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "graph.yaml"))
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--json", help="also write the result here")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: the GPU paths are covered on the CPU by tests/test_train.py", file=sys.stderr)
        return 2
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "config": args.config, "ways": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in WAYS.items():
            try:
                result["ways"][name] = run_way(Path(args.config), args.iters, flags + args.overrides, Path(tmp) / name.replace("+", "_"))
            except Exception as e:  # report every way, then fail
                result["ways"][name] = {"error": f"{type(e).__name__}: {e}"}
    ref = result["ways"]["fp32"].get("losses", [])[:COMPARED]
    ok = bool(ref)
    for way in result["ways"].values():
        got = way.get("losses", [])[:COMPARED]
        way["ok"] = bool(
            got
            and ref
            and len(got) == len(ref)
            and all(math.isfinite(x) for x in got)
            and max(abs(a - b) for a, b in zip(ref, got)) < 0.05 * max(ref)
        )
        ok &= way["ok"]
    result["ok"] = ok
    emit(result, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
