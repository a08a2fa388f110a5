"""Training loop: learning happens, resume is exact, divergence stops cleanly, runs reload."""

import json
import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch

from loopthink.training.batches import difficulty_at, sample_steps
from loopthink.training.loop import TrainingDiverged, lr_at, train
from loopthink.training.rundir import RunError, load_run, load_weights
from tests.conftest import tiny_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def metrics(run, drop=("time",)):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def test_tiny_run_learns(tiny_graph_run):
    val = [r for r in metrics(tiny_graph_run) if "val" in r][-1]["val"]
    assert min(val.values()) >= 0.9, val  # hops 1..3 after 150 iterations
    cfg, model, task = load_run(tiny_graph_run)
    assert cfg.task.name == "graph" and not model.training


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    cfg = tiny_config(train={"iters": 40, "checkpoint_every": 20, "eval_every": 20, "log_every": 5}, model={"dropout": 0.1})
    train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, stop_at=20)  # stops at 20, as if killed after its checkpoint
    with open(tmp_path / "part" / "metrics.jsonl", "a") as f:  # a row logged after the checkpoint, then a crash
        f.write(json.dumps({"iter": 25, "loss": 9.9}) + "\n")
    train(cfg, tmp_path / "part", resume=True, progress=False)
    assert metrics(tmp_path / "part") == metrics(tmp_path / "full")
    a, b = load_run(tmp_path / "full")[1], load_run(tmp_path / "part")[1]
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_weight_average_is_published_and_resumes_exactly(tmp_path):
    """train.ema: the run's weights are the moving average (not the trained weights, which the
    checkpoint keeps beside it), validation reads the average, and a resumed run equals an
    uninterrupted one."""
    from safetensors.torch import load_file

    cfg = tiny_config(train={"iters": 40, "checkpoint_every": 20, "eval_every": 20, "log_every": 5, "ema": 0.9})
    train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, stop_at=20)
    train(cfg, tmp_path / "part", resume=True, progress=False)
    assert metrics(tmp_path / "part") == metrics(tmp_path / "full")
    published, trained = (load_file(str(tmp_path / "full" / f)) for f in ("model.safetensors", "checkpoint/model.safetensors"))
    average = load_file(str(tmp_path / "full" / "checkpoint" / "average.safetensors"))
    assert int(average["n_averaged"]) == 40
    assert all(torch.equal(published[k], average[f"module.{k}"]) for k in published)
    assert not all(torch.equal(published[k], trained[k]) for k in published)  # 40 steps apart: they differ
    assert published.keys() == load_file(str(tmp_path / "part" / "model.safetensors")).keys()
    for k, v in load_file(str(tmp_path / "part" / "model.safetensors")).items():
        assert torch.equal(v, published[k]), k
    plain = tiny_config(train={"iters": 40, "checkpoint_every": 20, "eval_every": 20, "log_every": 5})
    train(plain, tmp_path / "plain", progress=False)
    rows = [r for r in metrics(tmp_path / "plain") if "loss" in r]  # the average changes nothing trained
    assert rows == [r for r in metrics(tmp_path / "full") if "loss" in r]


@pytest.mark.parametrize("flag", ["amp", pytest.param("compile", marks=pytest.mark.slow)])
def test_gpu_speed_paths_train_on_the_cpu(tmp_path, flag):
    """bf16 autocast and torch.compile (GPU paths) run here too: same losses up to their rounding, not bit-equal."""
    cfg = {"iters": 20, "checkpoint_every": 20, "eval_every": 20, "log_every": 5, "threads": 1}
    train(tiny_config(train=cfg), tmp_path / "fp32", progress=False)
    train(tiny_config(train={**cfg, flag: True}), tmp_path / flag, progress=False)
    ref, got = ([r["loss"] for r in metrics(tmp_path / name) if "loss" in r] for name in ("fp32", flag))
    assert len(got) == len(ref) == 4 and all(math.isfinite(x) for x in got)
    assert max(abs(a - b) for a, b in zip(ref, got)) < 0.05 * max(ref), (ref, got)
    if flag == "amp":  # bf16 rounding shows in the losses: autocast really was on
        assert ref != got
    load_run(tmp_path / flag)


def test_data_workers_give_the_same_run(tmp_path):
    """Batches made in worker processes (train.data_workers, for GPUs) are the thread's batches, so
    the run is the same: equal metrics, equal weights."""
    cfg = {"iters": 12, "checkpoint_every": 12, "eval_every": 12, "log_every": 4, "threads": 1}
    train(tiny_config(train=cfg), tmp_path / "thread", progress=False)
    train(tiny_config(train={**cfg, "data_workers": 2}), tmp_path / "workers", progress=False)
    assert metrics(tmp_path / "thread") == metrics(tmp_path / "workers")
    a, b = load_run(tmp_path / "thread")[1], load_run(tmp_path / "workers")[1]
    assert all(torch.equal(v, w) for v, w in zip(a.state_dict().values(), b.state_dict().values()))


