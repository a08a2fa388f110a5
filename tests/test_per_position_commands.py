"""The commands not covered elsewhere, on a per-position task (prefix sums) at a tiny size: sweep and
eval of the sweep, compare, validity, report. Tiny runs: the plumbing is under test, not accuracy."""

import json

import yaml

from loopthink.cli import main
from loopthink.config import load_config

TINY = [
    "task.train_difficulty=[1,4]",
    "model.d_model=16",
    "model.d_ff=32",
    "train.iters=4",
    "train.batch_size=8",
    "train.eval_every=4",
    "train.eval_n=4",
    "train.checkpoint_every=4",
    "train.steps.min=4",
    "train.steps.max=6",
    "train.threads=1",
]


def test_sweep_compare_validity_and_report_on_prefix_sums(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(load_config("configs/prefix_sums.yaml", TINY).model_dump(mode="json")))
    sweep = tmp_path / "sweep"
    assert main(["sweep", str(config), "--seeds", "0,1", "--jobs", "1", "--out", str(sweep)]) == 0
    data = tmp_path / "p.jsonl"
    assert main(["data", "prefix_sums", "--n", "20", "--difficulty", "2..5", "--out", str(data)]) == 0
    capsys.readouterr()
    assert main(["eval", str(sweep), "--data", str(data), "--steps", "2,6", "--json"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    assert pooled["seeds"] == [0, 1] and len(pooled["steps"]["6"]["per_seed"]) == 2 and "position_accuracy" in pooled["steps"]["6"]
    runs = sorted(p for p in sweep.iterdir() if (p / "config.yaml").is_file())
    assert main(["compare", str(runs[0]), str(runs[1]), "--difficulty", "1..4", "--n", "8", "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare.json").is_file()
    out = tmp_path / "val"
    assert main(["validity", str(runs[0]), "--difficulty", "4..5", "--n-per-cell", "4", "--steps", "2,6", "--out", str(out)]) == 0
    rows = json.loads((out / "validity.json").read_text())["rows"]
    assert {r["family"] for r in rows} == {"biased_low", "biased_high", "long_runs", "single_one"} and {r["label"] for r in rows} == {"all"}
    assert main(["report", str(runs[0]), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").stat().st_size > 0
