"""Export a trained run as a Hugging Face model folder (weights, config, a generated model card)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from loopthink.config import load_config
from loopthink.model.core import LoopModel
from loopthink.model.hub import RUN_CONFIG, PyTorchModelHubMixin


def export_run(run: str | Path, folder: str | Path, frontier: str | Path | None = None, push_to: str | None = None) -> Path:
    """Export a run directory as a Hugging Face model folder (``config.json``, ``model.safetensors``,
    ``README.md`` with the run's config and, when given or found at ``RUN/frontier/frontier.json``,
    its frontier; plus the run's ``config.yaml`` as ``loopthink_run.yaml``); ``push_to``: also upload
    it to this Hub repository. An existing ``README.md`` in ``folder`` is kept, as the mixin does."""
    if PyTorchModelHubMixin is None:
        raise ImportError("exporting needs huggingface_hub: pip install 'loopthink[hub]'")
    run, folder = Path(run), Path(folder)
    model = LoopModel.from_pretrained(run)
    found = Path(frontier) if frontier else run / "frontier"
    found = found / "frontier.json" if found.is_dir() else found
    if frontier and not found.is_file():
        raise FileNotFoundError(f"{found}: no frontier.json")
    card = {"run_config": load_config(run / "config.yaml"), "frontier": json.loads(found.read_text()) if found.is_file() else None}
    model.save_pretrained(folder, model_card_kwargs=card)
    shutil.copyfile(run / "config.yaml", folder / RUN_CONFIG)
    if push_to:  # the folder as written, run config included (push_to_hub would re-save without it)
        from huggingface_hub import HfApi

        api = HfApi()
        api.upload_folder(repo_id=api.create_repo(push_to, exist_ok=True).repo_id, folder_path=str(folder))
    return folder
