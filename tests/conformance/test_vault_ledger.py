"""Vault, capacity ledger and idempotency table: the same guarantees on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attestgate.audit.sql import Connection, Dialect
from attestgate.gateway.persistence import ledger, vault
from attestgate.gateway.usecases import idempotency
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.protocol.reasons import DomainError, Reason
from tests.conformance.conftest import Backend

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = {"tax_year": 2025, "after_tax_income": 61234500, "employer_name": "Zhongshan Precision"}
SECRETS = ("61234500", "Zhongshan Precision", "owner-1")


class Keks:
    """Key-encryption keys in memory."""

    def __init__(self) -> None:
        self.keys = {"kek-1": os.urandom(32)}

    def current_kek(self) -> tuple[str, bytes]:
        return "kek-1", self.keys["kek-1"]

    def kek(self, kid: str) -> bytes:
        return self.keys[kid]


def pseudonym(subject: str) -> str:
    return hmac.new(b"k" * 32, subject.encode(), hashlib.sha256).hexdigest()


def put(v: vault.RecordVault, conn: Connection, record_id: str, subject: str = "owner-1") -> int:
    conn.execute("BEGIN")
    version = v.put(
        conn,
        domain="income",
        record_id=record_id,
        subject=subject,
        provider_id="tax-bureau",
        fields=FIELDS,  # type: ignore[arg-type]
        now=NOW,
    )
    conn.execute("COMMIT")
    return version


def stored_bytes(backend: Backend, conn: Connection, tmp_path: Path) -> bytes:
    """Everything at rest: the SQLite files, or every vault row's text form on PostgreSQL."""
    if backend.dialect is Dialect.SQLITE:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    rows = conn.execute(
        "SELECT r::text FROM records r UNION ALL SELECT k::text FROM subject_keys k"
    ).fetchall()
    return "\n".join(row[0] for row in rows).encode()


def test_vault_round_trip_without_plaintext_at_rest(backend: Backend, tmp_path: Path) -> None:
    conn = backend.connect()
    v = vault.RecordVault(Keks(), pseudonym)
    assert put(v, conn, "inc-2025") == 1
    assert put(v, conn, "inc-2025") == 2
    record = v.get(conn, domain="income", subject="owner-1", record_id="inc-2025")
    assert (record.version, dict(record.fields)) == (2, FIELDS)
    raw = stored_bytes(backend, conn, tmp_path)
    assert raw  # the check below must have looked at something
    for secret in SECRETS:
        assert secret.encode() not in raw, secret


def test_vault_swapped_ciphertexts_fail(backend: Backend) -> None:
    conn = backend.connect()
    v = vault.RecordVault(Keks(), pseudonym)
    put(v, conn, "inc-a")
    put(v, conn, "inc-b")
    rows = conn.execute("SELECT record_id, nonce, ciphertext FROM records ORDER BY record_id")
    (_, _, sealed_a), (_, nonce_b, sealed_b) = rows.fetchall()
    assert isinstance(sealed_a, bytes)
    conn.execute(
        "UPDATE records SET nonce = ?, ciphertext = ? WHERE record_id = ?",
        (nonce_b, sealed_b, "inc-a"),
    )
    with pytest.raises(DomainError) as caught:
        v.get(conn, domain="income", subject="owner-1", record_id="inc-a")
    assert caught.value.reason is Reason.INTERNAL
    assert v.get(conn, domain="income", subject="owner-1", record_id="inc-b").version == 1


def test_vault_erasure_shreds(backend: Backend) -> None:
    conn = backend.connect()
    v = vault.RecordVault(Keks(), pseudonym)
    put(v, conn, "inc-2025")
    put(v, conn, "inc-2024")
    put(v, conn, "inc-x", subject="owner-2")
    conn.execute("BEGIN")
    assert v.erase(conn, "owner-1", NOW, domains=("income",)) == 2
    conn.execute("COMMIT")
    for record_id in ("inc-2025", None):
        with pytest.raises(DomainError) as caught:
            v.get(conn, domain="income", subject="owner-1", record_id=record_id)
        assert caught.value.reason is Reason.DATA_ERASED
    with pytest.raises(DomainError) as refused:
        put(v, conn, "inc-2026")
    assert refused.value.reason is Reason.DATA_ERASED
    conn.execute("ROLLBACK")
    assert v.get(conn, domain="income", subject="owner-2", record_id=None).record_id == "inc-x"


def _attestation(jti: str, amount: int) -> ledger.AttestationRow:
    return ledger.AttestationRow(
        jti=jti,
        consent_id="c1",
        grantee="bank-a",
        domain="income",
        purpose="fx_purchase",
        record_id="inc-2025",
        consumption_kind=ledger.ConsumptionKind.AMOUNT,
        consumption_amount=amount,
        state=ledger.AttestationState.ISSUED,
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        redeemed_at=None,
        transaction_ref=None,
        response=b"\x00token\xff",
    )


