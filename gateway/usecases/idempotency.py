"""Idempotent creates (AIP-155): the same request_id returns the same result, once.

A caller's ``request_id`` is scoped to the caller (its role and subject) and the method. The first
successful call stores a fingerprint of the request and the serialized response inside the same
transaction as its effects; a retry with the same fingerprint gets the stored response and changes
nothing; a retry with a different request under the same id is refused (``REQUEST_ID_CONFLICT``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from attestgate.audit.sql import Connection
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason

MAX_REQUEST_ID = 128
_INSERT = "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class IdempotencyKey:
    """Who asked, for which method, with which request_id, and a fingerprint of the request."""

    scope: str
    request_id: str
    fingerprint: bytes

    @staticmethod
    def of(*, method: str, caller: str, request_id: str, request: bytes) -> IdempotencyKey | None:
        """The key of a call, or None when the caller gave no request_id."""
        if not request_id:
            return None
        if len(request_id) > MAX_REQUEST_ID or not request_id.isprintable():
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                "request_id is too long or not printable",
                violations=[
                    FieldViolation("request_id", f"at most {MAX_REQUEST_ID} printable chars")
                ],
            )
        return IdempotencyKey(
            scope=f"{method}|{caller}",
            request_id=request_id,
            fingerprint=hashlib.sha256(request).digest(),
        )


def lookup(conn: Connection, key: IdempotencyKey | None) -> bytes | None:
    """The stored response of an earlier identical call, if any; a conflicting one is refused."""
    if key is None:
        return None
    row = conn.execute(
        "SELECT fingerprint, response FROM idempotency WHERE scope = ? AND request_id = ?",
        (key.scope, key.request_id),
    ).fetchone()
    if row is None:
        return None
    if bytes(row[0]) != key.fingerprint:
        raise DomainError(
            Reason.REQUEST_ID_CONFLICT,
            "request_id was already used for a different request",
            metadata={"request_id": key.request_id},
        )
    return bytes(row[1])


def remember(conn: Connection, key: IdempotencyKey | None, response: bytes, now: str) -> None:
    """Store the response of a first successful call (inside its transaction)."""
    if key is None:
        return
    conn.execute(_INSERT, (key.scope, key.request_id, key.fingerprint, response, now))


def claim(conn: Connection, key: IdempotencyKey | None, response: bytes, now: str) -> bytes | None:
    """``remember`` unless an earlier call holds the key: then its response, as ``lookup``.

    One statement in the common case (the key is new), for units of work on the hot path. Call it
    before the unit's other writes: a refusal after it rolls the claim back with them.
    """
    if key is None:
        return None
    inserted = conn.execute(
        _INSERT + " ON CONFLICT (scope, request_id) DO NOTHING",
        (key.scope, key.request_id, key.fingerprint, response, now),
    ).rowcount
    return None if inserted == 1 else lookup(conn, key)
