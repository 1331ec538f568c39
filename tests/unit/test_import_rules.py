"""Which package may import which (docs/architecture.md), read from the source with ``ast``.

- Everything imports as ``attestgate.*``: no module imports the folder names ``sdk``, ``gateway``,
  ``consent`` or ``audit`` as top-level packages (they are not installed under those names).
- The protocol kernel (``attestgate.protocol``) imports no other attestgate package and no grpc.
- The SDK imports no server package (``attestgate.gateway``, ``attestgate.consent``,
  ``attestgate.audit``): a bank installs it without the server.
- ``attestgate.consent`` and ``attestgate.audit`` import neither grpc, nor the gateway, nor the
  SDK: what they share with it (reasons, Merkle proofs, signed notes, ...) is in the kernel.
- What ``pip install attestgate`` (no extras) must run: the SDK, the kernel, the package root
  and ``attestgate.v1`` (generated code included) import only the standard library and the four
  base dependencies (grpc, google.protobuf, cryptography); ``test_packaging`` checks that
  the wheel requires exactly those.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("protocol", "sdk", "consent", "audit", "gateway", "bench", "tests", "examples")
OLD_TOP_LEVEL = {"sdk", "gateway", "consent", "audit", "protocol"}
CORES = ("consent", "audit")
BASE_INSTALL = ("sdk", "protocol", "proto/attestgate/v1")
BASE_ROOT = ("proto/attestgate/__init__.py", "proto/attestgate/errors.py")
BASE_DEPENDENCIES = ("grpc", "google.protobuf", "cryptography")
BASE_PACKAGES = ("attestgate.sdk", "attestgate.protocol", "attestgate.v1")


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


def _outside_the_base_install(module: str) -> bool:
    def within(prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    if module.partition(".")[0] in sys.stdlib_module_names:
        return False
    return not within(BASE_DEPENDENCIES + BASE_PACKAGES) and module not in {
        "attestgate",
        "attestgate.errors",
    }


def test_the_base_install_imports_only_the_stdlib_and_its_four_dependencies() -> None:
    imports = {path: set(_imports(REPO / path)) for path in BASE_ROOT}
    for folder in BASE_INSTALL:
        imports.update(_imports_of(folder))
    assert len(imports) > 30, "the SDK, the kernel and attestgate.v1 have modules"
    assert any(path.endswith("_pb2_grpc.py") for path in imports)
    found = {
        path: sorted(filter(_outside_the_base_install, mods)) for path, mods in imports.items()
    }
    assert {path: bad for path, bad in found.items() if bad} == {}


@pytest.mark.parametrize(
    ("module", "outside"),
    [
        ("grpc_status.rpc_status", True),
        ("google.rpc.status_pb2", True),
        ("google.protobuf.any_pb2", False),
        ("jwt", True),
        ("jwtx", True),
        ("attestgate.gateway.transport.errors", True),
        ("attestgate.consent", True),
        ("attestgate.sdk._internal.status", False),
        ("sqlite_utils", True),
        ("json", False),
    ],
)
def test_the_base_install_rule(module: str, outside: bool) -> None:
    assert _outside_the_base_install(module) is outside
