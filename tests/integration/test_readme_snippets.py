"""The documentation runs: every Python snippet of docs/quickstart.md (in order, against a live
gateway, reading target, CA, tokens and keys from the environment as the page says), the Python
snippet of README.md's tour (in a process of its own, where the README runs it), the other docs'
snippets, the examples, and the table of docs/errors.md against the code."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from attestgate.gateway.app import BuiltGateway
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.note import NoteSigner, format_checkpoint
from attestgate.protocol.reasons import REASON_STATUS, Reason
from attestgate.sdk import OwnerClient, RegulatorClient, TlsConfig
from attestgate.sdk._internal import hints
from attestgate.sdk.errors import error_class
from attestgate.sdk.retry import Idempotency, is_retryable
from tests.integration.conftest import TEST_CONFIG

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


@dataclass
class Site:
    """A live gateway (real clock: the snippets use it) with its data dir at ``.attestgate``."""

    local: LocalGateway[Clock]
    home: Path

    @property
    def gateway(self) -> BuiltGateway:
        return self.local.gateway

    @property
    def config(self) -> GatewayConfig:
        return self.local.config

    @property
    def target(self) -> str:
        return self.local.target

    @property
    def keyring(self) -> KeyRing:
        return self.local.keyring

    def token(self, role: str, sub: str) -> str:
        return self.local.token(role, sub)

    def environment(self) -> dict[str, str]:
        """What docs/quickstart.md's set-up exports."""
        key_file = self._provider_key("tax-bureau", ("tax_bureau", "fx_authority"), "tax.key")
        warehouse_key = self._provider_key("warehouse-1", ("warehouse",), "warehouse.key")
        return {
            "ATTESTGATE_TARGET": self.target,
            "ATTESTGATE_CA": str(TlsFiles.in_dir(self.config.tls_dir).ca_cert),
            "PROVIDER_TOKEN": self.token("provider", "tax-bureau"),
            "BANK_TOKEN": self.token("bank", "bank-a"),
            "OWNER_TOKEN": self.token("owner", "alice"),
            "REGULATOR_TOKEN": self.token("regulator", "csrc"),
            "ATTESTGATE_VKEY": self.local.vkey,
            "PROVIDER_KEY_FILE": str(key_file),
            "PROVIDER_WAREHOUSE_TOKEN": self.token("provider", "warehouse-1"),
            "PROVIDER_WAREHOUSE_KEY_FILE": str(warehouse_key),
            "BANK_HOLDER_KEY": str(self.home / ".attestgate" / "bank-a-holder.pem"),
        }

    def _provider_key(self, provider: str, roles: tuple[str, ...], name: str) -> Path:
        """Register ``provider`` and keep its key where the docs' set-up does."""
        key = self.local.register_provider(provider, roles)
        key_file = self.home / ".attestgate" / name
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return key_file


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(tmp_path)


def start_site(tmp_path: Path, **changes: Any) -> Iterator[Site]:
    """Body of a ``site`` fixture: a local gateway in ``tmp_path/.attestgate`` (real clock)."""
    data_dir = tmp_path / ".attestgate"
    changes = TEST_CONFIG | {"checkpoint_interval": timedelta(milliseconds=50)} | changes
    with start_local_gateway(data_dir, **changes) as local:
        yield Site(local, tmp_path)


def wait_for_checkpoint_growth(site: Site, env: dict[str, str]) -> None:
    """Wait until the signed checkpoint stops growing: it covers what the snippets wrote."""
    tls = TlsConfig(ca_file=Path(env["ATTESTGATE_CA"]))
    with RegulatorClient(
        site.target, token=env["REGULATOR_TOKEN"], vkey=env["ATTESTGATE_VKEY"], tls=tls
    ) as regulator:
        sizes = [-1, regulator.checkpoint().size]
        deadline = time.monotonic() + 5
        while sizes[-1] != sizes[-2] and time.monotonic() < deadline:
            time.sleep(0.15)  # three checkpoint intervals
            sizes.append(regulator.checkpoint().size)


# --- docs/quickstart.md ---------------------------------------------------------------------------


