"""Hostile inputs to every command: each ends in a one-line ``error:`` (or argparse's usage error)
with a non-zero exit, never a traceback or a hang, and mislabelled data never scores.

Most cases call ``cli.main`` in-process (an exception escaping it is the traceback a user would
see); the ones that used to hang run as subprocesses under a timeout. ``KINDS`` counts the cases.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopthink.cli import main
from loopthink.config import config_from_dict
from loopthink.tasks import get_task
from loopthink.training.rundir import atomic_save_tensors, write_run_config
from tests.conftest import TINY

G = {"task": "graph", "num_nodes": 4, "edges": [[0, 1], [1, 2]], "source": 0, "target": 2, "label": True, "hops": 2}
L = {"task": "logic", "expression": "not ( True and False ) or False", "label": True, "depth": 1}
T = {
    "task": "text",
    "text": "Ann is the sister of Tom. Tom's daughter is Liv.",
    "question": "How is Ann related to Liv?",
    "answer": "aunt",
    "hops": 2,
}


def line(rec: dict, **change) -> str:
    return json.dumps({**rec, **change})


# ---- bad data files (check and eval) -------------------------------------------------------------
BAD_LINES: dict[str, str | bytes] = {
    "not json": "{nope",
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "integer of 5,000 digits": '{"task": "graph", "num_nodes": ' + "9" * 5000 + "}",
    "non-UTF-8 bytes": b'\xff\xfe{"task": "graph"}',
    "NaN": '{"task": "graph", "num_nodes": NaN}',
    "array, not object": "[1, 2]",
    "no task": '{"num_nodes": 3}',
    "unknown task": '{"task": "chess"}',
    "num_nodes 10**18": line(G, num_nodes=10**18),
    "num_nodes 100,000": line(G, num_nodes=100_000),
    "too many edges": line(G, num_nodes=1024, edges=[[0, 1]] * 70_000),
    "edge out of range": line(G, edges=[[0, 9]]),
    "edge not a pair": line(G, edges=[[0, 1, 2]]),
    "bool as node id": line(G, source=True),
    "unreachable target labelled true": line(G, target=3, hops=None),
    "wrong hops": line(G, hops=1),
    "reachable target labelled false": line(G, label=False, hops=None),
    "wrong search_depth": line(G, target=3, label=False, hops=None, search_depth=7),
    "logic label wrong": line(L, label=False),
    "logic depth wrong": line(L, depth=5),
    "logic unparsable": line(L, expression="True and ( False"),
    "logic 100,000 characters": line(L, expression=" ".join(["not"] * 25_000 + ["True"])),
    "text answer wrong": line(T, answer="mother"),
    "text answer wrong gender": line(T, answer="uncle"),
    "text hops wrong": line(T, hops=3),
    "text facts do not link": line(T, question="How is Ann related to Bob?"),
    "text unknown answer": line(T, answer="cousin"),
    "line over 4 MiB": '{"task": "logic", "expression": "' + "True and " * 500_000 + 'True", "label": true}',
    "mixed tasks": line(G) + "\n" + line(L),
}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    err = capsys.readouterr().err
    return rc, err


def assert_clean_error(rc: int, err: str) -> None:
    """Non-zero exit; the message is one ``error:`` line last (after at most the command's
    started/stopped lines) or argparse's usage and ``PROG: error:`` line; no traceback."""
    assert rc not in (0, None), err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    first = next((i for i, x in enumerate(lines) if x.startswith("error:")), None)
    if first is not None:
        assert all(x.startswith("loopthink ") for x in lines[:first]), err
        # after it: only `check`'s list of further bad lines (FILE:LINE: ...) and the closing timing line
        assert all(re.match(r"(\S+:\d+: |\.\.\.$|loopthink )", x) for x in lines[first + 1 :]), err
    else:
        assert ": error: " in lines[-1] and lines[0].startswith("usage:"), err


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    """A run directory with an untrained model: enough for every command that loads a run."""
    from loopthink.model import build_model

    run = tmp_path_factory.mktemp("bad") / "run"
    cfg = config_from_dict(json.loads(json.dumps(TINY)))
    write_run_config(run, cfg)
    atomic_save_tensors(run / "model.safetensors", build_model(cfg, get_task("graph")).state_dict())
    return run


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_check_rejects_bad_lines(kind, tmp_path, capsys):
    text = BAD_LINES[kind]
    path = tmp_path / "d.jsonl"
    path.write_bytes(text + b"\n" if isinstance(text, bytes) else (text + "\n").encode())
    rc, err = run_cli(["check", path], capsys)
    assert_clean_error(rc, err)
    assert "d.jsonl:" in err  # FILE:LINE


