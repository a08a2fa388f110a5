import pytest
import yaml

from loopthink.config import ConfigError, config_from_dict, load_config, parse_overrides

BASE = {"task": {"name": "graph", "train_difficulty": [1, 8]}}


def test_shipped_configs_load(tmp_path):
    from pathlib import Path

    for path in sorted(Path("configs").rglob("*.yaml")):
        cfg = load_config(path)
        assert cfg.task.name in {"graph", "logic", "text", "prefix_sums", "addition", "maze"}


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"model\.d_modle: unknown key"):
        config_from_dict({**BASE, "model": {"d_modle": 3}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"train\.iters"):
        config_from_dict({**BASE, "train": {"iters": "many"}})


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="divisible"):
        config_from_dict({**BASE, "model": {"d_model": 30, "n_heads": 4}})
    with pytest.raises(ConfigError, match=r"train\.steps"):
        config_from_dict({**BASE, "train": {"steps": {"min": 9, "max": 3}}})
    with pytest.raises(ConfigError, match=r"task\.train_difficulty"):
        config_from_dict({"task": {"name": "graph", "train_difficulty": [5, 2]}})
    with pytest.raises(ConfigError, match=r"task\.name"):
        config_from_dict({"task": {"name": "chess", "train_difficulty": [1, 2]}})


def test_unknown_task_option_is_named():
    with pytest.raises(ConfigError, match="unknown option 'no_such_knob'"):
        config_from_dict({"task": {**BASE["task"], "options": {"no_such_knob": 1}}})


def test_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("task: {name: graph, train_difficulty: [1, 4]}\n")
    cfg = load_config(p, ["model.d_model=32", "train.steps.max=5", "train.steps.bptt=null"])
    assert cfg.model.d_model == 32 and cfg.train.steps.max == 5 and cfg.train.steps.bptt is None
    assert parse_overrides(["a.b=[1, 2]"]) == {"a": {"b": [1, 2]}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["model.d_model"])


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_base_inheritance(tmp_path):
    (tmp_path / "a.yaml").write_text("task: {name: graph, train_difficulty: [1, 4]}\nmodel: {d_model: 32, n_heads: 2}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nmodel: {gate: false}\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert cfg.model.d_model == 32 and cfg.model.gate is False and cfg.task.train_difficulty == (1, 4)
    (tmp_path / "c.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "c.yaml")


def test_a_run_config_written_with_retired_keys_still_loads_at_their_builtin_value():
    from loopthink.config import RETIRED, dump_config

    cfg = config_from_dict({"task": {"name": "graph", "train_difficulty": [1, 3]}})
    old = yaml.safe_load(dump_config(cfg))
    old["train"].update(betas=[0.9, 0.98], eval_steps=None)
    old["train"]["steps"]["sigma"] = 0.5
    old["model"].update(latch=False, readout_feedback="off")  # retired probes, at the off value every run had
    old["train"]["idle_prefix"] = 0
    assert config_from_dict(old) == cfg and len(RETIRED) == 14
    old["model"]["latch"] = True
    with pytest.raises(ConfigError, match=r"model\.latch: no longer a setting"):
        config_from_dict(old)
    old["model"]["latch"] = False
    old["train"]["betas"] = [0.9, 0.999]
    with pytest.raises(ConfigError, match=r"train\.betas: no longer a setting \(fixed at \[0\.9, 0\.98\]\)"):
        config_from_dict(old)


def test_every_config_key_is_documented():
    from pydantic import BaseModel

    from loopthink.config import RunConfig

    def undocumented(cls: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for name, field in cls.model_fields.items():
            if not field.description:
                out.append(prefix + name)
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += undocumented(sub, f"{prefix}{name}.")
        return out

    assert undocumented(RunConfig, "") == []
