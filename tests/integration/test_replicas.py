"""Three ``attestgate serve`` processes on one PostgreSQL keep every guarantee of one gateway.

The replicas share one data dir (keys, config, provider keys) and one migrated schema, and are
driven through raw gRPC stubs: single use, capacity and consent state hold across them, and the
audit events of all of them form one log that ``attestgate audit verify`` accepts.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.cli import main
from attestgate.gateway.ops.config import load_config
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.jose import public_jwk
from attestgate.sdk.errors import from_rpc_error
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import (
    attestation_pb2,
    attestation_pb2_grpc,
    common_pb2,
    consent_pb2,
    consent_pb2_grpc,
    record_pb2,
    record_pb2_grpc,
)
from tests.conformance.conftest import pg_server
from tests.integration.live import fx_bounds_pb

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
__all__ = ["pg_server"]  # the session fixture that skips (or fails in CI) without a server

REPO = Path(__file__).resolve().parents[2]
INCOME = 61_234_500  # CNY minor units of after-tax income
START_TIMEOUT = 30.0


@dataclass
class Replica:
    """One ``attestgate serve`` process and its channel."""

    process: subprocess.Popen[bytes]
    log: Path
    target: str = ""
    channel: grpc.Channel | None = None

    def stub(self, factory: Callable[[grpc.Channel], Any]) -> Any:
        """A stub of ``factory`` on this replica."""
        assert self.channel is not None
        return factory(self.channel)


@dataclass
class Cluster:
    """Three replicas on one database, and what a test needs to call them."""

    url: str
    data_dir: Path
    replicas: list[Replica]
    keyring: KeyRing
    provider_key: ec.EllipticCurvePrivateKey
    clock: SystemClock = field(default_factory=SystemClock)

    def md(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with a fresh dev token."""
        token = issue_dev_token(
            self.keyring,
            role=role,
            sub=sub,
            ttl=timedelta(hours=1),
            now=self.clock.now(),
            audience="attestgate",
        )
        return (("authorization", f"Bearer {token}"),)

    def signed(self, payload: dict[str, Any]) -> str:
        """A provider upload signed with the registered key."""
        return jwt.encode(payload, self.provider_key, algorithm="ES256", headers={"kid": "tax"})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _start(data_dir: Path, url: str, n: int) -> Replica:
    log = data_dir.parent / f"replica-{n}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve",
             "--data-dir", str(data_dir),
             "--db", url, "--insecure", "--listen", "127.0.0.1:0"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Replica(process, log)


def _wait_listening(replica: Replica) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"listening on (\S+)", replica.log.read_text(errors="replace"))
        if found:
            replica.target = found[1]
            replica.channel = grpc.insecure_channel(replica.target)
            return
        if replica.process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"replica did not start:\n{replica.log.read_text(errors='replace')}")