EVAL_LINES = ["unreachable target labelled true", "wrong hops", "num_nodes 10**18", "nested 100,000 deep"]
FUZZ = {"graph": 60, "logic": 40, "bytes": 40, "report": 40}  # hypothesis examples per fuzzed test


@pytest.mark.parametrize("kind", EVAL_LINES)
def test_eval_rejects_what_check_rejects(kind, fake_run, tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text(BAD_LINES[kind] + "\n")
    rc, err = run_cli(["eval", fake_run, "--data", path, "--steps", "2"], capsys)
    assert_clean_error(rc, err)


@settings(max_examples=FUZZ["graph"], deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(list(G) + ["search_depth"]),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=5),
            lambda kids: st.lists(kids, max_size=4),
            max_leaves=12,
        ),
    )
)
def test_fuzzed_graph_records_never_crash_check(tmp_path_factory, capsys, fields):
    """Random values under the graph keys: a clean error, or a record that really is right."""
    path = tmp_path_factory.mktemp("fz") / "d.jsonl"
    path.write_text(json.dumps({"task": "graph", **fields}, allow_nan=True) + "\n")
    rc, err = run_cli(["check", path], capsys)
    if rc == 0:
        from loopthink.tasks.formats import read_jsonl

        _, (rec,) = read_jsonl(path)
        get_task("graph").verify(rec)
    else:
        assert_clean_error(rc, err)


LOGIC_TOKENS = ["True", "False", "not", "and", "or", "(", ")", "maybe", "1"]


@settings(max_examples=FUZZ["logic"], deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LOGIC_TOKENS), max_size=12), st.booleans(), st.none() | st.integers(-2, 8))
def test_fuzzed_logic_records_never_crash_check(tmp_path_factory, capsys, tokens, label, depth):
    path = tmp_path_factory.mktemp("fz") / "d.jsonl"
    path.write_text(json.dumps({"task": "logic", "expression": " ".join(tokens), "label": label, "depth": depth}) + "\n")
    rc, err = run_cli(["check", path], capsys)
    if rc == 0:  # then the label really is the expression's value (Python's evaluator, independently)
        assert eval(" ".join(tokens)) is label  # noqa: S307 - tokens are only True/False/not/and/or/()
    else:
        assert_clean_error(rc, err)


@settings(max_examples=FUZZ["bytes"], deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=64))
def test_fuzzed_bytes_never_crash_check(tmp_path_factory, capsys, data):
    path = tmp_path_factory.mktemp("fz") / "d.jsonl"
    path.write_bytes(data)
    rc, err = run_cli(["check", path], capsys)
    assert_clean_error(rc, err)  # no byte string of this size is a valid record


# ---- bad configs (train) -----------------------------------------------------------------------
def _bomb() -> str:
    rows = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "baseline:\n" + "".join(f"  {r}\n" for r in rows)


def tiny_yaml(**sections) -> str:
    data = json.loads(json.dumps(TINY))
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return yaml.safe_dump(data)


BAD_CONFIGS: dict[str, str | bytes] = {
    "binary file": bytes(range(256)) * 4,
    "alias bomb under baseline": tiny_yaml() + _bomb(),
    "not a mapping": "- 1\n- 2\n",
    "not YAML": "task: [\n",
    "unknown option": tiny_yaml(task={"options": {"num_nodez": 3}}),
    "option of the wrong type": tiny_yaml(task={"options": {"distractor_density": "lots"}}),
    "option out of range": tiny_yaml(task={"options": {"num_nodes": 10**9}}),
    "option the generator rejects": tiny_yaml(task={"options": {"num_nodes": [20, 10]}}),
    "betas above 1": tiny_yaml(train={"betas": [0.9, 1.5]}),
    "device nonsense": tiny_yaml(train={"device": "gpu0"}),
    "depth_embedding smaller than the steps": tiny_yaml(model={"depth_embedding": 2}),
    "steps.max 10**9": tiny_yaml(train={"steps": {"mode": "fixed", "max": 10**9}}),
    "eval_steps 10**9": tiny_yaml(train={"eval_steps": 10**9}),
    "eval.steps 0": tiny_yaml(eval={"steps": [0]}),
    "base absolute": "base: /etc/passwd\n",
    "base outside": "base: ../../../../etc/x.yaml\n",
    "base loop": "base: c.yaml\n",
    "base not yaml": "base: c.txt\n",
}


