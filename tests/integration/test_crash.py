"""Crash safety (issue 9): ``attestgate serve`` is SIGKILLed at random moments under a sustained
mixed load (consent requests, approvals, issues, redemptions, revocations) and restarted, three
times, on SQLite and on PostgreSQL. Afterwards:

- every acknowledged consent change, issue and redemption is there, in the acknowledged state;
- nothing was redeemed twice (one ``attestation.redeemed`` event per attestation at most, and a
  replay after the crashes is refused);
- capacity is consistent: what each record consumed equals the sum of its redeemed attestations;
- ``attestgate audit verify`` passes, and every checkpoint signed after a restart is consistent
  with the last one a regulator saw before the kill (``LogMonitor``).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
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
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.jose import public_jwk
from attestgate.protocol.note import NoteSigner
from attestgate.sdk import LogMonitor, RegulatorClient
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
from tests.integration import live
from tests.integration.test_replicas import Replica, _start, _stop, _wait_listening

pytestmark = pytest.mark.slow
__all__ = ["pg_server"]

KILLS = 3
WORKERS = 3
USD_CENTS = 10_000  # USD 100.00 per redemption: capacity never runs out in this test


@dataclass(frozen=True)
class Issued:
    """An acknowledged attestation: its consent, the worker (owner-N / bank-N), token and key."""

    consent: str
    worker: int
    token: str
    holder: ec.EllipticCurvePrivateKey


@dataclass
class Journal:
    """What the gateway acknowledged: the truth to find again after the crashes."""

    consents: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (state, worker)
    issued: dict[str, Issued] = field(default_factory=dict)  # by jti
    redeemed: dict[str, str] = field(default_factory=dict)  # jti -> transaction_ref
    lock: threading.Lock = field(default_factory=threading.Lock)


class Server:
    """The ``attestgate serve`` process of the moment, and channels to it."""

    def __init__(self, data_dir: Path, db: str) -> None:
        self.data_dir, self.db = data_dir, db
        self.replica: Replica | None = None
        self.starts = 0
        self.channels: list[grpc.Channel] = []

    def start(self) -> None:
        """Start a new process and wait until it listens."""
        self.replica = _start(self.data_dir, self.db, self.starts)
        self.starts += 1
        _wait_listening(self.replica)
        assert self.replica.channel is not None
        self.channels.append(self.replica.channel)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye."""
        assert self.replica is not None
        self.replica.process.send_signal(signal.SIGKILL)
        self.replica.process.wait(timeout=30)

    @property
    def channel(self) -> grpc.Channel:
        assert self.replica is not None
        assert self.replica.channel is not None
        return self.replica.channel

    def close(self) -> None:
        if self.replica is not None:
            _stop(self.replica)
        for channel in self.channels:
            channel.close()