def test_existing_run_needs_resume(tmp_path, tiny_graph_run):
    with pytest.raises(RunError, match="--resume"):
        train(tiny_config(), tiny_graph_run, progress=False)
    with pytest.raises(RunError, match="nothing to resume"):
        train(tiny_config(), tmp_path / "empty", resume=True, progress=False)


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(
        train={"iters": 30, "checkpoint_every": 10, "lr": 1e30, "warmup": 0, "grad_clip": None}, model={"layerscale": None, "gate": False}
    )
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(cfg, tmp_path / "run", progress=False)
    trainer = (
        json.loads((tmp_path / "run" / "checkpoint" / "trainer.json").read_text()) if (tmp_path / "run" / "checkpoint").exists() else None
    )
    if trainer is not None:  # any checkpoint left behind is complete and loadable
        load_run(tmp_path / "run")


def test_mismatched_checkpoint_is_named(tmp_path, tiny_graph_run):
    cfg, model, _ = load_run(tiny_graph_run)
    bad = dict(model.state_dict())
    bad.pop("head.weight")
    bad["head.bias"] = torch.zeros(7)
    from safetensors.torch import save_file

    save_file(bad, str(tmp_path / "w.safetensors"))
    with pytest.raises(RunError, match=r"missing tensors: head\.weight.*shape mismatch: head\.bias"):
        load_weights(tmp_path / "w.safetensors", model)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RunError, match="unreadable"):
        load_weights(tmp_path / "junk.safetensors", model)
    with pytest.raises(RunError, match="not a run"):
        load_run(tmp_path)


def test_schedules():
    cfg = tiny_config(train={"iters": 100, "warmup": 10, "lr": 1.0, "min_lr_ratio": 0.1}).train
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1, abs=1e-3)
    import numpy as np

    rng = np.random.default_rng(0)
    steps = tiny_config(train={"steps": {"mode": "lognormal_poisson", "min": 2, "max": 40, "mean": 8}}).train.steps
    draws = [sample_steps(steps, rng) for _ in range(2000)]
    assert 2 <= min(draws) and max(draws) <= 40 and 7 < np.mean(draws) < 11


def test_curriculum_grows_the_hardest_level_evenly():
    cfg = tiny_config(task={"name": "graph", "train_difficulty": [1, 4]}, train={"iters": 100, "curriculum": 0.4})
    his = [difficulty_at(it, cfg)[1] for it in range(100)]
    assert [his.count(h) for h in (1, 2, 3, 4)] == [10, 10, 10, 70]  # 40 iterations, 10 per level
    assert all(difficulty_at(it, cfg)[0] == 1 for it in range(100))
    off = tiny_config(task={"name": "graph", "train_difficulty": [1, 4]}, train={"iters": 100})
    assert {difficulty_at(it, off) for it in range(100)} == {(1, 4)}


def test_torchrun_ddp_on_cpu(tmp_path):
    """Two processes under torchrun (gloo backend): DistributedDataParallel trains and rank 0 writes the run."""
    import subprocess
    import sys

    import yaml

    from tests.conftest import TINY

    cfg = json.loads(json.dumps(TINY))
    cfg["train"].update(iters=10, checkpoint_every=5, eval_every=10, threads=1)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "-m",
        "loopthink.cli",
        "train",
        str(tmp_path / "c.yaml"),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["iter"] for r in metrics(tmp_path / "run") if "loss" in r][-1] == 10
    load_run(tmp_path / "run")


def test_cli_train_overrides_anywhere(tmp_path, capsys):
    import yaml

    from loopthink.cli import main
    from tests.conftest import TINY

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    assert (
        main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "--no-progress", "train.iters=3", "train.eval_every=3"]) == 0
    )
    assert [r["iter"] for r in metrics(tmp_path / "r") if "val" in r] == [3]
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "s"), "model.d_modle=3"]) == 2
    assert "model.d_modle: unknown key" in capsys.readouterr().err


def test_trimmed_cuts_only_padding():
    from loopthink.tasks import get_task

    logic = get_task("logic")
    batch = logic.encode(logic.generate(24, 5, (1, 5)))
    short = batch.index(torch.argsort(batch.sizes())[:8])  # still padded to the whole batch's length
    cut = short.trimmed()
    assert cut.inputs["tokens"].shape[1] == int(short.sizes().max()) < short.inputs["tokens"].shape[1]
    for k, v in cut.inputs.items():
        assert torch.equal(v, short.inputs[k][:, : v.shape[1]])
        assert not short.inputs[k][:, v.shape[1] :].any()  # only padding was dropped
    graph = get_task("graph")
    whole = graph.encode(graph.generate(8, 3, (1, 4)))
    assert whole.trimmed() is whole  # encoded batches are padded to their largest instance
    parts = whole.length_buckets(3)
    assert sum(len(p) for p in parts) == 8 and all(p.inputs["adj"].shape[1:] == (p.sizes().max(),) * 2 for p in parts)


