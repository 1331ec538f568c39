"""No import cycles among the attestgate modules, lazy and ``TYPE_CHECKING`` imports included.

The graph is read from the source with ``ast`` (docs/architecture.md, "Import rules"):

- every import statement anywhere in a module counts: at the top, inside functions (lazy imports)
  and under ``if TYPE_CHECKING:``. A cycle hidden behind a lazy import is still a cycle: the two
  modules cannot be understood, tested or moved apart;
- relative imports are resolved against the importing module's package;
- ``import a.b.c`` and ``from a.b.c import name`` depend on ``a.b.c``; ``from a.b import c``
  depends on ``a.b.c`` when ``c`` is a submodule, else on ``a.b`` (its ``__init__``).

Not counted, because they are parent -> child relations rather than cycles:

- the implicit import of the parent packages (``import a.b.c`` runs ``a/__init__`` and
  ``a/b/__init__`` first). A package ``__init__`` that re-exports its children and a child that
  imports a sibling would otherwise always form a "cycle" through the parent;
- the package root's re-export of the SDK: ``proto/attestgate/__init__.py`` imports
  ``attestgate.sdk`` on first use of a name (PEP 562, through ``importlib``) and names it under
  ``TYPE_CHECKING`` for type checkers. Its edges to ``attestgate.sdk.*`` are left out
  (``ROOT_REEXPORT``); the root's other edges, and every edge *into* a package ``__init__``
  (``from attestgate.sdk import X``), still count.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where each package's source lives (pyproject.toml, [tool.setuptools] package-dir).
PACKAGE_DIRS = {
    "attestgate": REPO / "proto" / "attestgate",
    "attestgate.sdk": REPO / "sdk",
    "attestgate.consent": REPO / "consent",
    "attestgate.audit": REPO / "audit",
    "attestgate.gateway": REPO / "gateway",
    "attestgate.protocol": REPO / "protocol",
}
ROOT_REEXPORT = ("attestgate", "attestgate.sdk")

Graph = dict[str, set[str]]


def _module_files() -> dict[str, Path]:
    """Module name -> file, for every module of every attestgate package."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder)
            if package == "attestgate" and relative.parts[0] in {
                p.removeprefix("attestgate.") for p in PACKAGE_DIRS if p != "attestgate"
            }:
                continue  # the symlinks under proto/attestgate: the same files, mapped above
            parts = [package, *relative.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The attestgate modules one import statement depends on."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{anchor}.{base}" if base else anchor
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield submodule if submodule in known else base


@functools.cache
def import_graph() -> Graph:
    """Module -> the attestgate modules it imports (statements anywhere in the module); read once,
    do not change the result."""
    files = _module_files()
    known = set(files)
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        targets = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, module, is_package, known)
            if target in known and target != module
        }
        if module == ROOT_REEXPORT[0]:
            targets = {t for t in targets if not _within(t, ROOT_REEXPORT[1])}
        graph[module] = targets
    return graph


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_every_package_and_every_kind_of_import() -> None:
    graph = import_graph()
    for package in PACKAGE_DIRS:
        assert package in graph, package
    assert "attestgate.v1.consent_pb2" in graph
    assert "attestgate.gateway.ops.cli" in graph
    assert not [m for m in graph if ".attestgate." in m or m.startswith("attestgate.attestgate")]
    # A lazy import, a TYPE_CHECKING import and a relative one, each found.
    lazy = ast.parse("def f() -> None:\n    from attestgate.audit import tree\n")
    guarded = ast.parse("if TYPE_CHECKING:\n    from .. import events\n")
    known = {"attestgate.audit.tree", "attestgate.audit.events"}
    found = {
        t
        for tree, module in ((lazy, "attestgate.consent.x"), (guarded, "attestgate.audit.sub.y"))
        for node in ast.walk(tree)
        for t in _imported(node, module, False, known)
    }
    assert found == known


def test_find_cycle_reports_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
