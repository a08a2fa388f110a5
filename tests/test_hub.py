"""Hugging Face integration, offline: a run directory and an exported folder load into a
LoopModel with identical logits; the model card states config, data and frontier; push_to_hub
uploads the saved files (the Hub API is replaced by a recorder: nothing touches the network)."""

import json

import pytest
import torch

from loopthink import LoopModel, load_run
from loopthink.cli import main

hub = pytest.importorskip("huggingface_hub")
from loopthink.model.export import export_run  # noqa: E402
from loopthink.model.hub import RUN_CONFIG  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)


def _logits(model, task, seed=3):
    batch = task.encode(task.generate(64, seed, (1, 6)))
    return model(batch.inputs, 6).logits


def test_run_directory_and_export_roundtrip_with_identical_logits(tmp_path, tiny_graph_run, capsys):
    _, reference, task = load_run(tiny_graph_run)
    from_run = LoopModel.from_pretrained(tiny_graph_run)
    assert not from_run.training and torch.equal(_logits(from_run, task), _logits(reference, task))
    assert (
        main(
            [
                "frontier",
                str(tiny_graph_run),
                "--steps",
                "2,4,8",
                "--difficulty",
                "1..4",
                "--n-per-cell",
                "32",
                "--out",
                str(tmp_path / "fr"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    folder = export_run(tiny_graph_run, tmp_path / "export", frontier=tmp_path / "fr")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "README.md", RUN_CONFIG}
    exported = LoopModel.from_pretrained(folder)
    assert torch.equal(_logits(exported, task), _logits(reference, task))
    card = (folder / "README.md").read_text()
    frontier = json.loads((tmp_path / "fr" / "frontier.json").read_text())
    for d, steps in frontier["frontier"].items():
        best = max((r for r in frontier["rows"] if str(r["difficulty"]) == d), key=lambda r: (r["accuracy"], -r["steps"]))
        assert f"| {d} | {'yes' if int(d) <= 3 else ''} | {steps or '-'} | {best['accuracy']:.3f} ({best['steps']}) |" in card
    assert "library_name: loopthink" in card and "difficulty 1..3" in card and "d_model: 32" in card


def test_save_pretrained_is_strict_and_push_to_hub_uploads_the_saved_files(tmp_path, monkeypatch):
    from loopthink import ModelConfig, get_task

    task = get_task("logic")
    model = LoopModel(ModelConfig(d_model=16, n_heads=2, d_ff=32), task.interface, task.num_classes, len(task.vocab)).eval()
    model.save_pretrained(tmp_path / "m")
    again = LoopModel.from_pretrained(tmp_path / "m")
    assert again.cfg == model.cfg and torch.equal(_logits(again, task), _logits(model, task))
    uploaded = {}

    def create_repo(self, repo_id, **kw):
        return hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kw):
        uploaded.update(repo=repo_id, files=sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()))

    monkeypatch.setattr(hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(hub.HfApi, "upload_folder", upload_folder)
    model.push_to_hub("someone/logic-loop")
    assert uploaded == {"repo": "someone/logic-loop", "files": ["README.md", "config.json", "model.safetensors"]}
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tmp_path / "m" / "model.safetensors"))
    weights.pop("head.weight")
    save_file(weights, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(RuntimeError, match="head.weight"):  # the mixin's own default would load it silently
        LoopModel.from_pretrained(tmp_path / "m")