def _stop(replica: Replica) -> None:
    if replica.channel is not None:
        replica.channel.close()
    replica.process.terminate()
    try:
        replica.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        replica.process.kill()
        replica.process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Migrate a fresh schema, start one replica (it creates the shared data dir), then two more."""
    with fresh_schema(pg_server) as url:
        data_dir = tmp_path_factory.mktemp("replicas") / "data"
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        replicas = [_start(data_dir, url, 0)]
        try:
            _wait_listening(replicas[0])
            replicas += [_start(data_dir, url, n) for n in (1, 2)]
            for replica in replicas[1:]:
                _wait_listening(replica)
            config = load_config(data_dir / "config.toml", {"data_dir": str(data_dir)})
            keyring = KeyRing.open_or_create(
                data_dir, clock=SystemClock(), gateway_id=config.gateway_id
            )
            provider_key = ec.generate_private_key(ec.SECP256R1())
            pem = provider_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            ProviderRegistry(data_dir).add("tax", pem, roles=("tax_bureau", "fx_authority"))
            made = Cluster(url, data_dir, replicas, keyring, provider_key)
            _put_fx(made)
            yield made
        finally:
            for replica in replicas:
                _stop(replica)


# -- flows over raw stubs ---------------------------------------------------------------------


def _put_fx(c: Cluster) -> None:
    rates = c.signed({"table_id": "pboc-1", "base": "CNY", "rates": {"USD": "7.1234"}})
    stub = c.replicas[0].stub(record_pb2_grpc.RecordServiceStub)
    stub.PutFxRates(
        record_pb2.PutFxRatesRequest(signed_rates=rates), metadata=c.md("provider", "tax")
    )


def _put_income(c: Cluster, owner: str, replica: int = 0) -> None:
    fields = {"tax_year": 2025, "gross_income": 80_000_000, "after_tax_income": INCOME,
              "tax_paid": 18_765_500, "employer_name": "ACME", "taxpayer_id": "X123"}  # fmt: skip
    signed = c.signed(
        {"domain": "income", "subject": owner, "record_id": f"inc-{owner}", "fields": fields}
    )
    stub = c.replicas[replica].stub(record_pb2_grpc.RecordServiceStub)
    stub.PutRecord(
        record_pb2.PutRecordRequest(signed_record=signed), metadata=c.md("provider", "tax")
    )


def _consent(c: Cluster, owner: str, bank: str, *, via: tuple[int, int] = (0, 1)) -> str:
    """A bank asks through replica ``via[0]``, the owner approves through ``via[1]``."""
    requested = c.replicas[via[0]].stub(consent_pb2_grpc.ConsentServiceStub).CreateConsentRequest(
        consent_pb2.CreateConsentRequestRequest(
            consent_request=consent_pb2.ConsentRequest(
                owner=owner, domain="income", purpose="fx_purchase",
                claims=["tax_year", "covers_amount"], bounds=fx_bounds_pb(),
            )
        ),
        metadata=c.md("bank", bank),
    )  # fmt: skip
    approved = (
        c.replicas[via[1]]
        .stub(consent_pb2_grpc.ConsentServiceStub)
        .ApproveConsentRequest(
            consent_pb2.ApproveConsentRequestRequest(name=requested.name),
            metadata=c.md("owner", owner),
        )
    )
    return str(approved.name)


@dataclass(frozen=True)
class Issued:
    """An attestation and the presentation a bank makes of it for ``transaction_ref``."""

    jti: str
    presentation: str
    transaction_ref: str


def _issue(c: Cluster, consent: str, bank: str, usd_minor: int, replica: int = 0) -> Issued:
    holder = ec.generate_private_key(ec.SECP256R1())
    params = {"amount": common_pb2.Value(int_value=usd_minor),
              "currency": common_pb2.Value(string_value="USD")}  # fmt: skip
    issued = (
        c.replicas[replica]
        .stub(attestation_pb2_grpc.AttestationServiceStub)
        .IssueAttestation(
            attestation_pb2.IssueAttestationRequest(
                consent=consent,
                params=params,
                holder_jwk=json.dumps(public_jwk(holder.public_key())),
            ),
            metadata=c.md("bank", bank),
        )
    )
    ref = f"fx-{issued.jti}"
    presentation = create_presentation(
        issued.token,
        holder_key=holder,
        audience="attestgate",
        nonce=redemption_nonce(issued.jti, ref),
        now=datetime.now(UTC),
    )
    return Issued(issued.jti, presentation, ref)


def _redeem_all(
    c: Cluster, bank: str, jobs: list[tuple[int, Issued]], banks: list[str] | None = None
) -> list[tuple[str, int]]:
    """Redeem every (replica, attestation) at once, each by ``bank`` (or by ``banks[i]``);
    (outcome, consumed CNY minor units) each."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[tuple[str, int]] = []
    lock = threading.Lock()

    def redeem(replica: int, issued: Issued, bank: str) -> None:
        stub = c.replicas[replica].stub(attestation_pb2_grpc.AttestationServiceStub)
        request = attestation_pb2.RedeemAttestationRequest(
            presentation=issued.presentation, transaction_ref=issued.transaction_ref
        )
        metadata = c.md("bank", bank)
        barrier.wait()
        try:
            redeemed = stub.RedeemAttestation(request, metadata=metadata, timeout=30)
            outcome = ("ok", int(redeemed.consumed_amount))
        except grpc.RpcError as exc:
            outcome = (str(from_rpc_error(exc).reason), 0)
        with lock:
            outcomes.append(outcome)

    holders = banks or [bank] * len(jobs)
    threads = [
        threading.Thread(target=redeem, args=(*job, holder))
        for job, holder in zip(jobs, holders, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def _reason(call: Callable[[], object]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        return str(from_rpc_error(exc).reason)
    return "ok"


# -- the guarantees ---------------------------------------------------------------------------


def test_one_attestation_redeemed_through_all_replicas_succeeds_once(cluster: Cluster) -> None:
    _put_income(cluster, "alice")
    for round_ in range(2):
        consent = _consent(cluster, "alice", "bank-a", via=(round_, 2))
        issued = _issue(cluster, consent, "bank-a", 100_000, replica=1)
        outcomes = _redeem_all(cluster, "bank-a", [(n, issued) for n in range(3)])
        assert [o for o, _ in outcomes] == ["ATTESTATION_ALREADY_REDEEMED"] * 2 + ["ok"]


def test_income_capacity_is_never_over_consumed(cluster: Cluster) -> None:
    # Six attestations of 20,000.00 USD (142,468.00 CNY each) against 612,345.00 CNY of income:
    # at most four fit, whichever replicas redeem them and however the redemptions interleave.
    # Two banks, three each: one bank may have covers_amount evaluated only 4 times per record
    # and 30 days (the purpose's evaluation budget); capacity is per record, across banks.
    _put_income(cluster, "bob", replica=2)
    issued, banks = [], [("bank-b", "bank-c")[n % 2] for n in range(6)]
    for n, bank in enumerate(banks):
        consent = _consent(cluster, "bob", bank, via=(n % 3, (n + 1) % 3))
        issued.append(_issue(cluster, consent, bank, 2_000_000, replica=(n + 2) % 3))
    jobs = [(n % 3, one) for n, one in enumerate(issued)]
    outcomes = _redeem_all(cluster, "bank-b", jobs, banks)
    consumed = [amount for outcome, amount in outcomes if outcome == "ok"]
    per_attestation = consumed[0]
    assert len(consumed) == INCOME // per_attestation == 4
    assert [o for o, _ in outcomes].count("CAPACITY_EXHAUSTED") == 2
    with psycopg.connect(cluster.url) as conn:
        row = conn.execute(
            "SELECT consumed FROM capacity WHERE domain = 'income' AND record_id = %s",
            ("inc-bob",),
        ).fetchone()
    assert row is not None
    assert row[0] == sum(consumed) <= INCOME


def test_audit_events_of_all_replicas_form_one_tree(cluster: Cluster) -> None:
    def record_puts() -> int:
        with psycopg.connect(cluster.url) as conn:
            rows = conn.execute("SELECT data FROM audit_leaves").fetchall()
        return sum(json.loads(bytes(r[0]))["type"] == "record.put" for r in rows)

    before = record_puts()
    writers = [
        threading.Thread(target=_put_income, args=(cluster, f"dora-{n}", n % 3)) for n in range(30)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert record_puts() == before + 30  # none lost, none written twice
    with psycopg.connect(cluster.url) as conn:
        found = conn.execute("SELECT COUNT(*), MAX(idx) FROM audit_leaves").fetchone()
    assert found is not None
    count, top = found
    assert count == top + 1  # dense: no gaps, no duplicates
    verified = _cli("audit", "verify", "--db", cluster.url, "--data-dir", str(cluster.data_dir))
    assert verified.returncode == 0, verified.stderr
    assert f"audit log intact: size {count}" in verified.stdout


def test_consent_revoked_through_one_replica_is_refused_by_the_others(cluster: Cluster) -> None:
    _put_income(cluster, "erin", replica=1)
    consent = _consent(cluster, "erin", "bank-e", via=(0, 0))
    consents = [r.stub(consent_pb2_grpc.ConsentServiceStub) for r in cluster.replicas]
    owner, bank = cluster.md("owner", "erin"), cluster.md("bank", "bank-e")
    get = consent_pb2.GetConsentRequest(name=consent)
    assert consents[2].GetConsent(get, metadata=bank).state == consent_pb2.CONSENT_STATE_ACTIVE
    consents[1].RevokeConsent(consent_pb2.RevokeConsentRequest(name=consent), metadata=owner)
    for replica in (0, 2):
        assert consents[replica].GetConsent(get, metadata=bank).state == (
            consent_pb2.CONSENT_STATE_REVOKED
        )
        issue = functools.partial(_issue, cluster, consent, "bank-e", 1_000, replica=replica)
        assert _reason(issue) == "CONSENT_REVOKED"
