"""docs/architecture.md stays true: the names it writes exist, and the gateway's layers hold.

- Every ``attestgate.*`` name in backticks imports (a module, or an attribute of one).
- The table "The gateway's layers today" lists every module of ``attestgate.gateway`` exactly once
  and nothing else.
- The layer rules stated on that page hold in the import graph (``test_import_cycles.import_graph``:
  every import statement, lazy and ``TYPE_CHECKING`` ones included).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.unit.test_import_cycles import PACKAGE_DIRS, import_graph

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
GATEWAY = "attestgate.gateway"
TABLE_HEADING = "## The gateway's layers today"
WEB = {"starlette", "uvicorn", "jinja2"}
GRPC = {"grpc", "grpc_status", "grpc_health", "grpc_reflection"}


def _doc() -> str:
    return DOC.read_text()


def _layers() -> dict[str, list[str]]:
    """Layer -> its modules (full names), from the doc's table."""
    section = _doc().split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    layers: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in {"layer", ""} or set(cells[0]) <= {"-"}:
            continue
        layers[cells[0]] = [f"{GATEWAY}.{name}" for name in re.findall(r"`([\w.]+)`", cells[1])]
    return layers


def _module_of(layers: dict[str, list[str]]) -> dict[str, str]:
    return {module: layer for layer, modules in layers.items() for module in modules}


def _third_party(module: str) -> set[str]:
    """Top-level names of what ``module`` imports that are not attestgate."""
    folder = PACKAGE_DIRS[GATEWAY]
    relative = module.removeprefix(GATEWAY).lstrip(".").replace(".", "/")
    path = folder / f"{relative}.py"
    if not path.exists():
        path = folder / relative / "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - {"attestgate"}


def test_every_attestgate_name_in_the_doc_imports() -> None:
    names = sorted(set(re.findall(r"`(attestgate(?:\.\w+)+)", _doc())))
    assert len(names) > 20
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            parent, _, attribute = name.rpartition(".")
            try:
                if not hasattr(importlib.import_module(parent), attribute):
                    missing.append(name)
            except ModuleNotFoundError:
                missing.append(name)
    assert missing == []


def test_the_layer_table_lists_every_gateway_module_once() -> None:
    layers = _layers()
    assert {"use cases", "gRPC transport", "portal (HTTP)", "persistence"} <= set(layers)
    listed = [module for modules in layers.values() for module in modules]
    assert sorted(m for m in set(listed) if listed.count(m) > 1) == []
    actual = {m for m in import_graph() if m.startswith(GATEWAY + ".")}
    assert {"only in the doc": sorted(set(listed) - actual)} == {"only in the doc": []}
    assert {"not in the doc": sorted(actual - set(listed))} == {"not in the doc": []}


# layer -> (layers it must not import, third-party packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "use cases": (
        {"gRPC transport", "portal (HTTP)", "demo", "composition root", "operations"},
        GRPC | WEB,
    ),
    "portal (HTTP)": ({"gRPC transport", "demo", "composition root"}, GRPC),
    "gRPC transport": ({"portal (HTTP)", "demo", "composition root"}, WEB),
    "persistence": (
        {"use cases", "gRPC transport", "portal (HTTP)", "demo", "composition root", "operations"},
        GRPC | WEB,
    ),
}
# What the use cases still read from the operations layer: the configuration values.
ALLOWED = {("use cases", f"{GATEWAY}.config"), ("persistence", f"{GATEWAY}.config")}


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_rules(layer: str) -> None:
    layers = _layers()
    layer_of = _module_of(layers)
    graph = import_graph()
    banned_layers, banned_packages = RULES[layer]
    found = {}
    for module in layers[layer]:
        bad = sorted(
            target
            for target in graph[module]
            if layer_of.get(target) in banned_layers and (layer, target) not in ALLOWED
        )
        bad += sorted(_third_party(module) & banned_packages)
        if layer == "use cases":
            bad += sorted(t for t in graph[module] if t.startswith("attestgate.v1"))
        if bad:
            found[module] = bad
    assert found == {}


def test_only_the_root_and_the_cli_import_the_grpc_server_module() -> None:
    importers = {m for m, targets in import_graph().items() if f"{GATEWAY}.server" in targets}
    assert importers <= {f"{GATEWAY}.app", f"{GATEWAY}.cli"}, importers
