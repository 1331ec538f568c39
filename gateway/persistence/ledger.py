"""Issued attestations and the capacity they may consume, in SQL (SQLite or PostgreSQL).

An attestation row moves ISSUED -> REDEEMED exactly once: the redemption is a conditional update
(``WHERE state = 'ISSUED'``) inside the unit of work that also applies the purpose's consumption, so
single use and capacity hold even if units of work ran concurrently (on PostgreSQL the batch
transactions of all replicas are serialized too: ``gateway.persistence.postgres``).

Capacity rows are keyed by (domain, record_id): income tracks the minor units consumed from a tax
year's after-tax income; warehouse receipts and patents track who pledged them. This ledger is the
one source of truth for encumbrance (docs/catalog.md): a pledge holds until the redemption that
made it is released (``release``), never because a provider uploaded another status.

A release returns what one redemption consumed (the pledge, or the amount) with a conditional
update (``pledged_by = jti``; ``consumed >= amount``) and records one ``releases`` row per
attestation: a second release finds it and answers the first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from attestgate.audit.sql import Connection
from attestgate.gateway.persistence.migrate import create_sqlite_schema
from attestgate.protocol.reasons import DomainError, Reason


class AttestationState(StrEnum):
    """Lifecycle of one attestation."""

    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"
    """A read-time view of an ISSUED attestation past its ``exp``; never stored."""


class ConsumptionKind(StrEnum):
    """What a redemption consumes (declared per purpose in the catalog)."""

    NONE = "none"
    AMOUNT = "amount"
    PLEDGE = "pledge"


@dataclass(frozen=True)
class AttestationRow:
    """What the gateway remembers of an issued attestation (never the record's values)."""

    jti: str
    consent_id: str
    grantee: str
    domain: str
    purpose: str
    record_id: str
    consumption_kind: ConsumptionKind
    consumption_amount: int
    state: AttestationState
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    transaction_ref: str | None
    response: bytes


# Named, in table order, so a row reads the same on every backend.
_SELECT = (
    "SELECT jti, consent_id, grantee, domain, purpose, record_id, consumption_kind, "
    "consumption_amount, state, issued_at, expires_at, redeemed_at, transaction_ref, response "
    "FROM attestations"
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """SQLite: create the gateway's tables if missing (the schema lives in
    ``gateway.persistence``)."""
    create_sqlite_schema(conn)


def insert(conn: Connection, row: AttestationRow) -> None:
    """Record a newly issued attestation."""
    conn.execute(
        "INSERT INTO attestations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.jti,
            row.consent_id,
            row.grantee,
            row.domain,
            row.purpose,
            row.record_id,
            row.consumption_kind.value,
            row.consumption_amount,
            row.state.value,
            _ts(row.issued_at),
            _ts(row.expires_at),
            None,
            None,
            row.response,
        ),
    )


def get(conn: Connection, jti: str) -> AttestationRow:
    """One attestation by jti (``ATTESTATION_NOT_FOUND`` if unknown)."""
    found = conn.execute(_SELECT + " WHERE jti = ?", (jti,)).fetchone()
    if found is None:
        raise DomainError(Reason.ATTESTATION_NOT_FOUND, "no such attestation")
    return _row(found)


def mark_redeemed(conn: Connection, jti: str, transaction_ref: str, now: datetime) -> None:
    """ISSUED -> REDEEMED, or ``ATTESTATION_ALREADY_REDEEMED`` if it was redeemed before."""
    cursor = conn.execute(
        "UPDATE attestations SET state = ?, redeemed_at = ?, transaction_ref = ? "
        "WHERE jti = ? AND state = ?",
        (
            AttestationState.REDEEMED.value,
            _ts(now),
            transaction_ref,
            jti,
            AttestationState.ISSUED.value,
        ),
    )
    if cursor.rowcount != 1:
        raise DomainError(
            Reason.ATTESTATION_ALREADY_REDEEMED,
            "the attestation was already redeemed",
            metadata={"jti": jti},
        )


def consumed(conn: Connection, domain: str, record_id: str) -> tuple[int, str | None]:
    """(minor units consumed, jti of the pledge or None) for a record."""
    found = conn.execute(
        "SELECT consumed, pledged_by FROM capacity WHERE domain = ? AND record_id = ?",
        (domain, record_id),
    ).fetchone()
    return (0, None) if found is None else (int(found[0]), found[1])


def consume_amount(conn: Connection, domain: str, record_id: str, amount: int, limit: int) -> int:
    """Consume ``amount`` from a record's capacity ``limit``; returns what remains.

    ``CAPACITY_EXHAUSTED`` when what was consumed before plus ``amount`` would exceed the limit.
    """
    already, _ = consumed(conn, domain, record_id)
    if amount < 0 or already + amount > limit:
        raise DomainError(Reason.CAPACITY_EXHAUSTED, "not enough capacity left on the record")
    conn.execute(
        "INSERT INTO capacity (domain, record_id, consumed) VALUES (?, ?, ?) "
        "ON CONFLICT(domain, record_id) DO UPDATE "
        "SET consumed = capacity.consumed + excluded.consumed",
        (domain, record_id, amount),
    )
    return limit - already - amount


def pledge(conn: Connection, domain: str, record_id: str, jti: str) -> None:
    """Pledge a record to the redemption ``jti``; ``CAPACITY_EXHAUSTED`` if already pledged."""
    _, pledged_by = consumed(conn, domain, record_id)
    if pledged_by is not None:
        raise DomainError(Reason.CAPACITY_EXHAUSTED, "the asset is already pledged")
    conn.execute(
        "INSERT INTO capacity (domain, record_id, pledged_by) VALUES (?, ?, ?) "
        "ON CONFLICT(domain, record_id) DO UPDATE SET pledged_by = excluded.pledged_by",
        (domain, record_id, jti),
    )


@dataclass(frozen=True)
class ReleaseRow:
    """A release of what the redemption ``jti`` consumed (no personal value: the record is the
    attestation's, the amount a transaction's)."""

    jti: str
    consumption_kind: ConsumptionKind
    amount: int
    currency: str
    reason: str
    released_by_role: str
    released_by: str
    released_at: datetime
    log_index: int


_SELECT_RELEASE = (
    "SELECT jti, consumption_kind, amount, currency, reason, released_by_role, released_by, "
    "released_at, log_index FROM releases"
)


def get_release(conn: Connection, jti: str) -> ReleaseRow | None:
    """The release of the redemption ``jti``, if it was released."""
    found = conn.execute(_SELECT_RELEASE + " WHERE jti = ?", (jti,)).fetchone()
    if found is None:
        return None
    (jti_, kind, amount, currency, reason, role, actor, at, index) = tuple(found)
    return ReleaseRow(
        jti=str(jti_),
        consumption_kind=ConsumptionKind(kind),
        amount=int(amount),
        currency=str(currency),
        reason=str(reason),
        released_by_role=str(role),
        released_by=str(actor),
        released_at=datetime.fromisoformat(str(at)),
        log_index=int(index),
    )


def release(
    conn: Connection,
    row: AttestationRow,
    *,
    currency: str,
    reason: str,
    role: str,
    actor: str,
    now: datetime,
) -> ReleaseRow:
    """Return what the redeemed attestation ``row`` consumed: its pledge (the asset is free
    again) or its amount (the income capacity grows back). ``NOTHING_TO_RELEASE`` if it was not
    redeemed, consumed nothing, or its pledge / amount no longer stands."""
    if row.state is not AttestationState.REDEEMED:
        raise DomainError(
            Reason.NOTHING_TO_RELEASE,
            "the attestation was not redeemed, so it consumed nothing to release",
            metadata={"jti": row.jti},
        )
    if row.consumption_kind is ConsumptionKind.PLEDGE:
        freed = conn.execute(
            "UPDATE capacity SET pledged_by = NULL "
            "WHERE domain = ? AND record_id = ? AND pledged_by = ?",
            (row.domain, row.record_id, row.jti),
        ).rowcount
        amount = 0
    elif row.consumption_kind is ConsumptionKind.AMOUNT:
        amount = row.consumption_amount
        freed = conn.execute(
            "UPDATE capacity SET consumed = consumed - ? "
            "WHERE domain = ? AND record_id = ? AND consumed >= ?",
            (amount, row.domain, row.record_id, amount),
        ).rowcount
    else:
        freed = 0
    if freed != 1:
        raise DomainError(
            Reason.NOTHING_TO_RELEASE,
            "this redemption holds no pledge or amount to release",
            metadata={"jti": row.jti},
        )
    released = ReleaseRow(
        jti=row.jti,
        consumption_kind=row.consumption_kind,
        amount=amount,
        currency=currency if amount else "",
        reason=reason,
        released_by_role=role,
        released_by=actor,
        released_at=now,
        log_index=-1,
    )
    conn.execute(
        "INSERT INTO releases (jti, consumption_kind, amount, currency, reason, released_by_role, "
        "released_by, released_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (released.jti, released.consumption_kind.value, released.amount, released.currency,
         reason, role, actor, _ts(now)),
    )  # fmt: skip
    return released


def set_release_log_index(conn: Connection, jti: str, index: int) -> None:
    """Remember the log index of a release's event (in the batch that appends it)."""
    conn.execute("UPDATE releases SET log_index = ? WHERE jti = ?", (index, jti))


def _row(found: Sequence[Any]) -> AttestationRow:
    (jti, consent_id, grantee, domain, purpose, record_id, kind, amount, state, issued, expires,
     redeemed, ref, response) = tuple(found)  # fmt: skip
    return AttestationRow(
        jti=str(jti),
        consent_id=str(consent_id),
        grantee=str(grantee),
        domain=str(domain),
        purpose=str(purpose),
        record_id=str(record_id),
        consumption_kind=ConsumptionKind(kind),
        consumption_amount=int(amount),
        state=AttestationState(state),
        issued_at=datetime.fromisoformat(str(issued)),
        expires_at=datetime.fromisoformat(str(expires)),
        redeemed_at=datetime.fromisoformat(str(redeemed)) if redeemed else None,
        transaction_ref=str(ref) if ref is not None else None,
        response=bytes(response),
    )


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
