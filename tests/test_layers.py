"""The layers contract: data flows one way, tasks -> model -> training -> analysis -> plots/report ->
commands -> the entry points, and nothing imports upward or in a circle.

Every import in every module under src/loopthink counts, the ones inside functions too (hiding an
import in a function does not make the dependency go away). A new module fails here until it is
placed in :data:`LAYERS` (docs/architecture.md draws the same picture).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "loopthink"

# Lowest first; a module may import its own layer and the layers before it. The most specific
# prefix names a module's layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("loopthink.version", "loopthink.atomic")),
    ("tasks", ("loopthink.tasks",)),
    ("model config", ("loopthink.model.config",)),  # beside the model, below the run config that composes it
    ("config", ("loopthink.config",)),
    ("model", ("loopthink.model",)),
    ("training", ("loopthink.training", "loopthink.api")),
    ("sweeps", ("loopthink.sweeps",)),
    ("analysis", ("loopthink.analysis",)),
    ("plots", ("loopthink.plots",)),
    ("report", ("loopthink.report",)),
    ("commands", ("loopthink.commands",)),
    ("entry", ("loopthink.cli", "loopthink.demo", "loopthink")),
]
# The only modules that may parse arguments.
ARGPARSE_ALLOWED = ("loopthink.commands", "loopthink.cli", "loopthink.demo")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def where(module: str) -> str:
    path = MODULES[module]
    return str(path.relative_to(SRC)) if path.is_relative_to(SRC) else str(path)


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), i)
    return None if best is None else best[1]


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a loopthink module, at any depth of the file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:  # `from pkg import submodule` depends on the submodule
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if sub in MODULES else base))
    return [(line, m) for line, m in found if m == "loopthink" or m.startswith("loopthink.")]


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if layer_of(m) is None]
    assert not unplaced, f"place these modules in tests/test_layers.py LAYERS (and docs/architecture.md): {unplaced}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module):
    mine = layer_of(module)
    upward = []
    for line, target in imports_of(module):
        theirs = layer_of(target)
        if mine is not None and theirs is not None and theirs > mine:
            upward.append(f"{where(module)}:{line} imports {target} ({LAYERS[theirs][0]} is above {LAYERS[mine][0]})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = {m: sorted({t for _, t in imports_of(m) if t in MODULES and t != m}) for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                return path[path.index(t) :] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        state[m] = 2
        path.pop()
        return None

    for m in graph:
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_only_the_command_line_parses_arguments():
    offenders = [
        f"{where(m)}:{line}"
        for m in MODULES
        if not any(m == a or m.startswith(a + ".") for a in ARGPARSE_ALLOWED)
        for node in ast.walk(ast.parse(MODULES[m].read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for line in [node.lineno]
        if (isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "argparse")
    ]
    assert not offenders, f"argparse outside loopthink.commands / cli / demo: {offenders}"


def test_the_contract_catches_an_upward_import(tmp_path):
    """The checker itself: an analysis module importing the command line is reported."""
    assert layer_of("loopthink.analysis.frontier") < layer_of("loopthink.commands.frontier")
    assert layer_of("loopthink.tasks.graph") == 1 and layer_of("loopthink") == len(LAYERS) - 1
    fake = "loopthink.analysis._fake_upward"
    MODULES[fake] = tmp_path / "_fake_upward.py"
    MODULES[fake].write_text("def f():\n    from loopthink.commands.argtypes import parse_range\n")
    try:
        assert imports_of(fake) == [(2, "loopthink.commands.argtypes")]
        with pytest.raises(AssertionError, match="commands is above analysis"):
            test_imports_only_go_down(fake)
    finally:
        del MODULES[fake]