@pytest.mark.parametrize("task_name", ["text", "logic", "graph"])
def test_concat_equals_encoding_the_records_together(task_name):
    from loopthink.tasks import Batch, get_task

    task = get_task(task_name)
    short, long = task.generate(5, 1, (1, 1)), task.generate(7, 2, (3, 4))
    whole, joined = task.encode(short + long), Batch.concat([task.encode(short), task.encode(long)])
    assert joined.inputs.keys() == whole.inputs.keys()
    for k, v in whole.inputs.items():
        assert torch.equal(joined.inputs[k], v), k
    assert torch.equal(joined.labels, whole.labels) and torch.equal(joined.difficulty, whole.difficulty)


def test_linear_difficulty_weights_favour_the_hardest_level():
    from loopthink.config import load_config
    from loopthink.tasks import get_task
    from loopthink.training.batches import sample_training_batch

    task = get_task("logic")
    cfg = load_config(CONFIGS / "logic.yaml", ["train.difficulty_weights=linear", "train.batch_size=600"])
    batch = sample_training_batch(task, cfg, np.random.default_rng(0), (1, 3))
    counts = torch.bincount(batch.difficulty, minlength=4)[1:].tolist()  # expected 100 / 200 / 300
    assert len(batch) == 600 and counts[0] < counts[1] < counts[2] and 60 < counts[0] < 140 and 250 < counts[2] < 350
    uniform = load_config(CONFIGS / "logic.yaml", ["train.batch_size=600"])
    flat = torch.bincount(sample_training_batch(task, uniform, np.random.default_rng(0), (1, 3)).difficulty)[1:]
    assert flat.min() > 150  # 200 each


@pytest.mark.parametrize(
    ("task_name", "node_loss", "cuts"),
    [("logic", 0.0, "equal"), ("logic", 1.0, "equal"), ("graph", 0.0, "equal"), ("graph", 1.0, "equal"), ("text", 1.0, "equal"),
     ("logic", 1.0, "cost"), ("graph", 1.0, "cost"), ("text", 1.0, "cost")],
)  # fmt: skip
def test_micro_batches_give_the_whole_batch_gradient(task_name, node_loss, cuts):
    """Length-sorted, trimmed micro-batches (either cut): same loss and gradient as one padded batch."""
    from loopthink.config import config_from_dict
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from loopthink.training.losses import accumulate_gradients

    data = {
        "task": {"name": task_name, "train_difficulty": [1, 5]},
        "model": {"d_model": 32, "n_heads": 2, "d_ff": 64, "init_state": "zeros", "dropout": 0.0},
    }
    task = get_task(task_name)
    batch = task.encode(task.generate(24, 5, (1, 5)))
    grads, losses = [], []
    for k in (1, 3):
        cfg = config_from_dict({**data, "train": {"micro_batches": k, "micro_batch_cuts": cuts, "node_loss": node_loss}})
        torch.manual_seed(0)
        model = build_model(cfg, task)
        model.train(task_name != "text")  # text training draws random entity slots per call
        loss, acc = accumulate_gradients(model, batch, 4, cfg.train, np.random.default_rng(0), nullcontext(), task)
        losses.append(loss)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_cost_cuts_are_the_cheapest_contiguous_cuts():
    """The dynamic programme against every way of cutting small sorted batches into k parts."""
    import itertools

    from loopthink.tasks.base import cheapest_cuts, padded_cost

    def total(sizes, ends):
        return sum(padded_cost(b - a, sizes[b - 1]) for a, b in zip([0, *ends[:-1]], ends))

    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(1, 9))
        k = int(rng.integers(1, n + 1))
        sizes = sorted(rng.integers(1, 300, n).tolist())
        ends = cheapest_cuts(torch.tensor(sizes), k)
        assert len(ends) == k and ends[-1] == n and all(b > a for a, b in zip([0, *ends[:-1]], ends))
        brute = min(total(sizes, [*c, n]) for c in itertools.combinations(range(1, n), k - 1))
        assert total(sizes, ends) == brute
    # a few long instances get a part of their own: 60 short ones and 4 four times as long
    assert cheapest_cuts(torch.tensor([40] * 60 + [160] * 4), 2) == [60, 64]