def run_quickstart(site: Site, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Python block of docs/quickstart.md, in order, as the page says; their outputs."""
    env = site.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    blocks = python_blocks(DOCS / "quickstart.md")
    assert len(blocks) == 7  # provider, bank 1, owner, bank 2, async bank, regulator, assets
    outputs = []
    for number, block in enumerate(blocks, 1):
        if "export_receipt" in block:  # the regulator's: what the others wrote, checkpointed
            wait_for_checkpoint_growth(site, env)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"quickstart.md block {number}", "exec"), {})
        outputs.append(out.getvalue())
    return outputs


def test_quickstart_snippets_run_in_order(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = run_quickstart(site, monkeypatch)
    provider, bank1, owner, bank2, async_bank, regulator, assets = outputs
    assert re.search(r"stored inc-2025-[0-9a-f]{8} version 1", provider)
    assert "PENDING" in bank1
    assert "approved: cs_" in owner
    assert "consent.approved" in owner
    assert "'tax_year': 2025" in bank2  # the claims' order is not fixed
    assert "'covers_amount': True" in bank2
    assert "consumed 35617000 CNY" in bank2
    assert "single use: ATTESTATION_ALREADY_REDEEMED" in bank2
    assert "EXHAUSTED 1/1 uses" in async_bank
    assert "attestation.redeemed allow" in regulator
    assert "receipt for" in regulator
    assert "61234500" not in "".join(outputs[1:])  # the income never reaches bank or regulator
    assert "second pledge refused: CAPACITY_EXHAUSTED" in assets
    assert assets.rstrip().splitlines()[-1].split()[1] == "record.transferred"


# --- README.md's tour -----------------------------------------------------------------------------


def test_readme_tour_snippet_runs(site: Site) -> None:
    (snippet,) = python_blocks(REPO / "README.md")[:1]
    env = site.environment()
    # The README runs against `make run` (data in ./.attestgate); the target is in the environment.
    script = site.home / "tour.py"
    script.write_text(snippet, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=site.home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            **env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'proto'}",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "'tax_year': 2025" in result.stdout
    assert "'covers_amount': True" in result.stdout


# --- the other pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["catalog.md", "protocol.md", "testing.md"])
def test_other_doc_snippets_run(page: str) -> None:
    blocks = python_blocks(DOCS / page)
    assert blocks
    for number, block in enumerate(blocks, 1):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"{page} block {number}", "exec"), {})


ROW = re.compile(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \| `(\w+)` \| (yes|reads|no) \|", re.MULTILINE)


def test_errors_table_matches_the_code() -> None:
    rows = ROW.findall((DOCS / "errors.md").read_text(encoding="utf-8"))
    assert [reason for reason, *_ in rows] == [r.value for r in Reason]  # every reason, in order
    for reason, status, exception, retried in rows:
        assert REASON_STATUS[Reason(reason)] == status, reason
        cls = error_class(reason, status)
        assert cls.__name__ == exception, reason
        error = cls("doc", code=status, reason=Reason(reason))
        read = is_retryable(error, Idempotency.READ)
        write = is_retryable(error, Idempotency.IDEMPOTENT_WRITE)
        assert retried == ("yes" if write else "reads" if read else "no"), reason


TRANSPORT_ROW = re.compile(r"^\| `([A-Z_]+)` \| [^`|][^|]* \| [^|]+ \|$", re.MULTILINE)


def test_transport_reasons_table_matches_the_code() -> None:
    """docs/errors.md "Calls that never reached the gateway" lists the SDK's client-side reasons."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    section = text.split("## Calls that never reached the gateway", 1)[1].split("\n## ", 1)[0]
    documented = TRANSPORT_ROW.findall(section)
    assert documented == [reason for _, reason, _ in hints._TRANSPORT]  # every one, in order


# --- examples/ ------------------------------------------------------------------------------------


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "examples" / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'proto'}"},
    )


@pytest.mark.parametrize("name", ["bank_fx_purchase.py", "regulator_monitor.py"])
def test_examples_have_help(name: str) -> None:
    out, _ = run_example(name, "--help").communicate(timeout=30)
    assert "usage:" in out


def test_bank_fx_purchase_example(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    env = site.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The tax bureau's record and rates, from the quickstart's provider snippet.
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(python_blocks(DOCS / "quickstart.md")[0], "provider", "exec"), {})
    process = run_example(
        "bank_fx_purchase.py",
        "--owner", "alice", "--amount", "50000.00", "--transaction-ref", "fx-ex-1", "--wait", "20",
        env=env,
    )  # fmt: skip
    tls = TlsConfig(ca_file=Path(env["ATTESTGATE_CA"]))
    with OwnerClient(site.target, token=env["OWNER_TOKEN"], tls=tls) as owner:
        deadline = time.monotonic() + 20
        while not (pending := owner.pending_requests()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending, "the example never asked for consent"
        owner.approve(pending[0].id)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    assert "'covers_amount': True" in out
    assert "redeemed: 35617000 CNY" in out


def test_regulator_monitor_example(site: Site) -> None:
    env = site.environment()
    state = site.home / "monitor.state"
    args = ("--once", "--state-file", str(state))
    first, err = run_example("regulator_monitor.py", *args, env=env).communicate(timeout=30)
    assert "verified" in first, err
    checkpoint_text = state.read_text(encoding="utf-8")
    again = run_example("regulator_monitor.py", *args, env=env)
    assert "verified" in again.communicate(timeout=30)[0]
    assert again.returncode == 0
    # A second, different tree of the same size, signed by the log's own key: a split view.
    size = int(checkpoint_text.split("\n")[1])
    signer = NoteSigner(site.config.log_origin, site.keyring.note_signer_key)
    state.write_text(signer.sign(format_checkpoint(site.config.log_origin, size, b"\x07" * 32)))
    forked = run_example("regulator_monitor.py", *args, env=env)
    _, err = forked.communicate(timeout=30)
    assert forked.returncode == 1
    assert "FAILED VERIFICATION" in err


def test_regulator_monitor_keeps_its_state_outside_the_working_folder(site: Site) -> None:
    env = {**site.environment(), "XDG_STATE_HOME": str(site.home / "xdg-state")}
    out, err = run_example("regulator_monitor.py", "--once", env=env).communicate(timeout=30)
    assert "verified" in out, err
    state = site.home / "xdg-state" / "attestgate" / "regulator-monitor.state"
    assert state.read_text(encoding="utf-8").startswith(site.config.log_origin + "\n")
