"""What ``pip install .`` puts into an environment: one top-level package, ``attestgate``.

A bank installs the project into its own application; generic top-level names (``sdk``,
``audit``, ``consent``, ``gateway``, all taken on PyPI) would collide with its code. The test
builds the real wheel with the pinned build backend and reads the distribution's file list.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(REPO)],
        check=True, timeout=240, capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("attestgate-*.whl")
    return built


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
        "attestgate/gateway/cli.py",
        "attestgate/gateway/db/migrations/sqlite/0001_initial.sql",
        "attestgate/gateway/db/migrations/postgresql/0001_initial.sql",
        "attestgate/gateway/portal/templates/base.html",
    ],
)
def test_the_wheel_carries_code_and_data(wheel_files: list[str], path: str) -> None:
    assert path in wheel_files


def test_the_console_script_names_the_namespaced_cli(wheel: Path, wheel_files: list[str]) -> None:
    (entry_points,) = [n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "attestgate = attestgate.gateway.cli:main" in text
