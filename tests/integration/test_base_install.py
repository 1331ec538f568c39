"""``pip install attestgate`` without extras is a working SDK, end to end.

The built wheel is unpacked into an empty directory together with the distributions it requires
without extras, and what those require in turn (resolved against this environment's installed
distributions: grpcio, protobuf, cryptography, and cffi, pycparser, typing-extensions).
A bare interpreter (``-I -S``: the standard library and that directory, nothing else) then
imports ``attestgate`` and the four clients, calls a real gateway with ``BankClient`` and decodes
its refusals, exactly as this full environment does; grpcio-status, googleapis-common-protos and
the server's packages are not there, and importing the gateway (the ``attestgate`` command) says
to install the server extra. Offline and a few seconds (no package index involved).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from attestgate.gateway.common.clock import FixedClock
from tests.integration import live
from tests.unit.test_packaging import build_wheel

PROBE = """
import importlib.util, json, sys
from attestgate import BankClient, LogMonitor, OwnerClient, ProviderClient, RegulatorClient
from attestgate import TlsConfig, errors
import attestgate.sdk

def outcome(call):
    try:
        call()
    except errors.AttestgateError as exc:
        return [type(exc).__name__, exc.code, str(exc.reason), dict(exc.metadata),
                [[v.field, v.description] for v in exc.violations]]
    return None

def missing(name):
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True

target, ca_file, token = sys.argv[1:4]
with BankClient(target, token=token, tls=TlsConfig(ca_file=ca_file)) as bank:
    seen = [
        outcome(lambda: bank.get_consent("no-such-consent")),
        outcome(lambda: bank.request_consent(owner="", domain="nope", purpose="", claims=[])),
    ]
absent = ["grpc_status", "google.rpc", "grpc_health", "sqlite_utils", "psycopg"]
try:
    import attestgate.gateway.ops.cli
    server = "importable"
except ModuleNotFoundError as exc:
    server = str(exc)
print(json.dumps({"seen": seen, "missing": [n for n in absent if missing(n)], "server": server}))
"""


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras)


def _closure(requirements: Iterable[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (markers evaluated)."""
    todo = [Requirement(text) for text in requirements]
    seen: set[tuple[str, str]] = set()
    found: dict[str, importlib.metadata.Distribution] = {}
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = requirement.extras or {""}
        if all((name, extra) in seen for extra in extras):
            continue
        seen.update((name, extra) for extra in extras)
        found[name] = importlib.metadata.distribution(requirement.name)
        for text in found[name].requires or []:
            if _applies(needed := Requirement(text), extras):
                todo.append(needed)
    return list(found.values())


def _install_base(site: Path, wheel: Path) -> None:
    """Unpack ``wheel`` and link in the files of its base requirements' closure."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    (info,) = site.glob("attestgate-*.dist-info")
    requires = importlib.metadata.Distribution.at(info).requires or []
    base = [text for text in requires if _applies(Requirement(text), [""])]
    for distribution in _closure(base):
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file)))
            if file.parts[0] == ".." or not source.is_file():
                continue  # console scripts outside site-packages
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            (site / file).symlink_to(source)


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[live.LiveGateway]:
    gateway = live.start_live(tmp_path / "gateway", clock)
    yield gateway
    gateway.close()


def _probe(python: list[str], gw: live.LiveGateway, env_path: Path | None) -> dict[str, Any]:
    ca = gw.tls.ca_file
    assert ca is not None
    prelude = "" if env_path is None else f"import sys; sys.path.insert(0, {str(env_path)!r})\n"
    done = subprocess.run(
        [*python, "-c", prelude + PROBE, gw.target, str(ca), gw.token("bank", "bank-1")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_the_base_install_imports_the_sdk_and_decodes_refusals(
    tmp_path: Path, gw: live.LiveGateway
) -> None:
    site = tmp_path / "site"
    _install_base(site, build_wheel(tmp_path / "wheel"))
    assert not (site / "google" / "rpc").exists()
    bare = _probe([sys.executable, "-I", "-S"], gw, site)  # -S: no site-packages
    full = _probe([sys.executable], gw, None)
    assert bare["seen"] == full["seen"]
    not_found, invalid = bare["seen"]
    assert not_found[:3] == ["NotFound", "NOT_FOUND", "CONSENT_NOT_FOUND"]
    assert invalid[:2] == ["InvalidArgument", "INVALID_ARGUMENT"]
    assert invalid[4], "field violations from the BadRequest detail"
    assert bare["missing"] == [
        "grpc_status",
        "google.rpc",
        "grpc_health",
        "sqlite_utils",
        "psycopg",
    ]
    assert full["missing"] == []
    assert bare["server"] == (
        "the attestgate gateway needs the server extra: pip install 'attestgate[server]' "
        "(missing: grpc_health, grpc_reflection, grpc_status)"
    )
    assert full["server"] == "importable"


COMMAND = """
import sys
sys.path.insert(0, sys.argv.pop(1))
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name="attestgate")
sys.argv[0] = "attestgate"
sys.exit(script.load()())
"""


@pytest.mark.slow
@pytest.mark.parametrize("args", [["serve"], ["--help"], ["token", "--role", "bank"]])
def test_the_attestgate_command_in_the_base_install_says_what_to_install(
    tmp_path: Path, args: list[str]
) -> None:
    site = tmp_path / "site"
    _install_base(site, build_wheel(tmp_path / "wheel"))
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", COMMAND, str(site), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        "attestgate: the attestgate gateway needs the server extra: "
        "pip install 'attestgate[server]' (missing: grpc_health, grpc_reflection, grpc_status)"
    ]
    assert not (tmp_path / ".attestgate").exists()
    version = subprocess.run(
        [sys.executable, "-I", "-S", "-c", COMMAND, str(site), "--version"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert (version.returncode, version.stderr) == (0, ""), version.stderr
    assert version.stdout == f"attestgate {importlib.metadata.version('attestgate')}\n"
