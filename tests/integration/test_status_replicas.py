"""Issue 17: three ``attestgate serve`` replicas on one PostgreSQL publish the same status lists.

An attestation is issued through one replica and its consent revoked through another; the third
replica's public HTTPS face serves the list with the entry INVALID within one publication
interval (2 s here), and every replica's list says the same.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.testing import register_provider
from attestgate.protocol.jose import Jwks, json_object, parse_compact_jws
from attestgate.protocol.status_list import (
    Status,
    StatusReference,
    parse_reference,
    verify_status_list_token,
)
from attestgate.sdk import BankClient, OwnerClient, ProviderClient
from attestgate.sdk.tls import TlsConfig
from tests.conformance.conftest import pg_server
from tests.integration import live

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
__all__ = ["pg_server"]

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 2
ISSUER = "https://issuer.test"
START_TIMEOUT = 30.0


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    log: Path
    target: str = ""
    public: str = ""


def _start(config: Path, data_dir: Path, url: str, n: int) -> Replica:
    log = data_dir.parent / f"status-replica-{n}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve",
             "--config", str(config), "--data-dir", str(data_dir), "--db", url,
             "--listen", "127.0.0.1:0", "--public", "127.0.0.1:0", "--public-url", ISSUER],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    replica = Replica(process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        listening, public = (
            re.search(r"listening on (\S+)", text),
            re.search(r"metadata at (https://[^/\s]+)", text),
        )
        if listening and public:
            replica.target, replica.public = listening[1], public[1].rstrip("/")
            return replica
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"replica did not start:\n{log.read_text(errors='replace')}")


def _stop(replica: Replica) -> None:
    replica.process.terminate()
    try:
        replica.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        replica.process.kill()
        replica.process.wait(timeout=30)


@dataclass
class Cluster:
    data_dir: Path
    replicas: list[Replica]
    keyring: KeyRing

    @property
    def tls(self) -> TlsConfig:
        return TlsConfig(ca_file=self.data_dir / "tls" / "ca.pem")

    def token(self, role: str, sub: str) -> str:
        return issue_dev_token(
            self.keyring, role=role, sub=sub, ttl=timedelta(hours=1),
            now=SystemClock().now(), audience="attestgate",
        )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with fresh_schema(pg_server) as url:
        root = tmp_path_factory.mktemp("status-replicas")
        data_dir, config = root / "data", root / "config.toml"
        config.write_text(f'status_list_interval = "{INTERVAL}s"\n', encoding="utf-8")
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        replicas = [_start(config, data_dir, url, 0)]
        try:
            replicas += [_start(config, data_dir, url, n) for n in (1, 2)]
            keyring = KeyRing.open_or_create(data_dir, clock=SystemClock(), gateway_id="attestgate")
            yield Cluster(data_dir, replicas, keyring)
        finally:
            for replica in replicas:
                _stop(replica)


def _status(c: Cluster, replica: Replica, ref: StatusReference) -> Status | int:
    """The entry as ``replica``'s public face serves it, verified with its issuer metadata."""
    context = ssl.create_default_context(cafile=str(c.data_dir / "tls" / "ca.pem"))
    path = ref.uri.removeprefix(ISSUER)
    with urllib.request.urlopen(replica.public + path, context=context, timeout=10) as response:
        token = response.read().decode("ascii")
    with urllib.request.urlopen(
        replica.public + "/.well-known/jwt-vc-issuer", context=context, timeout=10
    ) as response:
        jwks = Jwks.from_dict(json_object(response.read(), max_depth=8)["jwks"])  # type: ignore[arg-type]
    verified = verify_status_list_token(
        token, jwks.get, uri=ref.uri, now=int(time.time()), iss=ISSUER
    )
    return verified.status(ref.idx)


def test_a_revocation_on_one_replica_shows_on_another_within_the_interval(
    cluster: Cluster,
) -> None:
    c = cluster
    tls = c.tls
    r0, r1, r2 = c.replicas
    key = register_provider(c.data_dir, "tax", ("tax_bureau", "fx_authority"))
    provider = ProviderClient(r0.target, token=c.token("provider", "tax"), signing_key=key, tls=tls)
    provider.put_record(
        domain="income", subject="alice", record_id="inc-1", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-1", rates={"USD": live.USD_RATE})
    bank = BankClient(r0.target, token=c.token("bank", "bank-a"), tls=tls)
    owner = OwnerClient(r1.target, token=c.token("owner", "alice"), tls=tls)
    request = bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase",
        claims=["tax_year", "covers_amount"], record_id="inc-1", bounds=live.FX_BOUNDS,
    )  # fmt: skip
    consent = owner.approve(request.id)
    issuing = BankClient(r2.target, token=c.token("bank", "bank-a"), tls=tls)
    attestation = issuing.issue(consent.id, params={"amount": 1_000_000, "currency": "USD"})
    payload = json_object(parse_compact_jws(attestation.token.split("~")[0]).payload, max_depth=8)
    ref = parse_reference(payload["status"])
    assert ref.uri == f"{ISSUER}/status-lists/1"
    deadline = time.monotonic() + INTERVAL + 5
    while _status(c, r1, ref) is not Status.VALID and time.monotonic() < deadline:
        time.sleep(0.2)  # a list created after r1's last publication is published on first GET
    assert _status(c, r1, ref) is Status.VALID
    owner.revoke(consent.id)
    revoked_at = time.monotonic()
    while _status(c, r1, ref) is not Status.INVALID:
        assert time.monotonic() - revoked_at < INTERVAL + 3, "r1 still serves the old status"
        time.sleep(0.2)
    assert time.monotonic() - revoked_at <= INTERVAL + 3
    assert {_status(c, r, ref) for r in (r0, r2)} <= {Status.INVALID, Status.VALID}
    time.sleep(INTERVAL + 1)
    assert [_status(c, r, ref) for r in c.replicas] == [Status.INVALID] * 3
    for client in (provider, bank, owner, issuing):
        client.close()
