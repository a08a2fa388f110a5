"""Evaluation, frontier and compare: metrics on known cases, one-pass == per-T passes, CLI outputs."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from loopthink.analysis import accuracy
from loopthink.analysis.accuracy import difficulty_keys, evaluate_records, predict_over_steps, readings_over_steps, size_sorted_chunks
from loopthink.analysis.frontier import frontier_line
from loopthink.analysis.stats import wilson_interval
from loopthink.cli import main
from loopthink.tasks.formats import write_jsonl
from loopthink.training.rundir import load_run


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 0) == (0.0, 1.0)


def test_frontier_line_known_rows():
    rows = [
        {"steps": s, "difficulty": d, "accuracy": a}
        for s, d, a in [(1, 1, 0.97), (2, 1, 0.99), (1, 2, 0.5), (2, 2, 0.96), (1, 3, 0.5), (2, 3, 0.6)]
    ]
    assert frontier_line(rows) == {1: 1, 2: 2, 3: None}


def test_one_rollout_reads_every_step_count(tiny_graph_run):
    _, model, task = load_run(tiny_graph_run)
    records = task.generate(120, 5, (1, 4))
    steps = [1, 2, 4, 8]
    together = predict_over_steps(model, task, records, steps, batch_size=50)
    for j, s in enumerate(steps):  # same seeded initial states -> identical predictions
        assert np.array_equal(together[j], predict_over_steps(model, task, records, [s], batch_size=50)[0])
    res = evaluate_records(model, task, records, steps)
    assert set(res["by_difficulty"]) == set(difficulty_keys(task, records)) and "unreachable" in res["by_difficulty"]
    assert res["steps"]["8"]["accuracy"] > 0.85  # trained on hops 1..3 with 4..6 steps


def test_eval_frontier_compare_cli(tiny_graph_run, tmp_path, capsys):
    _, _, task = load_run(tiny_graph_run)
    data = tmp_path / "d.jsonl"
    write_jsonl(data, task.generate(60, 9, (1, 3)))
    assert (
        main(["eval", str(tiny_graph_run), "--data", str(data), "--steps", "2,6", "--json", "--halt", "convergence", "--max-steps", "12"])
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 60 and set(res["steps"]) == {"2", "6"}
    assert 1 <= res["halting"]["mean_steps"] <= 12 and 0 <= res["halting"]["accuracy"] <= 1

    out = tmp_path / "front"
    assert main(["frontier", str(tiny_graph_run), "--steps", "1,2,4", "--difficulty", "1..4", "--n-per-cell", "40", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "frontier.csv")))
    assert list(rows[0]) == ["steps", "difficulty", "accuracy", "n", "ci_low", "ci_high"] and len(rows) == 12
    assert all(float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"]) for r in rows)
    assert (out / "frontier.png").stat().st_size > 1000 and (out / "frontier.svg").exists()
    assert "smallest steps" in capsys.readouterr().out

    cmp = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(tiny_graph_run),
                str(tiny_graph_run),
                "--labels",
                "a,b",
                "--difficulty",
                "1..3",
                "--n",
                "30",
                "--candidates",
                "2,4",
                "--out",
                str(cmp),
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert [c["label"] for c in res["runs"]] == ["a", "b"] and res["runs"][0]["accuracy"] == res["runs"][1]["accuracy"]
    assert (cmp / "compare.png").exists()


def text_model(**model):
    """An untrained small text model (eval mode; zero initial state, as configs/text.yaml) and its
    task: the ensemble's plumbing, not its gain."""
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from tests.conftest import tiny_config

    cfg = tiny_config(task={"name": "text", "train_difficulty": [1, 3]}, model={"init_state": "zeros", "max_entities": 16, **model})
    torch.manual_seed(0)
    task = get_task("text")
    return build_model(cfg, task).eval(), task


def test_renumbered_gives_every_name_a_slot_of_its_own():
    model, task = text_model()
    inputs = task.encode(task.generate(8, 1, (2, 3))).inputs
    ent = inputs["entity"]
    out = model.interface.renumbered(inputs, torch.Generator().manual_seed(0))["entity"]
    assert torch.equal(out == 0, ent == 0) and 1 <= out[out > 0].min() and out.max() <= 16
    for b in range(len(ent)):  # one-to-one within each instance
        pairs = set(zip(ent[b].tolist(), out[b].tolist()))
        assert len(pairs) == len({a for a, _ in pairs}) == len({c for _, c in pairs})
    assert torch.equal(out, model.interface.renumbered(inputs, torch.Generator().manual_seed(0))["entity"])
    assert not torch.equal(out, ent)
    assert all(torch.equal(v, inputs[k]) for k, v in model.interface.renumbered(inputs, torch.Generator()).items() if k != "entity")


def test_ensemble_answers_with_the_members_mean_probability():
    model, task = text_model()
    records = task.generate(12, 3, (1, 3))
    steps = [2, 4]
    preds = predict_over_steps(model, task, records, steps, batch_size=64, ensemble=3)
    (chunk,) = size_sorted_chunks(records, 64)
    inputs = task.encode([records[i] for i in chunk]).inputs
    probs = 0
    for member in range(3):  # predict_over_steps' seeds for chunk 0 of seed 0
        gen = torch.Generator().manual_seed(member)
        with torch.no_grad():
            out = model(model.interface.renumbered(inputs, gen), 4, generator=gen, return_step_logits=True)
        probs = probs + out.step_logits[[1, 3]].softmax(-1)
    assert np.array_equal(preds[:, chunk], probs.argmax(-1).numpy())
    assert not np.array_equal(preds, predict_over_steps(model, task, records, steps, batch_size=64))  # members differ


