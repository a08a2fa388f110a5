"""Hugging Face Hub integration: ``LoopModel.save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.

Through ``huggingface_hub.PyTorchModelHubMixin`` (``pip install 'loopthink[hub]'``). An exported
folder holds ``config.json`` (the model's constructor arguments), ``model.safetensors`` and a model
card ``README.md``; :func:`export_run` also copies the run's ``config.yaml``. ``from_pretrained``
reads an exported folder, a Hub repository id, or a run directory made by ``loopthink train``.
Without ``huggingface_hub`` a run directory still loads; the other methods say what to install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from loopthink.config import ModelConfig, RunConfig, dump_config, load_config

try:
    from huggingface_hub import ModelCard, PyTorchModelHubMixin
except ImportError:  # the optional extra is not installed
    ModelCard = PyTorchModelHubMixin = None

RUN_CONFIG = "loopthink_run.yaml"  # the run's full config, beside the Hub files of an export
_CODERS = {ModelConfig: (lambda c: c.model_dump(mode="json"), ModelConfig.model_validate)}


def _is_run(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file() and not (path / "config.json").is_file()


def _load_run_model(cls: type, run: Path, map_location: str = "cpu") -> Any:
    """The recurrent model of a run directory, in eval mode, weights checked to match exactly."""
    from loopthink.tasks import get_task

    cfg = load_config(run / "config.yaml")
    if cfg.arch != "recurrent":
        raise ValueError(f"{run} is a {cfg.arch} baseline, not a LoopModel; load it with loopthink.load_run")
    task = get_task(cfg.task.name, **cfg.task.options)
    model = cls(cfg.model, task.interface, task.num_classes, len(task.vocab), task.per_position)
    model.load_state_dict(load_file(str(run / "model.safetensors")), strict=True)
    return model.to(map_location).eval()


if PyTorchModelHubMixin is None:

    class HubMixin:
        """Stand-in without ``huggingface_hub``: loads run directories; the rest says what to install."""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__()

        @classmethod
        def from_pretrained(cls, path: str | Path, map_location: str = "cpu", **kwargs: Any) -> Any:
            if _is_run(Path(path)):
                return _load_run_model(cls, Path(path), map_location)
            raise ImportError("loading an exported model needs huggingface_hub: pip install 'loopthink[hub]'")

        def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("save_pretrained needs huggingface_hub: pip install 'loopthink[hub]'")

        push_to_hub = save_pretrained

else:

    class HubMixin(PyTorchModelHubMixin, library_name="loopthink", tags=["loopthink", "depth-recurrent-transformer"]):  # type: ignore[no-redef]
        """``PyTorchModelHubMixin`` that also loads run directories, with strict weight loading
        and a model card that states the config, the training data and the frontier."""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            kwargs.setdefault("coders", _CODERS)  # the mixin does not inherit coders; ModelConfig needs one
            super().__init_subclass__(**kwargs)

        @classmethod
        def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> Any:
            path = Path(pretrained_model_name_or_path)
            if _is_run(path):
                return _load_run_model(cls, path, kwargs.get("map_location", "cpu"))
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

        @classmethod
        def _from_pretrained(cls, *, strict: bool = True, **kwargs: Any) -> Any:
            return super()._from_pretrained(strict=strict, **kwargs)  # the mixin's default ignores missing tensors

        def generate_model_card(self, *args: Any, run_config: RunConfig | None = None, frontier: dict | None = None, **kwargs: Any) -> Any:
            card_data = self._hub_mixin_info.model_card_data
            return ModelCard(f"---\n{card_data.to_yaml()}\n---\n" + model_card_text(self, run_config, frontier))


def model_card_text(model: Any, run_config: RunConfig | None = None, frontier: dict | None = None) -> str:
    """The model card's body (markdown): what the model is, its config, data and frontier."""
    n_params = sum(p.numel() for p in model.parameters())
    name = run_config.task.name if run_config is not None else f"{model.interface_kind}-interface"
    lines = [
        f"# loopthink depth-recurrent transformer: {name}",
        "",
        f"One shared transformer step iterated T times in latent space (loopthink), trained on the `{name}` task; "
        f"{n_params:,} parameters. The number of steps is chosen at inference: `model(inputs, steps=T)`.",
        "",
        "```python",
        "from loopthink import LoopModel",
        'model = LoopModel.from_pretrained("THIS_FOLDER_OR_REPO")',
        "```",
        "",
    ]
    if run_config is not None:
        t, tr = run_config.task, run_config.train
        source = f"the records of `{Path(t.train_data).name}`" if t.train_data else "instances generated on the fly"
        lines += [
            "## Training data",
            "",
            f"{source}, task `{t.name}`, difficulty {t.train_difficulty[0]}..{t.train_difficulty[1]}"
            + (f", options {json.dumps(t.options)}" if t.options else "")
            + f"; {tr.iters} iterations of {tr.batch_size}, {tr.steps.min}..{tr.steps.max} recurrence steps "
            f"({tr.steps.mode}), seed {tr.seed}." + (f" Validation: `{Path(t.val_data).name}`." if t.val_data else ""),
            "",
            "## Config",
            "",
            "```yaml",
            dump_config(run_config).rstrip(),
            "```",
            "",
        ]
    else:
        lines += ["## Model config", "", "```yaml", json.dumps(model.cfg.model_dump(mode="json"), indent=1), "```", ""]
    if frontier:
        lines += frontier_table(frontier)
    return "\n".join(lines) + "\n"


def frontier_table(frontier: dict) -> list[str]:
    """Markdown rows of a ``frontier.json``: per difficulty, the smallest steps reaching the
    threshold and the best accuracy."""
    name, threshold = frontier.get("difficulty_name", "difficulty"), frontier.get("threshold", 0.95)
    lo, hi = frontier.get("train_difficulty", (None, None))
    out = [
        "## Frontier",
        "",
        f"Accuracy over recurrence steps x {name} (`loopthink frontier`, seed {frontier.get('seed')}, "
        f"{frontier['rows'][0]['n']} instances per cell).",
        "",
        f"| {name} | trained | smallest steps reaching {threshold:.0%} | best accuracy (steps) |",
        "|---|---|---|---|",
    ]
    for d, steps in frontier["frontier"].items():
        cells = [r for r in frontier["rows"] if str(r["difficulty"]) == d]
        best = max(cells, key=lambda r: (r["accuracy"], -r["steps"]))
        trained = "yes" if lo is not None and lo <= int(d) <= hi else ""
        out.append(f"| {d} | {trained} | {steps if steps else '-'} | {best['accuracy']:.3f} ({best['steps']}) |")
    return out + [""]
