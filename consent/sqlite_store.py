"""``ConsentStore`` on SQLite through sqlite-utils (the embedded default backend).

The store never commits. The gateway runs every write inside one group-committed transaction
(DESIGN.md "Audit log": group commit), so a consent change and its audit entry become durable
together. Before writing, the store opens a transaction if none is open (as Python's sqlite3 does
implicitly before DML), and sqlite-utils then works inside a SAVEPOINT, so a failed insert undoes
only itself. The caller commits or rolls back.

Datetimes are stored as ISO 8601 UTC text with microseconds (fixed width, so text order is time
order); timedeltas as integer microseconds; claim lists as JSON arrays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlite_utils

from attestgate.consent._rows import (
    SqlListing,
    _consent,
    _consent_row,
    _event,
    _request,
    _request_row,
    _ts,
)
from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentId,
    ConsentRequest,
    ConsentState,
    GranteeId,
    OwnerId,
    RequestId,
    RequestState,
)
from attestgate.consent.store import (
    COUNT_PENDING_SQL,
    USE_CONSENT_SQL,
    check_page_size,
    conflict,
    refuse_use,
    stale,
)
from attestgate.protocol.reasons import DomainError, Reason

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS consent_requests (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, grantee TEXT NOT NULL, domain TEXT NOT NULL,
        purpose TEXT NOT NULL, claims TEXT NOT NULL, record_id TEXT, valid_for_us INTEGER NOT NULL,
        max_uses INTEGER NOT NULL, separate_consent INTEGER NOT NULL, cross_border INTEGER NOT NULL,
        state TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, decided_at TEXT,
        consent_id TEXT, request_key TEXT NOT NULL DEFAULT '')""",
    # Idempotency: one request per (bank, key); an empty key means "no key".
    """CREATE UNIQUE INDEX IF NOT EXISTS consent_requests_key
        ON consent_requests (grantee, request_key) WHERE request_key <> ''""",
    "CREATE INDEX IF NOT EXISTS consent_requests_owner ON consent_requests (owner, id)",
    "CREATE INDEX IF NOT EXISTS consent_requests_grantee ON consent_requests (grantee, id)",
    """CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
        grantee TEXT NOT NULL, domain TEXT NOT NULL, purpose TEXT NOT NULL, claims TEXT NOT NULL,
        record_domain TEXT NOT NULL, record_id TEXT, valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL,
        data_life_us INTEGER NOT NULL, separate_consent INTEGER NOT NULL,
        cross_border INTEGER NOT NULL, created_at TEXT NOT NULL, state TEXT NOT NULL,
        artefact_jws TEXT NOT NULL, artefact_hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS consents_owner ON consents (owner, id)",
    "CREATE INDEX IF NOT EXISTS consents_grantee ON consents (grantee, id)",
    # AUTOINCREMENT: a seq is never reused, even after the newest row is deleted, so a bank's
    # resume cursor can never skip an event.
    """CREATE TABLE IF NOT EXISTS consent_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, consent_id TEXT,
        grantee TEXT NOT NULL, owner TEXT NOT NULL, state_kind TEXT NOT NULL,
        state TEXT NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS consent_events_grantee ON consent_events (grantee, seq)",
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the consent tables and indexes if missing (idempotent; does not commit)."""
    for statement in _SCHEMA:
        conn.execute(statement)


class SqliteConsentStore(SqlListing):
    """A ``ConsentStore`` in a SQLite database; the caller owns (and commits) the transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._db_wrapper: sqlite_utils.Database | None = None

    @property
    def _db(self) -> sqlite_utils.Database:
        # Built on first use: reads (the hot path) go straight to the connection.
        if self._db_wrapper is None:
            self._db_wrapper = sqlite_utils.Database(self._conn)
        return self._db_wrapper

    def _begin(self) -> None:
        # Join the caller's transaction, or open one the caller will commit: never autocommit.
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")

    def _insert(self, table: str, row: Mapping[str, object], what: str) -> int | None:
        self._begin()
        try:
            inserted = self._db.table(table).insert(dict(row))
        except sqlite3.IntegrityError:
            raise conflict(what) from None
        return inserted.last_rowid

    def _one(self, sql: str, params: list[object]) -> dict[str, Any] | None:
        cursor = self._conn.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([column[0] for column in cursor.description], row, strict=True))

    def add_request(self, request: ConsentRequest) -> None:
        """Store a new request."""
        self._insert("consent_requests", _request_row(request), "consent request")

    def get_request(self, request_id: RequestId) -> ConsentRequest:
        """The request, or CONSENT_REQUEST_NOT_FOUND."""
        row = self._one("SELECT * FROM consent_requests WHERE id = ?", [request_id])
        if row is None:
            raise DomainError(Reason.CONSENT_REQUEST_NOT_FOUND, "no such consent request")
        return _request(row)

    def find_request_by_key(self, grantee: GranteeId, request_key: str) -> ConsentRequest | None:
        """The grantee's request with this idempotency key, if any."""
        if not request_key:
            return None
        sql = "SELECT * FROM consent_requests WHERE grantee = ? AND request_key = ?"
        row = self._one(sql, [grantee, request_key])
        return None if row is None else _request(row)

    def update_request(self, request: ConsentRequest, *, expected_state: RequestState) -> None:
        """Set state, decided_at and consent_id if the state is still ``expected_state``."""
        self._begin()
        row = _request_row(request)
        cursor = self._conn.execute(
            "UPDATE consent_requests SET state = ?, decided_at = ?, consent_id = ?"
            " WHERE id = ? AND state = ?",
            [row["state"], row["decided_at"], row["consent_id"], request.id, expected_state.value],
        )
        if cursor.rowcount != 1:
            self.get_request(request.id)  # NOT_FOUND first, so a missing id is not "stale"
            raise stale("request")

    def add_consent(self, consent: Consent) -> None:
        """Store a new consent."""
        self._insert("consents", _consent_row(consent), "consent")

    def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or CONSENT_NOT_FOUND."""
        row = self._one("SELECT * FROM consents WHERE id = ?", [consent_id])
        if row is None:
            raise DomainError(Reason.CONSENT_NOT_FOUND, "no such consent")
        return _consent(row)

    def update_consent(
        self, consent: Consent, *, expected_state: ConsentState, expected_uses: int
    ) -> None:
        """Replace state and uses if the stored ones are still the expected ones."""
        self._begin()
        cursor = self._conn.execute(
            "UPDATE consents SET state = ?, uses = ? WHERE id = ? AND state = ? AND uses = ?",
            [consent.state.value, consent.uses, consent.id, expected_state.value, expected_uses],
        )
        if cursor.rowcount != 1:
            self.get_consent(consent.id)
            raise stale("consent")

    def use_consent(self, consent_id: ConsentId, *, now: datetime) -> tuple[int, int]:
        """Count one use if the consent is usable at ``now``; (uses, max_uses) after it."""
        self._begin()
        row = self._conn.execute(USE_CONSENT_SQL, [consent_id, _ts(now), _ts(now)]).fetchone()
        if row is None:
            raise refuse_use(self.get_consent(consent_id), now)
        return int(row[0]), int(row[1])

    def count_pending_requests(self, owner: OwnerId, grantee: GranteeId, now: datetime) -> int:
        """The grantee's requests to ``owner`` that are PENDING and not expired at ``now``."""
        (count,) = self._conn.execute(COUNT_PENDING_SQL, [owner, grantee, _ts(now)]).fetchone()
        return int(count)

    def _select(self, table: str, sql: str, params: list[object]) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def append_event(self, event: ConsentEvent) -> ConsentEvent:
        """Store ``event`` with the next ``seq`` and return it."""
        row = {
            "request_id": event.request_id,
            "consent_id": event.consent_id,
            "grantee": event.grantee,
            "owner": event.owner,
            "state_kind": "request" if isinstance(event.state, RequestState) else "consent",
            "state": event.state.value,
            "at": _ts(event.at),
        }
        seq = self._insert("consent_events", row, "consent event")
        assert seq is not None
        return ConsentEvent(
            seq,
            event.request_id,
            event.consent_id,
            event.grantee,
            event.owner,
            event.state,
            event.at,
        )

    def events_after(self, grantee: GranteeId, seq: int, limit: int = 100) -> list[ConsentEvent]:
        """The grantee's events after ``seq``, oldest first."""
        check_page_size(limit)
        sql = "SELECT * FROM consent_events WHERE grantee = ? AND seq > ? ORDER BY seq LIMIT ?"
        return [_event(row) for row in self._db.query(sql, [grantee, seq, limit])]