@pytest.mark.parametrize("kind", list(BAD_CONFIGS))
def test_train_rejects_bad_configs(kind, tmp_path, capsys):
    text = BAD_CONFIGS[kind]
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc, err = run_cli(["train", cfg, "--out", tmp_path / "run", "--no-progress"], capsys)
    assert_clean_error(rc, err)
    assert not (tmp_path / "run" / "checkpoint").exists()


BAD_OVERRIDES = ["train.iters=[", "train.iters.x=3", "noequals", "train.iters=0", "train.batch_size=-1", "task.options={a: 1}"]


@pytest.mark.parametrize("override", BAD_OVERRIDES)
def test_train_rejects_bad_overrides(override, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(tiny_yaml())
    rc, err = run_cli(["train", cfg, override, "--out", tmp_path / "run", "--no-progress"], capsys)
    assert_clean_error(rc, err)


# ---- bad flags -----------------------------------------------------------------------------------
BAD_FLAGS: dict[str, list[str]] = {
    "data --n 0": ["data", "graph", "--n", "0", "--difficulty", "1..2", "--out", "{tmp}/d.jsonl"],
    "data --n -5": ["data", "graph", "--n", "-5", "--difficulty", "1..2", "--out", "{tmp}/d.jsonl"],
    "data --n 10**12": ["data", "graph", "--n", str(10**12), "--difficulty", "1..2", "--out", "{tmp}/d.jsonl"],
    "data --seed -1": ["data", "graph", "--n", "5", "--seed", "-1", "--difficulty", "1..2", "--out", "{tmp}/d.jsonl"],
    "data graph --difficulty 0..3": ["data", "graph", "--n", "5", "--difficulty", "0..3", "--out", "{tmp}/d.jsonl"],
    "data text --difficulty 0..3": ["data", "text", "--n", "5", "--difficulty", "0..3", "--out", "{tmp}/d.jsonl"],
    "data --difficulty 5..1": ["data", "logic", "--n", "5", "--difficulty", "5..1", "--out", "{tmp}/d.jsonl"],
    "data --difficulty 1..100000": ["data", "graph", "--n", "5", "--difficulty", "1..100000", "--out", "{tmp}/d.jsonl"],
    "data bad task option": ["data", "graph", "--n", "5", "--difficulty", "1..2", "--out", "{tmp}/d.jsonl", "--num-nodes", "lots"],
    "data option the generator rejects": [
        "data",
        "logic",
        "--n",
        "5",
        "--difficulty",
        "1..2",
        "--out",
        "{tmp}/d.jsonl",
        "--side-depth",
        "-1",
    ],
    "eval --batch-size 0": ["eval", "{run}", "--data", "{good}", "--batch-size", "0"],
    "eval --batch-size -1": ["eval", "{run}", "--data", "{good}", "--batch-size", "-1"],
    "eval --steps 0": ["eval", "{run}", "--data", "{good}", "--steps", "0"],
    "eval --steps 10**9": ["eval", "{run}", "--data", "{good}", "--steps", str(10**9)],
    "eval --device cuda:7": ["eval", "{run}", "--data", "{good}", "--device", "cuda:7"],
    "eval --device nonsense": ["eval", "{run}", "--data", "{good}", "--device", "tpu"],
    "train --device cuda:7": ["train", "{cfg}", "--out", "{tmp}/r", "--device", "cuda:7", "--no-progress"],
    "eval --max-steps 0": ["eval", "{run}", "--data", "{good}", "--halt", "kl", "--max-steps", "0"],
    "frontier --threshold nan": ["frontier", "{run}", "--threshold", "nan", "--out", "{tmp}/f"],
    "frontier --threshold 7": ["frontier", "{run}", "--threshold", "7", "--out", "{tmp}/f"],
    "frontier --threshold 0": ["frontier", "{run}", "--threshold", "0", "--out", "{tmp}/f"],
    "frontier --n-per-cell 0": ["frontier", "{run}", "--n-per-cell", "0", "--out", "{tmp}/f"],
    "frontier --seed -1": ["frontier", "{run}", "--seed", "-1", "--out", "{tmp}/f"],
    "compare --n 0": ["compare", "{run}", "--n", "0", "--out", "{tmp}/c"],
    "diagnose --steps 0": ["diagnose", "{run}", "--steps", "0", "--out", "{tmp}/d"],
    "diagnose --runs -1": ["diagnose", "{run}", "--runs", "-1", "--out", "{tmp}/d"],
    "diagnose --batch-size 0": ["diagnose", "{run}", "--batch-size", "0", "--out", "{tmp}/d"],
    "halt --alpha 1.5": ["halt", "{run}", "--alpha", "1.5", "--out", "{tmp}/h"],
    "halt --threshold -1": ["halt", "{run}", "--rule", "kl", "--threshold", "-1", "--out", "{tmp}/h"],
    "halt --max-steps 10**9": ["halt", "{run}", "--max-steps", str(10**9), "--out", "{tmp}/h"],
    "halt --n 0": ["halt", "{run}", "--n", "0", "--out", "{tmp}/h"],
    "sweep --jobs 0": ["sweep", "{cfg}", "--jobs", "0", "--out", "{tmp}/s"],
    "sweep --seeds -1": ["sweep", "{cfg}", "--seeds", "-1", "--out", "{tmp}/s"],
    "unknown command": ["frobnicate"],
    "check no such file": ["check", "{tmp}/missing.jsonl"],
    "check a directory": ["check", "{tmp}"],
}


def fill(argv: list[str], **paths) -> list[str]:
    return [a.format(**paths) for a in argv]


@pytest.fixture
def paths(fake_run, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(line(G) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(tiny_yaml())
    return {"run": fake_run, "tmp": tmp_path, "good": good, "cfg": cfg}


@pytest.mark.parametrize("kind", list(BAD_FLAGS))
def test_bad_flags(kind, paths, capsys):
    rc, err = run_cli(fill(BAD_FLAGS[kind], **paths), capsys)
    assert_clean_error(rc, err)


# ---- bad output paths and run directories --------------------------------------------------------
BAD_PLACES: dict[str, list[str]] = {
    "data --out a directory": ["data", "graph", "--n", "5", "--difficulty", "1..2", "--out", "{tmp}"],
    "data --out under a file": ["data", "graph", "--n", "5", "--difficulty", "1..2", "--out", "{good}/d.jsonl"],
    "data --out unwritable": ["data", "graph", "--n", "5", "--difficulty", "1..2", "--out", "/proc/loopthink/d.jsonl"],
    "train --out a file": ["train", "{cfg}", "--out", "{good}", "--no-progress"],
    "train --out a foreign directory": ["train", "{cfg}", "--out", "{tmp}", "--no-progress"],
    "train --out unwritable": ["train", "{cfg}", "--out", "/proc/loopthink/run", "--no-progress"],
    "train --resume nothing": ["train", "{cfg}", "--out", "{tmp}/new", "--resume", "--no-progress"],
    "frontier --out a file": ["frontier", "{run}", "--steps", "1", "--difficulty", "1", "--n-per-cell", "4", "--out", "{good}"],
    "report --out a directory": ["report", "{run}", "--out", "{tmp}"],
    "report --out unwritable": ["report", "{run}", "--out", "/proc/loopthink/r.html"],
    "eval on a file": ["eval", "{good}", "--data", "{good}"],
    "eval on a plain directory": ["eval", "{tmp}", "--data", "{good}"],
    "eval on a run with garbage weights": ["eval", "{broken}", "--data", "{good}"],
    "eval on a run with a binary config": ["eval", "{binary}", "--data", "{good}"],
    "eval on a sweep pointing outside": ["eval", "{escape}", "--data", "{good}"],
    "eval on a sweep.json that is a list": ["eval", "{listsweep}", "--data", "{good}"],
}


@pytest.fixture
def places(paths, fake_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(fake_run, broken)
    (broken / "model.safetensors").write_bytes(b"\x80\x04not safetensors" * 10)
    binary = tmp_path / "binary"
    shutil.copytree(fake_run, binary)
    (binary / "config.yaml").write_bytes(bytes(range(256)))
    escape = tmp_path / "escape"
    escape.mkdir()
    (escape / "sweep.json").write_text(json.dumps({"runs": [{"dir": "../" * 12 + "etc", "grid_point": ""}]}))
    listsweep = tmp_path / "listsweep"
    listsweep.mkdir()
    (listsweep / "sweep.json").write_text("[]")
    (tmp_path / "notes.txt").write_text("mine")
    return {**paths, "broken": broken, "binary": binary, "escape": escape, "listsweep": listsweep}


@pytest.mark.parametrize("kind", list(BAD_PLACES))
def test_bad_places(kind, places, capsys):
    rc, err = run_cli(fill(BAD_PLACES[kind], **places), capsys)
    assert_clean_error(rc, err)
    assert not [p for p in places["tmp"].rglob("*.tmp")], "stray temp file"


DISK_FULL = {  # the temp file each command writes first, made a link to /dev/full (writes fail: ENOSPC)
    "data": (["data", "graph", "--n", "5", "--difficulty", "1..2", "--out", "{tmp}/full/d.jsonl"], "d.jsonl.tmp"),
    "train": (["train", "{cfg}", "--out", "{tmp}/full", "--no-progress"], "config.yaml.tmp"),
    "report": (["report", "{run}", "--out", "{tmp}/full/r.html"], "r.html.tmp"),
}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("kind", list(DISK_FULL))
def test_disk_full_is_one_line_naming_the_file(kind, paths, capsys):
    argv, tmp_name = DISK_FULL[kind]
    full = paths["tmp"] / "full"
    full.mkdir()
    (full / tmp_name).symlink_to("/dev/full")
    rc, err = run_cli(fill(argv, **paths), capsys)
    assert_clean_error(rc, err)
    assert "No space left on device" in err and str(full) in err
    assert not (full / tmp_name).exists() and not (full / tmp_name).is_symlink()


# ---- report on artefacts of unexpected types -----------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=10,
)
KEYS = {
    "frontier": ["rows", "difficulty_name", "threshold", "steps", "summary"],
    "dynamics": ["summary", "convergence", "decision_step"],
    "halting": ["rules", "summary", "max_steps"],
    "compare": ["curves", "difficulties", "runs", "steps"],
}


@settings(max_examples=FUZZ["report"], deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(sorted(KEYS)).flatmap(lambda k: st.tuples(st.just(k), st.dictionaries(st.sampled_from(KEYS[k]), JSON, max_size=4))),
    st.lists(JSON, max_size=4),
)
def test_report_survives_artefacts_of_any_type(fake_run, tmp_path_factory, artefact, metrics):
    from loopthink.report import build_report
    from loopthink.report.artefacts import ARTEFACTS

    kind, data = artefact
    work = tmp_path_factory.mktemp("rep")
    folder = work / kind
    folder.mkdir()
    (folder / ARTEFACTS[kind][0]).write_text(json.dumps(data))
    run = work / "run"
    import shutil

    shutil.copytree(fake_run, run)
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    given_dirs = {k: [str(folder)] if k == kind else None for k in KEYS}
    doc, _ = build_report([run], given_dirs["frontier"], given_dirs["compare"], given_dirs["dynamics"], given_dirs["halting"])
    assert doc.startswith("<!DOCTYPE html>")


# ---- what used to hang: subprocesses under a timeout -----------------------------------------------
HANGS = {
    "train with T = 10**9": ["train", "{cfg}", "train.steps.mode=fixed", "train.steps.max=1000000000", "--out", "{tmp}/r1"],
    "train with a YAML alias bomb": ["train", "{bomb}", "--out", "{tmp}/r2"],
    "eval with T = 10**9": ["eval", "{run}", "--data", "{good}", "--steps", "1000000000"],
}


def test_no_hang(paths, tmp_path):
    """All at once (each is an interpreter start); each must end within the timeout."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(tiny_yaml() + _bomb())
    procs = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "loopthink.cli", *fill(argv, **paths, bomb=bomb)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, argv in HANGS.items()
    }
    for kind, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"{kind}: still running after 90 s")
        assert_clean_error(proc.returncode, err)


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(monkeypatch, paths, capsys):
    import loopthink.tasks.files as files

    def boom(*a, **k):
        raise RuntimeError("deep inside\nsecond line")

    monkeypatch.setattr(files, "read_records", boom)
    rc, err = run_cli(["check", paths["good"]], capsys)
    assert rc == 1 and err.strip().splitlines() == ["error: RuntimeError: deep inside (LOOPTHINK_DEBUG=1 shows where)"]
    monkeypatch.setenv("LOOPTHINK_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["check", str(paths["good"])])


KINDS = {  # the bad inputs this file tries, by kind (hypothesis: at most FUZZ examples each)
    "data lines (check)": len(BAD_LINES),
    "data lines (eval)": len(EVAL_LINES),
    "fuzzed graph records": FUZZ["graph"],
    "fuzzed logic records": FUZZ["logic"],
    "fuzzed byte strings": FUZZ["bytes"],
    "configs": len(BAD_CONFIGS),
    "overrides": len(BAD_OVERRIDES),
    "flags": len(BAD_FLAGS),
    "output paths and run directories": len(BAD_PLACES),
    "disk full": len(DISK_FULL),
    "fuzzed report artefacts": FUZZ["report"],
    "former hangs (subprocess)": len(HANGS),
    "unexpected exception": 1,
}
