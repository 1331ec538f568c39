"""No secret in the operator's output: ``attestgate serve`` with ``log_level = "DEBUG"`` and JSON
logs, driven by the full ``attestgate demo --target`` (all four domains, two banks, a regulator)
plus refused calls carrying tokens of our own. Its captured stdout and stderr must contain none of:
a bearer token, an attestation or presentation (or any segment of one), a PEM marker, the bytes of
any key in the data dir (base64, base64url or hex), or a record value (income, tax ids, personal
ids)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import DEV_ISSUER_JWKS_FILE, KeyRing, dev_issuer_name
from attestgate.gateway.ops.config import CONFIG_FILE_NAME, default_config_toml
from attestgate.v1 import consent_pb2, consent_pb2_grpc

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RECORD_VALUES = ("61234500", "61_234_500", "80000000", "18765500", "91440300TAX0001",
                 "440300199001011234", "ACME Shenzhen")  # fmt: skip
"""Values the demo's providers upload (gateway/demo/scenes.py); none may be logged."""


def _start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve",
             "--data-dir", str(data_dir),
             "--listen", "127.0.0.1:0"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    # The plain line serve prints on stdout (the JSON log line says it too, quoted).
    listening = re.compile(r"^listening on (\S+)$", re.MULTILINE)
    while not (found := listening.search(log.read_text(errors="replace"))):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.05)
    return process, found[1]


@pytest.fixture
def debug_gateway(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """A TLS gateway subprocess logging DEBUG as JSON: (data dir, address, captured output)."""
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    KeyRing.open_or_create(data_dir, clock=SystemClock(), gateway_id="attestgate")
    config = default_config_toml(
        gateway_id="attestgate",
        dev_issuer=dev_issuer_name("attestgate"),
        jwks_file_name=DEV_ISSUER_JWKS_FILE,
    )
    (data_dir / CONFIG_FILE_NAME).write_text(f'log_level = "DEBUG"\nlog_format = "json"\n{config}')
    process, address = _start(data_dir, log)
    try:
        yield data_dir, address, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _own_calls(data_dir: Path, address: str) -> list[str]:
    """A few calls of our own, refused and accepted; returns the tokens they carried."""
    keyring = KeyRing.open_or_create(data_dir, clock=SystemClock(), gateway_id="attestgate")
    now = SystemClock().now()

    def token(role: str, sub: str, at: datetime) -> str:
        return issue_dev_token(
            keyring, role=role, sub=sub, ttl=timedelta(minutes=5), now=at, audience="attestgate"
        )

    good, wrong_role = token("bank", "bank-z", now), token("owner", "zoe", now)
    expired = token("bank", "bank-z", now - timedelta(hours=1))
    credentials = grpc.ssl_channel_credentials((data_dir / "tls" / "ca.pem").read_bytes())
    with grpc.secure_channel(address, credentials) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        for carried in (good, expired, wrong_role, good + "x"):
            with contextlib.suppress(grpc.RpcError):
                stub.CreateConsentRequest(
                    consent_pb2.CreateConsentRequestRequest(
                        consent_request=consent_pb2.ConsentRequest(
                            owner="91440300TAX0001", domain="income", purpose="fx_purchase",
                            claims=["tax_year"],
                        )
                    ),
                    metadata=(("authorization", f"Bearer {carried}"),),
                    timeout=10,
                )  # fmt: skip
    return [good, expired, wrong_role]


def _jwt_like(value: Any) -> Iterator[str]:
    """Every token-shaped string in the demo's evidence bundle."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _jwt_like(item)
    elif isinstance(value, list):
        for item in value:
            yield from _jwt_like(item)
    elif isinstance(value, str) and value.startswith("eyJ") and "." in value:
        yield value


def _token_fragments(token: str) -> set[str]:
    """The secret-bearing pieces of a JWT / SD-JWT: each payload, signature and disclosure."""
    pieces = set()
    for part in token.split("~"):
        segments = part.split(".")
        pieces.update(segments[1:] if len(segments) == 3 else segments)  # headers are public
    return {p for p in pieces if len(p) >= 16}


def _key_fragments(data_dir: Path) -> set[str]:
    """Every private key and secret of the data dir in the spellings a log could carry."""
    fragments = set()
    for path in (data_dir / "keys").iterdir():
        raw = path.read_bytes()
        if b"PRIVATE KEY" in raw:
            key = serialization.load_pem_private_key(raw, password=None)
            raw = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        elif path.suffix == ".json":
            continue  # key indexes: kids and dates, public
        fragments |= {
            base64.b64encode(raw).decode()[-24:],
            base64.urlsafe_b64encode(raw).decode().rstrip("=")[-24:],
            raw.hex()[-32:],
        }
    return fragments


def test_a_debug_run_of_the_demo_logs_no_secret(debug_gateway: tuple[Path, str, Path]) -> None:
    data_dir, address, log = debug_gateway
    demo = subprocess.run(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "demo", "--json", "--target", address,
         "--data-dir", str(data_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    bundle = json.loads(demo.stdout)
    tokens = [*_jwt_like(bundle), *_own_calls(data_dir, address)]
    assert len(tokens) >= 8  # attestations and presentations of four domains, and ours
    time.sleep(0.5)  # let the last access lines reach the file
    output = log.read_text(errors="replace")
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "attestgate.access" for line in lines), "no JSON access log"
    assert len(lines) > 50  # the demo's calls were logged ...
    assert len(_key_fragments(data_dir)) >= 10  # the search terms exist: the check can fail
    leaks = {
        "PEM marker": [m for m in ("-----BEGIN", "PRIVATE KEY") if m in output],
        "token": [t[:20] for t in tokens for f in _token_fragments(t) if f in output],
        "key bytes": [f for f in _key_fragments(data_dir) if f in output],
        "record value": [v for v in RECORD_VALUES if v in output],
        "bearer header": re.findall(r"(?i)bearer\s+ey", output),
    }
    assert not any(leaks.values()), leaks  # ... and none of it leaked
