"""Attestation rows and the capacity ledger: single use and never over-consumed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attestgate.gateway.persistence import ledger
from attestgate.protocol.reasons import DomainError, Reason

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    ledger.ensure_schema(conn)
    yield conn
    conn.close()


def row(
    jti: str = "j1", kind: ledger.ConsumptionKind = ledger.ConsumptionKind.AMOUNT
) -> ledger.AttestationRow:
    return ledger.AttestationRow(
        jti=jti,
        consent_id="c1",
        grantee="bank-a",
        domain="income",
        purpose="fx_purchase",
        record_id="inc-2025",
        consumption_kind=kind,
        consumption_amount=355_000_00,
        state=ledger.AttestationState.ISSUED,
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        redeemed_at=None,
        transaction_ref=None,
        response=b"{}",
    )


def test_insert_get_round_trip(db: sqlite3.Connection) -> None:
    ledger.insert(db, row())
    got = ledger.get(db, "j1")
    assert got == row()


def test_unknown_jti(db: sqlite3.Connection) -> None:
    with pytest.raises(DomainError) as err:
        ledger.get(db, "nope")
    assert err.value.reason is Reason.ATTESTATION_NOT_FOUND


def test_redeem_exactly_once(db: sqlite3.Connection) -> None:
    ledger.insert(db, row())
    ledger.mark_redeemed(db, "j1", "fx-1", NOW)
    with pytest.raises(DomainError) as err:
        ledger.mark_redeemed(db, "j1", "fx-2", NOW)
    assert err.value.reason is Reason.ATTESTATION_ALREADY_REDEEMED
    got = ledger.get(db, "j1")
    assert got.state is ledger.AttestationState.REDEEMED
    assert got.transaction_ref == "fx-1"


def test_amount_capacity_never_exceeded(db: sqlite3.Connection) -> None:
    assert ledger.consume_amount(db, "income", "r", 60, 100) == 40
    with pytest.raises(DomainError) as err:
        ledger.consume_amount(db, "income", "r", 41, 100)
    assert err.value.reason is Reason.CAPACITY_EXHAUSTED
    assert ledger.consume_amount(db, "income", "r", 40, 100) == 0
    assert ledger.consumed(db, "income", "r") == (100, None)
    with pytest.raises(DomainError):
        ledger.consume_amount(db, "income", "r", -1, 100)


def test_pledge_once(db: sqlite3.Connection) -> None:
    ledger.pledge(db, "patent", "CN2020", "j1")
    with pytest.raises(DomainError) as err:
        ledger.pledge(db, "patent", "CN2020", "j2")
    assert err.value.reason is Reason.CAPACITY_EXHAUSTED
    assert ledger.consumed(db, "patent", "CN2020") == (0, "j1")
