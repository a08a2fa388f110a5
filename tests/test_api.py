"""The Python API: light import, the documented names, the docs' own training-loop example, and
a deterministic eval-mode forward."""

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import torch

import loopthink
from tests.conftest import TINY

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_import_is_light_and_every_name_resolves():
    code = "import sys, loopthink; assert 'torch' not in sys.modules, 'import loopthink imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in loopthink.__all__:
        assert getattr(loopthink, name) is not None, name
    assert loopthink.LoopModel.__name__ == "LoopModel" and callable(loopthink.train_run)


def test_the_docs_training_loop_example_runs_and_learns():
    block = re.search(r"## The model in your own training loop\n\n```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    torch.manual_seed(0)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(DOCS), "exec"), {})
    acc = float(printed.getvalue().split(":")[-1])
    assert acc >= 0.9, printed.getvalue()  # 4 hops after training on 1..3: chance is 0.5


def test_eval_mode_forward_is_deterministic_without_a_generator():
    task = loopthink.get_task("graph")
    model = loopthink.LoopModel(loopthink.ModelConfig(d_model=16, n_heads=2, d_ff=32, init_scale=1.0), task.interface, task.num_classes)
    batch = task.encode(task.generate(8, 0, (1, 3)))
    train_a, train_b = model(batch.inputs, 3).final_state, model(batch.inputs, 3).final_state
    assert not torch.equal(train_a, train_b)  # training mode: fresh random h0 each call
    model.eval()
    a, b = model(batch.inputs, 3), model(batch.inputs, 3)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.final_state, b.final_state)
    other = model(batch.inputs, 3, generator=torch.Generator().manual_seed(5)).final_state
    assert not torch.equal(a.final_state, other)  # a generator still chooses the noise


def test_train_run_load_run_and_evaluate(tmp_path):
    cfg = {**TINY, "train": {**TINY["train"], "threads": 1}}
    result = loopthink.train_run(cfg, tmp_path / "run", ["train.iters=6", "train.eval_every=6"], progress=False)
    assert result["iter"] == 6 and set(result["val"]) == {"1", "2", "3"}
    run_cfg, model, task = loopthink.load_run(tmp_path / "run")
    assert run_cfg.train.iters == 6 and isinstance(model, loopthink.LoopModel)
    acc = loopthink.evaluate_records(model, task, task.generate(20, 3, (1, 2)), [2, 4])
    assert acc["n"] == 20 and set(acc["steps"]) == {"2", "4"}
