"""Peak memory vs recurrence steps with truncated backprop (issue 7 target: T=64 <= 1.3x T=8).

    python bench/bench_memory.py [--bptt 8] [--steps 8,16,32,64] [--json-out PATH]

Each T runs in a fresh subprocess (one forward + backward of the default graph model on a fixed
batch); memory = peak resident set size minus the resident size just before the forward. Also
reported: the bytes autograd saved for backward (exact, from saved-tensor hooks), with and
without truncation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import ROOT, emit

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {src!r})
import numpy as np, torch
torch.set_num_threads(1)
from loopthink.config import load_config
from loopthink.model import build_model
from loopthink.tasks import get_task
cfg = load_config({cfg!r})
task = get_task("graph")
model = build_model(cfg, task)
batch = task.sample_batch(256, np.random.default_rng(0), (1, 8))
saved = []
def pack(t):
    saved.append(t.untyped_storage().nbytes() if t.device.type == "cpu" else 0)
    return t
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = model(batch.inputs, {steps}, bptt={bptt})
out.logits.sum().backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"rss_kib": peak - before, "saved_bytes": sum(saved)}}))
"""


def measure(steps: int, bptt: int | None) -> dict:
    code = CHILD.format(src=str(ROOT / "src"), cfg=str(ROOT / "configs" / "graph.yaml"), steps=steps, bptt=bptt)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bptt", type=int, default=8)
    p.add_argument("--steps", default="8,16,32,64")
    p.add_argument("--json-out")
    args = p.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    rows = {s: {"truncated": measure(s, args.bptt), "full": measure(s, None)} for s in steps}
    lo, hi = rows[min(steps)]["truncated"], rows[max(steps)]["truncated"]
    result = {
        "bench": "memory",
        "bptt": args.bptt,
        "rows": rows,
        "rss_ratio_truncated": hi["rss_kib"] / max(1, lo["rss_kib"]),
        "saved_ratio_truncated": hi["saved_bytes"] / max(1, lo["saved_bytes"]),
        "saved_ratio_full": rows[max(steps)]["full"]["saved_bytes"] / max(1, rows[min(steps)]["full"]["saved_bytes"]),
        "target": 1.3,
    }
    for s in steps:
        r = rows[s]
        print(
            f"T={s:>3}  truncated: peak +{r['truncated']['rss_kib'] / 1024:7.1f} MiB, saved {r['truncated']['saved_bytes'] / 2**20:7.1f} MiB"
            f"   full: peak +{r['full']['rss_kib'] / 1024:7.1f} MiB, saved {r['full']['saved_bytes'] / 2**20:7.1f} MiB",
            file=sys.stderr,
        )
    emit(result, args.json_out)


if __name__ == "__main__":
    main()