@pytest.mark.parametrize(
    ("task_name", "arch"),
    [
        ("graph", "recurrent"),
        ("graph", "transformer"),
        ("graph", "act"),
        ("graph", "ponder"),
        ("text", "recurrent"),
        ("text", "transformer"),
        ("logic", "recurrent"),
    ],
)
def test_node_loss_adds_the_every_node_term(task_name, arch):
    """loss(node_loss=w) = loss(0) + w * every-node loss, for the model and every baseline
    (they train with the same term, so comparisons stay matched)."""
    from loopthink.model import build_model
    from loopthink.tasks import get_task
    from loopthink.training.losses import compute_loss, every_node_loss

    task = get_task(task_name)
    batch = task.encode(task.generate(16, 2, (1, 6)))
    task_cfg = {"name": task_name, "train_difficulty": [1, 4]}
    cfg = tiny_config(task=task_cfg, train={"node_loss": 0.5}).model_copy(update={"arch": arch})
    torch.manual_seed(0)
    model = build_model(cfg, task).eval()  # eval: text's entity slots are not re-drawn per call

    def seeded(f):  # the same random initial state for every call
        torch.manual_seed(7)
        return f()

    with torch.no_grad():
        total, _ = seeded(lambda: compute_loss(model, batch, 4, cfg.train, np.random.default_rng(0), task))
        plain, _ = seeded(lambda: compute_loss(model, batch, 4, tiny_config(task=task_cfg).train, np.random.default_rng(0), task))
        dense = every_node_loss(model, seeded(lambda: model(batch.inputs, 4)).final_state, batch, task)
    assert dense > 0 and float(total) == pytest.approx(float(plain) + 0.5 * float(dense), rel=1e-5)


class _FixedLogits(torch.nn.Module):
    """A stand-in model whose readout gives the same logits on every token."""

    def __init__(self, logits: list[float]):
        super().__init__()
        self.logits = torch.tensor(logits)

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*h.shape[:-1], -1)


def test_every_node_loss_on_known_cases():
    """Uniform logits: -log(1/2) per graph node and logic operator, -log(2/22) per labelled person
    (either gendered word); logits favouring 'reachable' by ln 3: the mean of -log(3/4) and -log(1/4) over the
    graph's nodes as labelled by BFS."""
    from loopthink.tasks import get_task
    from loopthink.tasks.graph import reachable_nodes
    from loopthink.training.losses import every_node_loss

    graph = get_task("graph").encode(get_task("graph").generate(8, 3, (1, 4)))
    h = torch.zeros(*graph.inputs["node_mask"].shape, 4)
    assert float(every_node_loss(_FixedLogits([0.0, 0.0]), h, graph, get_task("graph"))) == pytest.approx(math.log(2))
    keep = graph.inputs["node_mask"].clone()
    keep[torch.arange(8), graph.inputs["source"]] = False
    reach = reachable_nodes(graph.inputs["adj"], graph.inputs["source"])
    per = torch.where(reach, -math.log(0.75), -math.log(0.25))
    want = ((per * keep).sum(1) / keep.sum(1)).mean()
    assert float(every_node_loss(_FixedLogits([0.0, math.log(3)]), h, graph, get_task("graph"))) == pytest.approx(float(want), rel=1e-5)

    text = get_task("text").encode(get_task("text").generate(8, 3, (1, 4)))
    h = torch.zeros(*text.inputs["tokens"].shape, 4)
    assert float(every_node_loss(_FixedLogits([0.0] * 22), h, text, get_task("text"))) == pytest.approx(math.log(11))
    logic = get_task("logic").encode(get_task("logic").generate(8, 3, (1, 4)))
    h = torch.zeros(*logic.inputs["tokens"].shape, 4)
    assert float(every_node_loss(_FixedLogits([0.0, 0.0]), h, logic, get_task("logic"))) == pytest.approx(math.log(2))


def test_text_config_trains_and_reloads(tmp_path):
    """configs/text.yaml (relation mask, update dropout, truncated long rollouts, weight average, weight
    decay 0.7, noise sentences) trains end to end and saves and reloads to the same predictions."""
    from loopthink.config import load_config

    small = ["train.iters=3", "train.batch_size=8", "train.eval_every=3", "train.eval_n=8", "train.threads=1"]
    cfg = load_config(CONFIGS / "text.yaml", small)
    assert cfg.model.relation_mask and cfg.model.update_dropout == 0.25 and cfg.train.ema == 0.99
    assert cfg.task.options["noise"] == [0, 3]
    assert cfg.train.weight_decay == 0.7
    assert (cfg.train.steps.max, cfg.train.steps.bptt) == (14, 10)
    train(cfg, tmp_path / "run", progress=False)
    _, model, task = load_run(tmp_path / "run")
    model.eval()
    batch = task.encode(task.generate(4, 9, (1, 4)))
    again = load_run(tmp_path / "run")[1].eval()
    with torch.no_grad():
        assert torch.equal(model(batch.inputs, 12).logits, again(batch.inputs, 12).logits)