def test_ledger_single_use_and_capacity(backend: Backend) -> None:
    conn = backend.connect()
    conn.execute("BEGIN")
    ledger.insert(conn, _attestation("j1", 600))
    ledger.mark_redeemed(conn, "j1", "fx-1", NOW)
    with pytest.raises(DomainError) as again:
        ledger.mark_redeemed(conn, "j1", "fx-2", NOW)
    assert again.value.reason is Reason.ATTESTATION_ALREADY_REDEEMED
    assert ledger.consume_amount(conn, "income", "inc-2025", 600, 1000) == 400
    with pytest.raises(DomainError) as exhausted:
        ledger.consume_amount(conn, "income", "inc-2025", 401, 1000)
    assert exhausted.value.reason is Reason.CAPACITY_EXHAUSTED
    assert ledger.consume_amount(conn, "income", "inc-2025", 400, 1000) == 0
    ledger.pledge(conn, "receipt", "wr-1", "j1")
    with pytest.raises(DomainError):
        ledger.pledge(conn, "receipt", "wr-1", "j2")
    conn.execute("COMMIT")
    row = ledger.get(conn, "j1")
    assert (row.state, row.transaction_ref, row.response) == (
        ledger.AttestationState.REDEEMED,
        "fx-1",
        b"\x00token\xff",
    )
    assert ledger.consumed(conn, "income", "inc-2025") == (1000, None)


def race(backend: Backend, work: Callable[[Connection, int], None], writers: int = 6) -> list[str]:
    """Run ``work`` on ``writers`` connections at once, each in a batch transaction."""
    outcomes: list[str] = []
    barrier = threading.Barrier(writers)
    conns = [backend.connect() for _ in range(writers)]

    def run(conn: Connection, n: int) -> None:
        barrier.wait()
        backend.begin_batch(conn)
        try:
            work(conn, n)
        except DomainError as exc:
            conn.execute("ROLLBACK")
            outcomes.append(exc.reason.value)
            return
        conn.execute("COMMIT")
        outcomes.append("ok")

    threads = [threading.Thread(target=run, args=(c, n)) for n, c in enumerate(conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_ledger_is_race_free_across_writers(backend: Backend) -> None:
    # Six writers (six connections: think replicas) at once. The conditional update keeps single
    # use; the capacity check reads and then writes, which only the batch lock makes safe.
    setup = backend.connect()
    setup.execute("BEGIN")
    for n in range(7):
        ledger.insert(setup, _attestation(f"j{n}", 300))
    setup.execute("COMMIT")

    def same_attestation(conn: Connection, n: int) -> None:
        ledger.mark_redeemed(conn, "j6", f"fx-{n}", NOW)

    def own_attestation(conn: Connection, n: int) -> None:
        ledger.mark_redeemed(conn, f"j{n}", f"fx-{n}", NOW)
        ledger.consume_amount(conn, "income", "inc-2025", 300, 1000)

    assert race(backend, same_attestation) == ["ATTESTATION_ALREADY_REDEEMED"] * 5 + ["ok"]
    assert race(backend, own_attestation) == ["CAPACITY_EXHAUSTED"] * 3 + ["ok"] * 3
    assert ledger.consumed(setup, "income", "inc-2025") == (900, None)


def test_idempotency_table(backend: Backend) -> None:
    conn = backend.connect()
    key = IdempotencyKey.of(method="m", caller="bank|b1", request_id="r-1", request=b"req")
    other = IdempotencyKey.of(method="m", caller="bank|b1", request_id="r-1", request=b"other")
    assert idempotency.lookup(conn, key) is None
    conn.execute("BEGIN")
    idempotency.remember(conn, key, b"\x00resp", NOW.isoformat())
    conn.execute("COMMIT")
    assert idempotency.lookup(conn, key) == b"\x00resp"
    with pytest.raises(DomainError) as caught:
        idempotency.lookup(conn, other)
    assert caught.value.reason is Reason.REQUEST_ID_CONFLICT
    elsewhere = IdempotencyKey.of(method="m", caller="bank|b2", request_id="r-1", request=b"req")
    assert idempotency.lookup(conn, elsewhere) is None


def test_idempotency_claim_stores_once_and_replays(backend: Backend) -> None:
    conn = backend.connect()
    key = IdempotencyKey.of(method="m", caller="bank|b1", request_id="r-9", request=b"req")
    other = IdempotencyKey.of(method="m", caller="bank|b1", request_id="r-9", request=b"other")
    assert idempotency.claim(conn, None, b"ignored", NOW.isoformat()) is None
    conn.execute("BEGIN")
    assert idempotency.claim(conn, key, b"first", NOW.isoformat()) is None
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    assert idempotency.claim(conn, key, b"second", NOW.isoformat()) == b"first"
    with pytest.raises(DomainError) as caught:
        idempotency.claim(conn, other, b"third", NOW.isoformat())
    conn.execute("ROLLBACK")
    assert caught.value.reason is Reason.REQUEST_ID_CONFLICT
    assert idempotency.lookup(conn, key) == b"first"  # the replays wrote nothing
