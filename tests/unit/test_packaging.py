"""What ``pip install .`` puts into an environment: one top-level package, ``attestgate``.

A bank installs the project into its own application; generic top-level names (``sdk``,
``audit``, ``consent``, ``gateway``, all taken on PyPI) would collide with its code. The test
builds the real wheel with the pinned build backend and reads the distribution's file list.

``pip install attestgate`` is the SDK: the wheel requires grpcio, protobuf and cryptography and
nothing else (pyjwt, which the issue allowed, is no longer used: the kernel does JOSE itself); what
only the gateway needs (health checking, reflection, grpcio-status, the storage drivers) comes with
the ``server`` extra.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
              ".hypothesis", ".attestgate", "test-artifacts")  # fmt: skip


def build_wheel(out: Path) -> Path:
    """Build the project's wheel into ``out`` with the pinned build backend; its path.

    From a copy of the source tree: setuptools reuses an in-tree ``build/`` directory, so a module
    deleted since the last build would otherwise still ship in the wheel."""
    source = out / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True, timeout=240, capture_output=True, text=True,
    )  # fmt: skip
    (out / "build.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    (built,) = out.glob("attestgate-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_attestgate_is_the_only_top_level_package(wheel_files: list[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith(
        (".dist-info", ".data"))}  # fmt: skip
    assert tops == {"attestgate"}


@pytest.mark.parametrize(
    "path",
    [
        "attestgate/__init__.py",
        "attestgate/errors.py",
        "attestgate/py.typed",
        "attestgate/v1/consent_pb2.py",
        "attestgate/sdk/bank.py",
        "attestgate/sdk/py.typed",
        "attestgate/consent/catalog/income.toml",
        "attestgate/audit/tree.py",
        "attestgate/protocol/__init__.py",
        "attestgate/protocol/py.typed",
        "attestgate/gateway/ops/cli.py",
        "attestgate/gateway/persistence/migrations/sqlite/0001_initial.sql",
        "attestgate/gateway/persistence/migrations/postgresql/0001_initial.sql",
        "attestgate/gateway/portal/templates/base.html",
    ],
)
def test_the_wheel_carries_code_and_data(wheel_files: list[str], path: str) -> None:
    assert path in wheel_files


def test_the_wheel_ships_only_modules_of_the_source_tree(wheel_files: list[str]) -> None:
    folders = {"sdk", "consent", "audit", "gateway", "protocol"}  # pyproject's package-dir

    def source(name: str) -> Path:
        parts = name.split("/", 2)  # attestgate/<folder>/<rest>, or a file of the root
        if len(parts) == 3 and parts[1] in folders:
            return REPO / parts[1] / parts[2]
        return REPO / "proto" / name

    modules = [name for name in wheel_files if name.endswith(".py")]
    assert len(modules) > 100
    assert [name for name in modules if not source(name).is_file()] == []


def test_the_wheel_ships_every_data_file_without_a_build_warning(
    wheel: Path, wheel_files: list[str]
) -> None:
    """Migrations, templates, stylesheets and the catalog are data folders: each one is declared
    (a folder setuptools sees as importable but not listed makes it warn, and drops its files)."""
    shipped = set(wheel_files)
    missing = [
        f"attestgate/{path.relative_to(REPO).as_posix()}"
        for folder in ("sdk", "consent", "audit", "gateway", "protocol")
        for suffix in ("*.sql", "*.html", "*.css", "*.toml")
        for path in sorted((REPO / folder).rglob(suffix))
        if f"attestgate/{path.relative_to(REPO).as_posix()}" not in shipped
    ]
    assert missing == []
    log = (wheel.parent / "build.log").read_text(encoding="utf-8")
    assert "is absent from the `packages` configuration" not in log


def test_the_wheel_ships_every_module_of_the_source_tree(wheel_files: list[str]) -> None:
    """pyproject lists packages one by one: a new subpackage missing there would be absent from
    the wheel (an editable install still finds it, so only this test sees it)."""
    shipped = set(wheel_files)
    missing = [
        f"attestgate/{path.relative_to(REPO).as_posix()}"
        for folder in ("sdk", "consent", "audit", "gateway", "protocol")
        for path in sorted((REPO / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
        and f"attestgate/{path.relative_to(REPO).as_posix()}" not in shipped
    ]
    assert missing == []


def test_the_console_script_names_the_namespaced_cli(wheel: Path, wheel_files: list[str]) -> None:
    # attestgate.__main__ runs attestgate.gateway.ops.cli, or says which extra to install
    (entry_points,) = [n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "attestgate = attestgate.__main__:main" in text
    assert "attestgate/__main__.py" in wheel_files


def _requirements(wheel: Path, wheel_files: list[str]) -> dict[str, set[str]]:
    """Requirement names of the wheel by extra (``""``: the base install)."""
    (metadata,) = [n for n in wheel_files if n.endswith(".dist-info/METADATA")]
    with zipfile.ZipFile(wheel) as archive:
        headers = Parser().parsestr(archive.read(metadata).decode())
    found: dict[str, set[str]] = {}
    for requirement in headers.get_all("Requires-Dist") or []:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", requirement)
        assert name is not None, requirement
        found.setdefault(extra.group(1) if extra else "", set()).add(name.group(0).lower())
    return found


def test_the_base_install_is_the_sdk_and_its_three_dependencies(
    wheel: Path, wheel_files: list[str]
) -> None:
    assert _requirements(wheel, wheel_files)[""] == {"grpcio", "protobuf", "cryptography"}


def test_the_server_extra_brings_what_only_the_gateway_imports(
    wheel: Path, wheel_files: list[str]
) -> None:
    server = _requirements(wheel, wheel_files)["server"]
    assert {"grpcio-status", "grpcio-health-checking", "grpcio-reflection"} <= server
    assert {"psycopg", "psycopg-pool", "prometheus-client"} <= server
