"""Training on a file of one's own (task.train_data / task.val_data): JSONL, Parquet, saved datasets."""

import json

import numpy as np
import pytest
import yaml

from loopthink.cli import main
from loopthink.config import ConfigError
from loopthink.tasks import DataError, get_task
from loopthink.tasks.files import read_records, write_records
from loopthink.tasks.formats import write_jsonl
from loopthink.training.data import FileData, epoch_order
from loopthink.training.loop import train
from tests.conftest import TINY, tiny_config
from tests.test_train import metrics


def _same_records(written: list[dict], read: list[dict]) -> bool:
    """Equal, except that a column format gives a record a null for a key only other records have."""
    return all({k: v for k, v in b.items() if k in a or v is not None} == a for a, b in zip(written, read)) and len(written) == len(read)


@pytest.mark.parametrize("task", ["graph", "logic", "text"])
def test_parquet_and_saved_dataset_roundtrip(tmp_path, task):
    pytest.importorskip("pyarrow")
    records = get_task(task).generate(40, 5, (1, 3))
    write_records(tmp_path / "d.parquet", records)
    name, back = read_records(tmp_path / "d.parquet")
    assert name == task and _same_records(records, back)
    t = get_task(task)
    a, b = t.encode(records), t.encode(back)
    assert all(a.inputs[k].equal(b.inputs[k]) for k in a.inputs) and a.labels.equal(b.labels)
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "saved"))
    name, back = read_records(tmp_path / "saved")
    assert name == task and _same_records(records, back)


def test_bad_rows_are_named(tmp_path):
    pytest.importorskip("pyarrow")
    records = get_task("logic").generate(5, 0, (1, 2))
    records[3] = dict(records[3], expression="True and (")
    write_records(tmp_path / "bad.parquet", records)
    with pytest.raises(DataError, match=r"bad\.parquet:4: .*expression"):
        read_records(tmp_path / "bad.parquet")
    (tmp_path / "notdata").mkdir()
    with pytest.raises(DataError, match="save_to_disk"):
        read_records(tmp_path / "notdata")


def test_file_order_is_seeded_and_each_epoch_sees_every_record_once():
    task = get_task("logic")
    records = task.generate(50, 1, (1, 2))
    data = FileData(task, records, batch_size=8, seed=3)
    stream = np.concatenate([data.indices(it) for it in range(25)])  # 200 positions = 4 epochs of 50
    for e in range(4):
        assert sorted(stream[50 * e : 50 * (e + 1)]) == list(range(50))
        assert stream[50 * e : 50 * (e + 1)].tolist() == epoch_order(3, e, 50).tolist()
    assert stream[:50].tolist() != stream[50:100].tolist()  # a fresh order each epoch
    assert FileData(task, records, 8, seed=4).indices(0).tolist() != data.indices(0).tolist()
    assert data.iters_for(1) == 7 and data.iters_for(2.5) == 16  # ceil(50 / 8), ceil(125 / 8)
    ranks = FileData(task, records, 5, seed=3, world=2)  # torchrun: ranks read disjoint parts of an epoch
    both = np.concatenate([ranks.indices(it, r) for it in range(5) for r in range(2)])
    assert sorted(both) == list(range(50))


def _file_config(tmp_path, **train):
    task = get_task("graph")
    write_jsonl(tmp_path / "train.jsonl", task.generate(300, 11, (1, 3)))
    write_jsonl(tmp_path / "val.jsonl", task.generate(60, 12, (1, 4)))
    files = {
        "name": "graph",
        "train_difficulty": [1, 3],
        "train_data": str(tmp_path / "train.jsonl"),
        "val_data": str(tmp_path / "val.jsonl"),
    }
    return tiny_config(task=files, train={"checkpoint_every": 10, "eval_every": 10, "log_every": 5, "threads": 1, **train})


def test_resume_on_file_data_reproduces_an_uninterrupted_run(tmp_path):
    """As for generated data; the uninterrupted run reads its batches in a worker process, the
    resumed one in the background thread: the same batches either way."""
    cfg = _file_config(tmp_path, iters=20)
    train(cfg.model_copy(update={"train": cfg.train.model_copy(update={"data_workers": 1})}), tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, stop_at=10)
    train(cfg, tmp_path / "part", resume=True, progress=False)
    full = metrics(tmp_path / "full")
    assert full == metrics(tmp_path / "part")
    val = [r["val"] for r in full if "val" in r]
    assert len(val) == 2 and set(val[-1]) == {"1", "2", "3", "4"}  # the val file's difficulties, not train_difficulty


def test_epochs_set_the_iterations(tmp_path):
    cfg = _file_config(tmp_path, epochs=2, batch_size=64)  # ceil(2 * 300 / 64) = 10
    train(cfg, tmp_path / "run", progress=False)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["iters"] == 10
    assert [r["iter"] for r in metrics(tmp_path / "run") if "loss" in r][-1] == 10


def test_file_data_errors_come_before_training(tmp_path):
    good = get_task("graph").generate(3, 0, (1, 2))
    (tmp_path / "bad.jsonl").write_text(json.dumps(good[0]) + "\n" + json.dumps(dict(good[1], source=99)) + "\n")
    cfg = tiny_config(task={"name": "graph", "train_difficulty": [1, 3], "train_data": str(tmp_path / "bad.jsonl")})
    with pytest.raises(DataError, match=r"bad\.jsonl:2: "):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="train.epochs needs task.train_data"):
        tiny_config(train={"epochs": 1})
    with pytest.raises(ConfigError, match="curriculum"):
        tiny_config(task={"name": "graph", "train_difficulty": [1, 3], "train_data": "x.jsonl"}, train={"curriculum": 0.5})


def test_cli_writes_parquet_and_trains_on_it(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    out = tmp_path / "g.parquet"
    assert main(["data", "graph", "--n", "200", "--difficulty", "1..3", "--seed", "2", "--out", str(out)]) == 0
    assert main(["check", str(out)]) == 0 and "200 valid graph instances" in capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    args = [
        "train",
        str(tmp_path / "c.yaml"),
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
        f"task.train_data={out}",
        "train.iters=4",
        "train.eval_every=4",
        "train.threads=1",
    ]
    assert main(args) == 0
    assert [r["iter"] for r in metrics(tmp_path / "r") if "val" in r] == [4]