def test_ensemble_changes_nothing_but_the_slot_numbering():
    """With every entity slot the same vector, a numbering carries nothing, so every member is the
    plain reading and the ensemble's answers are the plain ones."""
    model, task = text_model()
    with torch.no_grad():
        model.interface.entity.weight[1:] = model.interface.entity.weight[1]
    records = task.generate(40, 4, (1, 3))
    plain = predict_over_steps(model, task, records, [1, 3], batch_size=16)
    assert np.array_equal(plain, predict_over_steps(model, task, records, [1, 3], batch_size=16, ensemble=4))


def test_ensemble_needs_rollouts_that_differ(tiny_graph_run, tmp_path, capsys):
    _, model, task = load_run(tiny_graph_run)
    model.cfg.init_state = "zeros"  # graph from a zero state: nothing random at evaluation
    records = task.generate(10, 9, (1, 3))
    with pytest.raises(ValueError, match="ensemble needs"):
        predict_over_steps(model, task, records, [2], ensemble=2)
    data = tmp_path / "d.jsonl"
    write_jsonl(data, records)
    run = tmp_path / "zeros"
    shutil.copytree(tiny_graph_run, run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("init_state: random", "init_state: zeros"))
    assert main(["eval", str(run), "--data", str(data), "--steps", "2", "--ensemble", "2"]) == 2
    assert "--ensemble 2" in capsys.readouterr().err
    model.cfg.init_state = "random"  # the run as trained: random initial states, so members differ
    assert predict_over_steps(model, task, records, [2], ensemble=2).shape == (1, 10)
    assert main(["eval", str(tiny_graph_run), "--data", str(data), "--steps", "2", "--ensemble", "2", "--json"]) == 0


def test_eval_reads_every_format_data_writes_and_groups_by_a_record_key(tiny_graph_run, tmp_path, capsys):
    """`loopthink data --out x.parquet` then `eval --data x.parquet` (one reader for every command),
    and `--by family` reports accuracy per family in the JSON and the table, matching a hand count."""
    parquet = tmp_path / "g.parquet"
    assert main(["data", "graph", "--n", "60", "--difficulty", "1..3", "--seed", "4", "--out", str(parquet)]) == 0
    capsys.readouterr()
    assert main(["eval", str(tiny_graph_run), "--data", str(parquet), "--steps", "4", "--json"]) == 0
    from_parquet = json.loads(capsys.readouterr().out)
    _, model, task = load_run(tiny_graph_run)
    records = task.generate(60, 4, (1, 3))
    for i, r in enumerate(records):
        r["family"] = "even" if i % 2 == 0 else "odd"
    write_jsonl(tmp_path / "tagged.jsonl", records)
    assert main(["eval", str(tiny_graph_run), "--data", str(tmp_path / "tagged.jsonl"), "--steps", "4", "--by", "family", "--json"]) == 0
    tagged = json.loads(capsys.readouterr().out)
    assert from_parquet["n"] == 60 and 0.5 <= from_parquet["steps"]["4"]["accuracy"] <= 1
    right = predict_over_steps(model, task, records, [4])[0] == task.encode(records).labels.numpy()
    assert tagged["group_key"] == "family" and tagged["n_by_group"] == {"even": 30, "odd": 30}
    assert tagged["by_group"]["even"]["4"] == pytest.approx(right[0::2].mean())
    assert tagged["by_group"]["odd"]["4"] == pytest.approx(right[1::2].mean())
    assert main(["eval", str(tiny_graph_run), "--data", str(tmp_path / "tagged.jsonl"), "--steps", "4", "--by", "family"]) == 0
    table = capsys.readouterr().out
    assert "family" in table and "even" in table and "odd" in table


@pytest.mark.parametrize("task_name", ["graph", "maze"])
def test_slices_of_a_chunk_answer_as_the_whole_chunk(tiny_graph_run, monkeypatch, task_name):
    """On the CPU a chunk runs in slices of CPU_SLICE tokens; the random initial state is still the
    chunk's draw, so every reading is the one the whole chunk gives (answered once or per position)."""
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from tests.conftest import tiny_config

    if task_name == "graph":
        _, model, task = load_run(tiny_graph_run)
    else:
        task = get_task("maze")
        torch.manual_seed(0)
        model = build_model(tiny_config(task={"name": "maze", "train_difficulty": [5, 9]}), task).eval()
    assert not model.deterministic_init()  # the draw is what slicing must keep
    records = task.generate(40, 3, (1, 4) if task_name == "graph" else (5, 9))
    whole = list(readings_over_steps(model, task, records, [2, 5], batch_size=16))
    monkeypatch.setattr(accuracy, "CPU_SLICE", 1)  # one example per slice
    sliced = list(readings_over_steps(model, task, records, [2, 5], batch_size=16))
    for (c1, s1, _), (c2, s2, _) in zip(whole, sliced):
        assert c1 == c2 and torch.allclose(s1, s2, atol=1e-5)


def test_evaluation_batches_stay_within_the_token_budget():
    """size_sorted_chunks: at most batch_size records, and padded tokens+edges within the budget;
    a record larger than the budget is read alone; every record once, in size order."""
    sizes = [5, 1, 9, 3, 40, 2, 7, 8]
    records = [{"x": "a" * s} for s in sizes]
    chunks = size_sorted_chunks(records, 3, sizes, budget=16)
    assert sorted(i for c in chunks for i in c) == list(range(len(sizes)))
    assert all(len(c) <= 3 and (len(c) == 1 or len(c) * max(sizes[i] for i in c) <= 16) for c in chunks)
    assert [4] in chunks  # 40 > 16: alone
    assert size_sorted_chunks(records, 3) == size_sorted_chunks(records, 3, sizes, budget=10**9)
