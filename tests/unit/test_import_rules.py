"""Which package may import which (docs/architecture.md), read from the source with ``ast``.

- Everything imports as ``attestgate.*``: no module imports the folder names ``sdk``, ``gateway``,
  ``consent`` or ``audit`` as top-level packages (they are not installed under those names).
- The protocol kernel (``attestgate.protocol``) imports no other attestgate package and no grpc.
- The SDK imports no server package (``attestgate.gateway``, ``attestgate.consent``,
  ``attestgate.audit``): a bank installs it without the server.
- ``attestgate.consent`` and ``attestgate.audit`` import neither grpc, nor the gateway, nor the
  SDK: what they share with it (reasons, Merkle proofs, signed notes, ...) is in the kernel.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("protocol", "sdk", "consent", "audit", "gateway", "bench", "tests", "examples")
OLD_TOP_LEVEL = {"sdk", "gateway", "consent", "audit", "protocol"}
CORES = ("consent", "audit")


def _python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _imports_of(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(REPO)): set(_imports(p)) for p in _python_files(folder)}


@pytest.mark.parametrize("folder", SOURCE_DIRS)
def test_everything_imports_the_attestgate_namespace(folder: str) -> None:
    assert _python_files(folder) or folder == "examples"
    stale = {
        path: sorted(m for m in modules if m.split(".")[0] in OLD_TOP_LEVEL)
        for path, modules in _imports_of(folder).items()
    }
    assert {path: found for path, found in stale.items() if found} == {}


def test_the_protocol_kernel_imports_nothing_of_attestgate_and_no_grpc() -> None:
    found = {
        path: sorted(
            m for m in modules
            if m.split(".")[0] in {"grpc", "grpc_status", "google"}
            or (m.startswith("attestgate.") and not m.startswith("attestgate.protocol"))
        )
        for path, modules in _imports_of("protocol").items()
    }  # fmt: skip
    assert found, "the kernel has modules"
    assert {path: bad for path, bad in found.items() if bad} == {}


def test_the_sdk_imports_no_server_package() -> None:
    server = ("attestgate.gateway", "attestgate.consent", "attestgate.audit")
    found = {
        path: sorted(m for m in modules if m.startswith(server))
        for path, modules in _imports_of("sdk").items()
    }
    assert {path: bad for path, bad in found.items() if bad} == {}


@pytest.mark.parametrize("core", CORES)
def test_the_cores_import_no_grpc_no_gateway_and_no_sdk(core: str) -> None:
    imports = _imports_of(core)
    assert imports, core
    everything = set().union(*imports.values())
    assert not {m for m in everything if m.split(".")[0] in {"grpc", "grpc_status"}}
    assert not {m for m in everything if m.startswith("attestgate.gateway")}
    assert not {m for m in everything if m == "attestgate.sdk" or m.startswith("attestgate.sdk.")}
