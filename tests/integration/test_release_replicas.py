"""Issue 19: releases racing pledges across three ``attestgate serve`` replicas on one PostgreSQL.

The pledgee releases its pledge (8 calls at once, through every replica), 4 other banks try to
release it too, and 20 banks redeem attestations they obtained while the receipt was free: 32
threads behind one barrier. Whatever the interleaving, the receipt is never pledged twice, only
the pledgee's release lands (once, one audit event), and the ledger agrees with the log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
    consent_pb2,
    consent_pb2_grpc,
    record_pb2,
    record_pb2_grpc,
)
from tests.conformance.conftest import pg_server
from tests.integration.test_replicas import Cluster, Issued, _start, _stop, _wait_listening

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
__all__ = ["pg_server"]  # the session fixture that skips (or fails in CI) without a server

HOLDER = "acme-trading"
PLEDGERS = 20
WRONG_BANKS = 4
RELEASES = 8
assert PLEDGERS + WRONG_BANKS + RELEASES == 32


@pytest.fixture(scope="module")
def cluster(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with fresh_schema(pg_server) as url:
        data_dir = tmp_path_factory.mktemp("release-replicas") / "data"
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
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            ProviderRegistry(data_dir).add("wh", pem, roles=("warehouse",))
            yield Cluster(url, data_dir, replicas, keyring, key)
        finally:
            for replica in replicas:
                _stop(replica)


def _put_receipt(c: Cluster, receipt: str) -> None:
    fields = {"receipt_id": receipt, "commodity": "copper", "quantity": 250, "unit": "t",
              "warehouse": "Qianhai 3", "status": "ACTIVE", "holder": HOLDER}  # fmt: skip
    payload = {"domain": "warehouse_receipt", "subject": HOLDER, "record_id": receipt,
               "fields": fields}  # fmt: skip
    signed = jwt.encode(payload, c.provider_key, algorithm="ES256", headers={"kid": "wh"})
    c.replicas[0].stub(record_pb2_grpc.RecordServiceStub).PutRecord(
        record_pb2.PutRecordRequest(signed_record=signed), metadata=c.md("provider", "wh")
    )


def _attestation(c: Cluster, receipt: str, bank: str, n: int) -> Issued:
    """A consent of the holder for ``bank`` and an attestation under it, through replica n % 3."""
    consents = c.replicas[n % 3].stub(consent_pb2_grpc.ConsentServiceStub)
    requested = consents.CreateConsentRequest(
        consent_pb2.CreateConsentRequestRequest(
            consent_request=consent_pb2.ConsentRequest(
                owner=HOLDER, domain="warehouse_receipt", purpose="pledge_financing",
                claims=["receipt_id", "unencumbered"], record_id=receipt,
            )
        ),
        metadata=c.md("bank", bank),
    )  # fmt: skip
    consent = c.replicas[(n + 1) % 3].stub(consent_pb2_grpc.ConsentServiceStub)
    approved = consent.ApproveConsentRequest(
        consent_pb2.ApproveConsentRequestRequest(name=requested.name),
        metadata=c.md("owner", HOLDER),
    )
    holder = ec.generate_private_key(ec.SECP256R1())
    issued = (
        c.replicas[(n + 2) % 3]
        .stub(attestation_pb2_grpc.AttestationServiceStub)
        .IssueAttestation(
            attestation_pb2.IssueAttestationRequest(
                consent=approved.name, holder_jwk=json.dumps(public_jwk(holder.public_key()))
            ),
            metadata=c.md("bank", bank),
        )
    )
    assert issued.claims["unencumbered"].bool_value is True
    ref = f"loan-{issued.jti}"
    presentation = create_presentation(
        issued.token,
        holder_key=holder,
        audience="attestgate",
        nonce=redemption_nonce(issued.jti, ref),
        now=datetime.now(UTC),
    )
    return Issued(issued.jti, presentation, ref)


def _stub(c: Cluster, n: int) -> Any:
    return c.replicas[n % 3].stub(attestation_pb2_grpc.AttestationServiceStub)


def _redeem(c: Cluster, bank: str, issued: Issued, n: int) -> Callable[[], object]:
    request = attestation_pb2.RedeemAttestationRequest(
        presentation=issued.presentation, transaction_ref=issued.transaction_ref
    )
    metadata = c.md("bank", bank)
    return lambda: _stub(c, n).RedeemAttestation(request, metadata=metadata, timeout=30)


def _release(c: Cluster, bank: str, jti: str, n: int) -> Callable[[], object]:
    request = attestation_pb2.ReleaseRedemptionRequest(
        attestation=f"attestations/{jti}", reason="REPAID", request_id=f"{bank}-{n}"
    )
    metadata = c.md("bank", bank)
    return lambda: _stub(c, n).ReleaseRedemption(request, metadata=metadata, timeout=30)


def _race(calls: list[tuple[str, Callable[[], object]]]) -> list[tuple[str, str, Any]]:
    """Run every call at once behind one barrier: (label, outcome reason or "ok", response)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, str, Any]] = []
    lock = threading.Lock()

    def run(label: str, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            outcome: tuple[str, str, Any] = (label, "ok", call())
        except grpc.RpcError as exc:
            outcome = (label, str(from_rpc_error(exc).reason), None)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _events(c: Cluster, kind: str, jti: str) -> list[dict[str, Any]]:
    with psycopg.connect(c.url) as conn:
        rows = conn.execute("SELECT data FROM audit_leaves ORDER BY idx").fetchall()
    events = [json.loads(bytes(r[0])) for r in rows]
    return [e for e in events if e["type"] == kind and e["objects"].get("attestation_jti") == jti]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("receipt", ["WR-RACE-1", "WR-RACE-2"])
def test_release_racing_pledges_never_pledges_twice(cluster: Cluster, receipt: str) -> None:
    _put_receipt(cluster, receipt)
    banks = [f"{receipt}-bank-{n}" for n in range(PLEDGERS)]
    pledgee = f"{receipt}-pledgee"
    first = _attestation(cluster, receipt, pledgee, 0)
    held = [_attestation(cluster, receipt, bank, n) for n, bank in enumerate(banks)]
    _redeem(cluster, pledgee, first, 1)()  # the pledge being released

    calls: list[tuple[str, Callable[[], object]]] = []
    calls += [("release", _release(cluster, pledgee, first.jti, n)) for n in range(RELEASES)]
    calls += [("wrong", _release(cluster, banks[n], first.jti, n)) for n in range(WRONG_BANKS)]
    calls += [(f"pledge:{h.jti}", _redeem(cluster, b, h, n)) for n, (b, h) in
              enumerate(zip(banks, held, strict=True))]  # fmt: skip
    outcomes = _race(calls)

    releases = [(o, r) for label, o, r in outcomes if label == "release"]
    assert [o for o, _ in releases] == ["ok"] * RELEASES
    answers = {(r.log_index, r.released_by, r.reason, r.release_time.seconds) for _, r in releases}
    assert len(answers) == 1  # one release; every call answered with it
    assert next(iter(answers))[1] == pledgee
    wrong = [o for label, o, _ in outcomes if label == "wrong"]
    assert wrong == ["NOT_PLEDGEE"] * WRONG_BANKS
    pledges = [(label.split(":", 1)[1], o) for label, o, _ in outcomes if label.startswith("p")]
    won = [jti for jti, o in pledges if o == "ok"]
    assert len(won) <= 1  # at most one new pledge, and only after the release
    assert {o for _, o in pledges} <= {"ok", "CAPACITY_EXHAUSTED"}

    with psycopg.connect(cluster.url) as conn:
        found = conn.execute(
            "SELECT pledged_by FROM capacity WHERE domain = 'warehouse_receipt' AND record_id = %s",
            (receipt,),
        ).fetchone()
        released = conn.execute(
            "SELECT released_by, log_index FROM releases WHERE jti = %s", (first.jti,)
        ).fetchall()
    assert found is not None
    assert found[0] == (won[0] if won else None)
    assert len(released) == 1
    assert released[0][0] == pledgee
    audited = _events(cluster, "pledge.released", first.jti)
    (event,) = [e for e in audited if e["decision"] == "allow"]
    assert event["actor_id"] == pledgee
    denied = [e for e in audited if e["decision"] == "deny"]
    assert {e["actor_id"] for e in denied} <= set(banks[:WRONG_BANKS])
    assert all(e["reason"] == "NOT_PLEDGEE" for e in denied)
    redeemed = {e["objects"]["attestation_jti"] for e in _all(cluster, "attestation.redeemed")}
    assert redeemed & {h.jti for h in held} == set(won)


def _all(c: Cluster, kind: str) -> list[dict[str, Any]]:
    with psycopg.connect(c.url) as conn:
        rows = conn.execute("SELECT data FROM audit_leaves ORDER BY idx").fetchall()
    events = [json.loads(bytes(r[0])) for r in rows]
    return [e for e in events if e["type"] == kind and e["decision"] == "allow"]
