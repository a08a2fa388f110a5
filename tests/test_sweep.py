"""Seed sweeps: parallel runs, resume, failures, and eval/frontier/compare over seeds."""

from __future__ import annotations

import argparse
import csv
import json
import math

import pytest
import yaml

from loopthink.analysis.stats import mean_ci, t_quantile, t_quantile_975
from loopthink.cli import main
from loopthink.commands.argtypes import parse_seeds
from loopthink.config import load_config
from loopthink.sweeps.dirs import is_sweep, run_finished, sweep_runs
from loopthink.sweeps.plan import grid_points, parse_grid, resolve_devices, split_values
from tests.conftest import TINY

ITERS = 16


def write_config(path):
    cfg = json.loads(json.dumps(TINY))
    cfg["model"].update(d_model=16, d_ff=32)
    cfg["train"].update(iters=ITERS, batch_size=16, checkpoint_every=4, eval_every=ITERS, eval_n=8, log_every=4, threads=1)
    path.write_text(yaml.safe_dump(cfg))
    return path


def sweep_json(out):
    return json.loads((out / "sweep.json").read_text())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2-seed sweep, two runs at a time; overrides given after the options."""
    tmp = tmp_path_factory.mktemp("sweep")
    config = write_config(tmp / "c.yaml")
    out = tmp / "S"
    rc = main(["sweep", str(config), "--seeds", "0,1", "--jobs", "2", "--out", str(out), "train.lr=0.002"])
    assert rc == 0, sweep_json(out)
    return config, out


# ---- mean_ci ---------------------------------------------------------------------------------------
def test_mean_ci_known_values():
    ci = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.302652730
    assert ci["mean"] == 2.0 and ci["n"] == 3 and ci["values"] == [1.0, 2.0, 3.0]
    assert ci["low"] == pytest.approx(2 - 4.302652730 / math.sqrt(3), abs=1e-9)
    assert ci["high"] == pytest.approx(2 + 4.302652730 / math.sqrt(3), abs=1e-9)
    two = mean_ci([0.5, 0.7])  # sd = 0.1414..., t(0.975, 1) = 12.7062
    assert two["high"] - two["mean"] == pytest.approx(12.706204736 * math.sqrt(0.02) / math.sqrt(2), rel=1e-9)
    assert mean_ci([0.8]) == {"mean": 0.8, "low": 0.8, "high": 0.8, "n": 1, "values": [0.8]}
    assert mean_ci([0.9, 0.95, 1.0], bounds=(0.0, 1.0))["high"] == 1.0
    assert mean_ci([4.0] * 5)["low"] == mean_ci([4.0] * 5)["high"] == 4.0
    assert t_quantile_975(10) == pytest.approx(2.228138852) and t_quantile_975(30) == pytest.approx(2.042272456)
    # beyond the old table's df = 30 the quantile is exact too, not the normal 1.96 (3-4% narrower there)
    assert t_quantile_975(40) == pytest.approx(2.021075390, abs=1e-8) and t_quantile_975(120) == pytest.approx(1.979930405, abs=1e-8)
    assert t_quantile_975(1) == pytest.approx(12.706204736, abs=1e-8) and t_quantile(0.995, 7) == pytest.approx(3.499483297, abs=1e-8)
    assert t_quantile(0.025, 5) == pytest.approx(-2.570581836, abs=1e-8)
    with pytest.raises(ValueError):
        mean_ci([])


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 61), 100, 1000, 100_000]:
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-9)


# ---- argument parsing --------------------------------------------------------------------------
def test_seeds_and_grid_parsing():
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("0..3,7") == [0, 1, 2, 3, 7]
    for bad in ("", "a", "1,1", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seeds(bad)
    assert split_values("1,[1,3],{a: 1}") == ["1", "[1,3]", "{a: 1}"]
    grid = parse_grid(["model.d_model=32,64", "train.lr=1e-3,2e-3"])
    names = [n for n, _ in grid_points(grid)]
    assert names == [
        "model.d_model=32,train.lr=1e-3",
        "model.d_model=32,train.lr=2e-3",
        "model.d_model=64,train.lr=1e-3",
        "model.d_model=64,train.lr=2e-3",
    ]
    assert grid_points([]) == [("", [])]
    assert resolve_devices("cuda:0,2", None) == (["cuda:0", "cuda:2"], 2)
    assert resolve_devices("cuda:1", 3) == (["cuda:1"] * 3, 3)
    assert resolve_devices("cpu", 2) == (["cpu", "cpu"], 2)


def test_dry_run_grid_layout(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml")
    out = tmp_path / "G"
    assert main(["sweep", str(config), "--seeds", "3,4", "--grid", "model.d_model=16,32", "--out", str(out), "--dry-run"]) == 0
    cmds = capsys.readouterr().out.strip().splitlines()
    assert len(cmds) == 4 and all(" train " in c and "--no-progress" in c for c in cmds)
    data = sweep_json(out)
    assert [r["dir"] for r in data["runs"]] == [
        "model.d_model=16/seed3",
        "model.d_model=16/seed4",
        "model.d_model=32/seed3",
        "model.d_model=32/seed4",
    ]
    assert all(r["status"] == "pending" for r in data["runs"])
    assert is_sweep(out) and is_sweep(out / "model.d_model=16") and not is_sweep(tmp_path)
    assert sweep_runs(out, warn=False) == {}
    assert list(sweep_runs(out / "model.d_model=32", finished_only=False)) == ["model.d_model=32"]
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "--dry-run", "train.seed=3"]) == 2
    assert "--seeds" in capsys.readouterr().err


# ---- running -------------------------------------------------------------------------------------------
def test_sweep_trains_seeds_in_parallel(sweep):
    config, out = sweep
    data = sweep_json(out)
    assert data["status"] == "finished" and data["seeds"] == [0, 1] and data["jobs"] == 2 and data["threads_per_run"] == 1
    runs = data["runs"]
    assert [r["dir"] for r in runs] == ["seed0", "seed1"]
    for r in runs:
        assert r["status"] == "finished" and r["action"] == "trained" and r["wall_s"] > 0 and r["val"], r["error"]
        assert run_finished(out / r["dir"], ITERS)
        cfg = load_config(out / r["dir"] / "config.yaml")
        assert cfg.train.seed == r["seed"] and cfg.train.lr == 0.002 and cfg.train.threads == 1
    a, b = runs
    assert a["started"] < b["ended"] and b["started"] < a["ended"], "the two runs did not overlap"
    assert sweep_runs(out) == {"": [out / "seed0", out / "seed1"]}


def test_rerun_skips_finished_runs(sweep):
    config, out = sweep
    mtimes = {s: (out / s / "model.safetensors").stat().st_mtime_ns for s in ("seed0", "seed1")}
    assert main(["sweep", str(config), "--seeds", "0,1", "--jobs", "2", "--out", str(out), "train.lr=0.002"]) == 0
    data = sweep_json(out)
    assert [r["action"] for r in data["runs"]] == ["skipped", "skipped"]
    assert all(r["wall_s"] > 0 for r in data["runs"])  # kept from the first invocation
    assert mtimes == {s: (out / s / "model.safetensors").stat().st_mtime_ns for s in ("seed0", "seed1")}


def test_unfinished_run_is_resumed(tmp_path):
    from loopthink.training.loop import train

    config = write_config(tmp_path / "c.yaml")
    out = tmp_path / "S"
    train(load_config(config, ["train.seed=0", f"train.iters={ITERS // 2}"]), out / "seed0", progress=False)  # stopped half-way
    early = [json.loads(x) for x in (out / "seed0" / "metrics.jsonl").read_text().splitlines()]
    assert not run_finished(out / "seed0", ITERS)
    assert main(["sweep", str(config), "--seeds", "0", "--out", str(out)]) == 0
    run = sweep_json(out)["runs"][0]
    assert run["action"] == "resumed" and run["status"] == "finished", run["error"]
    assert run_finished(out / "seed0", ITERS)
    rows = [json.loads(x) for x in (out / "seed0" / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in rows if r["iter"] <= ITERS // 2 and "val" not in r] == [r for r in early if "val" not in r]
    assert max(r["iter"] for r in rows) == ITERS


def test_failed_run_is_reported(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml")
    out = tmp_path / "S"
    assert main(["sweep", str(config), "--seeds", "0", "--out", str(out), "train.lr=1e30"]) == 1
    run = sweep_json(out)["runs"][0]
    assert run["status"] == "failed" and run["returncode"] != 0 and "loss is" in run["error"], run
    assert sweep_json(out)["status"] == "failed"
    assert "FAILED" in capsys.readouterr().err


# ---- eval / frontier / compare over a sweep ------------------------------------------------------
def test_eval_on_sweep_gives_per_seed_values_and_interval(sweep, tmp_path, capsys):
    from loopthink.tasks import get_task
    from loopthink.tasks.formats import write_jsonl

    _, out = sweep
    data = tmp_path / "d.jsonl"
    write_jsonl(data, get_task("graph").generate(60, 7, (1, 3)))
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(data), "--steps", "2,4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 60 and res["seeds"] == [0, 1]
    for s in ("2", "4"):
        v = res["steps"][s]
        assert len(v["per_seed"]) == 2 and v["accuracy"] == pytest.approx(sum(v["per_seed"]) / 2)
        assert 0.0 <= v["ci_low"] <= v["accuracy"] <= v["ci_high"] <= 1.0
    for k, row in res["by_difficulty"].items():
        assert row["2"] == pytest.approx(sum(res["by_difficulty_per_seed"][k]["2"]) / 2)
    assert main(["eval", str(out), "--data", str(data), "--steps", "2"]) == 0
    assert "95% interval over seeds" in capsys.readouterr().out


def test_pool_answers_with_the_seeds_mean_probability(sweep, tmp_path, capsys):
    """``eval SWEEP --pool``: one model made of the seeds' runs, answering by their mean probability
    (worked out here by hand from each run's readouts); a pool of one is that run."""
    import numpy as np
    import torch

    from loopthink.analysis.accuracy import predict_over_steps, size_sorted_chunks
    from loopthink.tasks.formats import write_jsonl
    from loopthink.training.rundir import load_run

    _, out = sweep
    runs = sweep_runs(out)[""]
    (_, m0, task), (_, m1, _) = load_run(runs[0]), load_run(runs[1])
    records = task.generate(40, 5, (1, 3))
    pooled = predict_over_steps([m0, m1], task, records, [2, 4], batch_size=64)
    (chunk,) = size_sorted_chunks(records, 64)
    inputs = task.encode([records[i] for i in chunk]).inputs
    probs = 0
    for m in (m0, m1):  # chunk 0 of seed 0: each model's plain reading with the generator seeded 0
        with torch.no_grad():
            out_m = m(inputs, 4, generator=torch.Generator().manual_seed(0), return_step_logits=True)
        probs = probs + out_m.step_logits[[1, 3]].softmax(-1)
    assert np.array_equal(pooled[:, chunk], probs.argmax(-1).numpy())
    assert np.array_equal(predict_over_steps([m0], task, records, [2, 4]), predict_over_steps(m0, task, records, [2, 4]))

    data = tmp_path / "d.jsonl"
    write_jsonl(data, records)
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(data), "--steps", "2,4", "--pool", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    labels = task.encode(records).labels.numpy()
    assert res["pooled"] and res["seeds"] == [0, 1] and res["n"] == 40
    assert res["steps"]["4"]["accuracy"] == pytest.approx(float((pooled[1] == labels).mean()))
    assert main(["eval", str(runs[0]), "--data", str(data), "--pool"]) == 2
    assert "--pool needs a sweep" in capsys.readouterr().err


def test_frontier_on_sweep(sweep, tmp_path):
    _, out = sweep
    fr = tmp_path / "F"
    assert main(["frontier", str(out), "--steps", "1,4", "--difficulty", "1..2", "--n-per-cell", "20", "--out", str(fr)]) == 0
    with open(fr / "frontier.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"] and len(rows) == 4
    data = json.loads((fr / "frontier.json").read_text())
    assert data["seeds"] == [0, 1] and "Student-t" in data["interval"]
    for r in data["rows"]:
        assert len(r["per_seed"]) == 2 and r["accuracy"] == pytest.approx(sum(r["per_seed"]) / 2)
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"] and r["n"] == 20
    assert (fr / "frontier.png").exists()


def test_compare_with_a_sweep(sweep, tmp_path, capsys):
    _, out = sweep
    cmp = tmp_path / "C"
    capsys.readouterr()
    assert (
        main(
            [
                "compare",
                str(out),
                str(out / "seed0"),
                "--candidates",
                "2,4",
                "--difficulty",
                "1..2",
                "--n",
                "20",
                "--out",
                str(cmp),
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    mean, single = res["runs"]
    assert mean["label"] == "S" and mean["seeds"] == [0, 1] and len(mean["per_seed"]) == 2
    for i in range(2):
        assert mean["accuracy"][i] == pytest.approx((mean["per_seed"][0][i] + mean["per_seed"][1][i]) / 2)
        assert mean["ci_low"][i] <= mean["accuracy"][i] <= mean["ci_high"][i]
    assert "seeds" not in single and single["label"] == "seed0"
    assert (cmp / "compare.png").exists()