@dataclass
class Rig:
    """Keys and tokens of the data dir, the provider key, the running server."""

    server: Server
    keyring: KeyRing
    provider_key: ec.EllipticCurvePrivateKey

    def md(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        token = issue_dev_token(
            self.keyring, role=role, sub=sub, ttl=timedelta(hours=1),
            now=SystemClock().now(), audience="attestgate",
        )  # fmt: skip
        return (("authorization", f"Bearer {token}"),)

    def stubs(self) -> tuple[Any, Any, Any]:
        channel = self.server.channel
        return (
            consent_pb2_grpc.ConsentServiceStub(channel),
            attestation_pb2_grpc.AttestationServiceStub(channel),
            record_pb2_grpc.RecordServiceStub(channel),
        )

    def signed(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.provider_key, algorithm="ES256", headers={"kid": "tax"})


def _setup(server: Server) -> Rig:
    server.start()
    keyring = KeyRing.open_or_create(server.data_dir, clock=SystemClock(), gateway_id="attestgate")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ProviderRegistry(server.data_dir).add("tax", pem, roles=("tax_bureau", "fx_authority"))
    rig = Rig(server, keyring, key)
    _, _, records = rig.stubs()
    md = rig.md("provider", "tax")
    rates = rig.signed({"table_id": "pboc-1", "base": "CNY", "rates": {"USD": live.USD_RATE}})
    records.PutFxRates(record_pb2.PutFxRatesRequest(signed_rates=rates), metadata=md, timeout=10)
    for n in range(WORKERS):
        upload = {"domain": "income", "subject": f"owner-{n}", "record_id": f"inc-{n}",
                  "fields": live.INCOME_FIELDS}  # fmt: skip
        records.PutRecord(
            record_pb2.PutRecordRequest(signed_record=rig.signed(upload)), metadata=md, timeout=10
        )
    return rig


# -- the load ------------------------------------------------------------------------------------


def _cycle(rig: Rig, journal: Journal, n: int, serial: int, rng: random.Random) -> None:
    """One owner/bank story; each acknowledged step goes into the journal at once."""
    consents, attestations, _ = rig.stubs()
    bank, owner = rig.md("bank", f"bank-{n}"), rig.md("owner", f"owner-{n}")
    requested = consents.CreateConsentRequest(
        consent_pb2.CreateConsentRequestRequest(
            consent_request=consent_pb2.ConsentRequest(
                owner=f"owner-{n}", domain="income", purpose="fx_purchase",
                claims=["tax_year", "covers_amount"], record_id=f"inc-{n}",
                bounds=live.fx_bounds_pb(),
            )
        ),
        metadata=bank, timeout=5,
    )  # fmt: skip
    consent = consents.ApproveConsentRequest(
        consent_pb2.ApproveConsentRequestRequest(name=requested.name), metadata=owner, timeout=5
    )
    with journal.lock:
        journal.consents[consent.name] = ("ACTIVE", n)
    holder = ec.generate_private_key(ec.SECP256R1())
    issued = attestations.IssueAttestation(
        attestation_pb2.IssueAttestationRequest(
            consent=consent.name,
            params={"amount": common_pb2.Value(int_value=USD_CENTS),
                    "currency": common_pb2.Value(string_value="USD")},
            holder_jwk=json.dumps(public_jwk(holder.public_key())),
        ),
        metadata=bank, timeout=5,
    )  # fmt: skip
    with journal.lock:
        journal.issued[issued.jti] = Issued(consent.name, n, issued.token, holder)
    ref = f"fx-{n}-{serial}"
    presentation = create_presentation(
        issued.token, holder_key=holder, audience="attestgate",
        nonce=redemption_nonce(issued.jti, ref), now=SystemClock().now(),
    )  # fmt: skip
    attestations.RedeemAttestation(
        attestation_pb2.RedeemAttestationRequest(presentation=presentation, transaction_ref=ref),
        metadata=bank, timeout=5,
    )  # fmt: skip
    with journal.lock:
        journal.redeemed[issued.jti] = ref
    if rng.random() < 0.3:
        consents.RevokeConsent(
            consent_pb2.RevokeConsentRequest(name=consent.name), metadata=owner, timeout=5
        )
        with journal.lock:
            journal.consents[consent.name] = ("REVOKED", n)


def _worker(rig: Rig, journal: Journal, n: int, stop: threading.Event) -> None:
    rng = random.Random(n)
    serial = 0
    while not stop.is_set():
        serial += 1
        try:
            _cycle(rig, journal, n, serial, rng)
        except (grpc.RpcError, ValueError, AssertionError):
            time.sleep(0.05)  # the server is down or restarting: this step was not acknowledged


def _regulator_update(rig: Rig, state: Path) -> int:
    """A regulator checks the latest checkpoint against the last one it saw (kept in ``state``);
    returns its size. ``SplitViewError`` if the log forked or shrank."""
    assert rig.server.replica is not None
    vkey = NoteSigner("attestgate.local/log", rig.keyring.note_signer_key).vkey()  # out of band
    token = rig.md("regulator", "csrc")[0][1].removeprefix("Bearer ")
    with RegulatorClient(
        rig.server.replica.target, token=token, vkey=vkey, insecure=True
    ) as client:
        return LogMonitor(client, state).update().size


def _run_with_kills(rig: Rig, journal: Journal, state: Path) -> list[int]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=_worker, args=(rig, journal, n, stop)) for n in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    seen = []
    rng = random.Random(9)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 2.5))  # let the load run, then strike at a random moment
            seen.append(_regulator_update(rig, state))
            time.sleep(rng.uniform(0.0, 0.3))
            rig.server.kill()
            rig.server.start()
            seen.append(_regulator_update(rig, state))  # consistent with what it saw before
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    return seen


# -- the checks --------------------------------------------------------------------------------


