"""docs/architecture.md stays true: the names it writes exist, and the gateway's layers hold.

- Every ``attestgate.*`` name in backticks imports (a module, or an attribute of one).
- The table "The gateway's layers" puts every module of ``attestgate.gateway`` in exactly one layer
  (a row names subpackages and top-level modules; a module belongs to the row naming it or its
  package), and every name in it exists.
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
TABLE_HEADING = "## The gateway's layers"
WEB = {"starlette", "uvicorn", "jinja2"}
GRPC = {"grpc", "grpc_status", "grpc_health", "grpc_reflection"}


def _doc() -> str:
    return DOC.read_text()


def _rows() -> dict[str, list[str]]:
    """Layer -> the packages and modules its row names (full names), from the doc's table."""
    section = _doc().split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    layers: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in {"layer", ""} or set(cells[0]) <= {"-"}:
            continue
        layers[cells[0]] = [f"{GATEWAY}.{name}" for name in re.findall(r"`([\w.]+)`", cells[1])]
    return layers


def _gateway_modules() -> set[str]:
    return {m for m in import_graph() if m.startswith(GATEWAY + ".")}


def _rows_of(module: str, rows: dict[str, list[str]]) -> list[str]:
    return [
        layer
        for layer, names in rows.items()
        if any(module == name or module.startswith(name + ".") for name in names)
    ]


def _layers() -> dict[str, list[str]]:
    """Layer -> every gateway module in it."""
    rows = _rows()
    layers: dict[str, list[str]] = {layer: [] for layer in rows}
    for module in sorted(_gateway_modules()):
        for layer in _rows_of(module, rows)[:1]:
            layers[layer].append(module)
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


def test_the_layer_table_puts_every_gateway_module_in_one_layer() -> None:
    rows = _rows()
    assert {"use cases", "gRPC transport", "portal (HTTP)", "persistence"} <= set(rows)
    modules = _gateway_modules()
    named = [name for names in rows.values() for name in names]
    assert {"names that are no module": sorted(set(named) - modules)} == {
        "names that are no module": []
    }
    placed = {module: _rows_of(module, rows) for module in modules}
    assert {"in no layer": sorted(m for m, ls in placed.items() if not ls)} == {"in no layer": []}
    assert {m: ls for m, ls in placed.items() if len(ls) > 1} == {}


# layer -> (layers it must not import, third-party packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "use cases": (
        {
            "gRPC transport",
            "portal (HTTP)",
            "public HTTPS",
            "demo",
            "composition root",
            "operations",
        },
        GRPC | WEB,
    ),
    "portal (HTTP)": ({"gRPC transport", "demo", "composition root"}, GRPC),
    "public HTTPS": ({"gRPC transport", "portal (HTTP)", "demo", "composition root"}, GRPC),
    "gRPC transport": ({"portal (HTTP)", "public HTTPS", "demo", "composition root"}, WEB),
    "persistence": (
        {"use cases", "gRPC transport", "portal (HTTP)", "demo", "composition root", "operations"},
        GRPC | WEB,
    ),
}
# What the use cases still read from the operations layer: the configuration values.
ALLOWED = {("use cases", f"{GATEWAY}.ops.config"), ("persistence", f"{GATEWAY}.ops.config")}


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
    server = f"{GATEWAY}.transport.server"
    importers = {m for m, targets in import_graph().items() if server in targets}
    assert importers <= {f"{GATEWAY}.app", f"{GATEWAY}.ops.cli"}, importers
