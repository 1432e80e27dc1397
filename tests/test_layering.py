"""Imports point one way: each part of nrep may use only the parts below it.

The parts are the packages of ``core/`` (systems, energy, modes, optim, engine, methods,
run, io, report, reparam), its plain modules (errors, metrics, runtime), ``configs`` and
``cli``. Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are
not counted. A new package needs a line in ALLOWED, which is the map of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"core": "nrep.core", "configs": "nrep.configs", "cli": "nrep.cli"}

BASE = {"errors"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "runtime": BASE,
    "io": BASE,                                           # files, run directories, caches, structure file names
    "configs": BASE | {"io"},                             # the schema names run folders after structure files
    "systems": BASE | {"io", "configs", "runtime"},       # what is minimised; every OpenMM context
    "energy": BASE | {"systems", "configs", "runtime"},   # an energy is built for a system, from its config
    "metrics": BASE | {"energy"},
    "modes": BASE | {"energy", "io"},
    "reparam": BASE,                                      # X = f(Z): plain torch modules
    "optim": BASE | {"configs"},
    "engine": BASE | {"optim", "reparam"},                # no config class, file or system type
    "methods": BASE | {"configs", "engine", "optim", "modes", "reparam", "io", "runtime", "systems", "energy"},
    "report": BASE | {"io"},                              # reads finished runs: nothing of how they ran
    "run": BASE | {"configs", "energy", "engine", "io", "methods", "metrics", "modes", "optim", "reparam", "report",
                   "runtime", "systems"},
    "cli": BASE | {"configs", "io", "methods", "report", "run", "systems", "runtime"},
}


def part_of(module: str) -> str:
    """``nrep.core.engine.stages`` -> ``engine``; ``nrep.core.errors`` -> ``errors``; ``nrep.cli.main`` -> ``cli``."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["nrep", "core"] and len(parts) > 2 else parts[1]


def imports_of(path: Path, module: str) -> set[str]:
    """The nrep modules ``path`` imports at run time (function-level imports too; TYPE_CHECKING blocks not)."""
    tree = ast.parse(path.read_text())
    type_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                 and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                 for sub in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.rsplit(".", node.level)[0]
            found.add(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nrep."):
            found |= {f"{node.module}.{a.name}" for a in node.names} if node.module in ("nrep.core", "nrep") else {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nrep.")}
    return found


def violations(edges: set[tuple[str, str, str]]) -> list[str]:
    """(importing part, imported part, module) edges that ALLOWED does not permit, as text."""
    found = []
    for part, imported, module in sorted(edges):
        if part not in ALLOWED:
            found.append(f"{module}: part {part!r} is not in ALLOWED (place it in the map)")
        elif imported != part and imported not in ALLOWED[part]:
            found.append(f"{module} ({part}) imports {imported}")
    return found


def all_edges() -> set[tuple[str, str, str]]:
    edges = set()
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*.py"):
            module = ".".join([package, *path.relative_to(ROOT / folder).with_suffix("").parts])
            for imported in imports_of(path, module):
                edges.add((part_of(module), part_of(imported), module))
    return edges


def test_imports_follow_the_layers():
    assert violations(all_edges()) == []


def test_the_map_has_no_cycles():
    seen: dict[str, int] = {}

    def depth(part: str, path: tuple[str, ...] = ()) -> int:
        assert part not in path, f"cycle: {' -> '.join((*path, part))}"
        if part not in seen:
            seen[part] = 1 + max((depth(p, (*path, part)) for p in ALLOWED[part]), default=0)
        return seen[part]

    for part in ALLOWED:
        depth(part)


@pytest.mark.parametrize("edge, expected", [
    (("engine", "configs", "nrep.core.engine.stages"), "nrep.core.engine.stages (engine) imports configs"),
    (("report", "run", "nrep.core.report.table"), "nrep.core.report.table (report) imports run"),
    (("newpart", "errors", "nrep.core.newpart.x"), "part 'newpart' is not in ALLOWED"),
])
def test_a_wrong_import_is_caught(edge, expected):
    [found] = violations({edge})
    assert expected in found


def test_every_part_of_core_is_on_the_map():
    parts = {p.name for p in (ROOT / "core").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__"}
    assert parts <= set(ALLOWED)