def _check_journal(rig: Rig, journal: Journal) -> None:
    consents, attestations, _ = rig.stubs()
    for name, (state, n) in journal.consents.items():
        found = consents.GetConsent(
            consent_pb2.GetConsentRequest(name=name), metadata=rig.md("owner", f"owner-{n}"),
            timeout=10,
        )  # fmt: skip
        if state == "REVOKED":
            assert found.state == consent_pb2.CONSENT_STATE_REVOKED, name
        # ACTIVE may since be EXHAUSTED (one use), or REVOKED by a revoke whose answer was lost.
    for jti, issued in journal.issued.items():
        found = attestations.GetAttestation(
            attestation_pb2.GetAttestationRequest(name=f"attestations/{jti}"),
            metadata=rig.md("bank", f"bank-{issued.worker}"), timeout=10,
        )  # fmt: skip
        assert found.consent == issued.consent
        if jti in journal.redeemed:
            assert found.state == attestation_pb2.ATTESTATION_STATE_REDEEMED, jti
            assert found.transaction_ref == journal.redeemed[jti]


def _replay_is_refused(rig: Rig, journal: Journal) -> None:
    """A fresh, valid presentation of an attestation redeemed before the crashes is refused."""
    _, attestations, _ = rig.stubs()
    for jti in list(journal.redeemed)[:5]:
        issued = journal.issued[jti]
        presentation = create_presentation(
            issued.token, holder_key=issued.holder, audience="attestgate",
            nonce=redemption_nonce(jti, "replay"), now=SystemClock().now(),
        )  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            attestations.RedeemAttestation(
                attestation_pb2.RedeemAttestationRequest(
                    presentation=presentation, transaction_ref="replay"
                ),
                metadata=rig.md("bank", f"bank-{issued.worker}"), timeout=10,
            )  # fmt: skip
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _db_rows(db: str, data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    if "://" in db and db.startswith("postgres"):
        with psycopg.connect(db) as conn:
            return list(conn.execute(query.encode()).fetchall())
    lite = sqlite3.connect(db)
    try:
        return list(lite.execute(query).fetchall())
    finally:
        lite.close()


def _check_storage(server: Server, journal: Journal) -> None:
    redeemed_events: dict[str, int] = {}
    for (data,) in _db_rows(server.db, server.data_dir, "SELECT data FROM audit_leaves"):
        event = json.loads(bytes(data))
        if event["type"] == "attestation.redeemed" and event["decision"] == "allow":
            jti = event["objects"]["attestation_jti"]
            redeemed_events[jti] = redeemed_events.get(jti, 0) + 1
    assert set(redeemed_events.values()) <= {1}, "an attestation was redeemed twice"
    assert set(journal.redeemed) <= set(redeemed_events)
    rows = _db_rows(
        server.db, server.data_dir,
        "SELECT record_id, SUM(consumption_amount) FROM attestations "
        "WHERE state = 'REDEEMED' GROUP BY record_id",
    )  # fmt: skip
    expected = {str(r[0]): int(r[1]) for r in rows}
    consumed = _db_rows(server.db, server.data_dir, "SELECT record_id, consumed FROM capacity")
    assert {str(r[0]): int(r[1]) for r in consumed} == expected
    assert len(expected) == WORKERS  # every worker redeemed something


def _crash_and_check(data_dir: Path, db: str, state: Path) -> None:
    server = Server(data_dir, db)
    try:
        rig = _setup(server)
        journal = Journal()
        seen = _run_with_kills(rig, journal, state)
        assert len(journal.redeemed) >= KILLS, "the load barely ran"
        assert seen == sorted(seen), seen  # the log only grew, across every restart
        _check_journal(rig, journal)
        _check_storage(server, journal)
        _replay_is_refused(rig, journal)
        assert _regulator_update(rig, state) >= seen[-1]
    finally:
        server.close()
    assert main(["audit", "verify", "--data-dir", str(data_dir), "--db", db]) == 0


def test_sigkill_under_load_on_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _crash_and_check(data_dir, str(data_dir / "attestgate.db"), tmp_path / "regulator.state")


@pytest.mark.postgres
def test_sigkill_under_load_on_postgres(pg_server: str, tmp_path: Path) -> None:
    with fresh_schema(pg_server) as url:
        data_dir = tmp_path / "data"
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        _crash_and_check(data_dir, url, tmp_path / "regulator.state")
