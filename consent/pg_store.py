"""``ConsentStore`` on PostgreSQL, in plain SQL (the scale-out backend).

The connection is any DB-API-like object with ``execute(sql, params)`` and ``?`` placeholders (the
gateway passes ``gateway.db.postgres.PgConnection`` or ``PooledReader``). The store never begins or
commits: writes run inside the gateway's batch transaction, which serializes the writers of every
replica (``gateway.db.postgres``), so the optimistic ``update_*`` checks hold across replicas too.

Inserts use ``ON CONFLICT DO NOTHING`` and read a duplicate from the row count: a unique violation
would abort the caller's whole PostgreSQL transaction, not only the statement, so a refused
duplicate must not raise inside the database. Rows have the columns (and text encodings) of the
SQLite store; flags are BOOLEAN here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

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

__all__ = ["PgConsentStore"]

_REQUEST_COLUMNS = (
    "id", "owner", "grantee", "domain", "purpose", "claims", "record_id", "valid_for_us",
    "max_uses", "separate_consent", "cross_border", "state", "created_at", "expires_at",
    "decided_at", "consent_id", "request_key",
)  # fmt: skip
_CONSENT_COLUMNS = (
    "id", "request_id", "owner", "grantee", "domain", "purpose", "claims", "record_domain",
    "record_id", "valid_from", "valid_until", "max_uses", "uses", "data_life_us",
    "separate_consent", "cross_border", "created_at", "state", "artefact_jws", "artefact_hash",
)  # fmt: skip
_EVENT_COLUMNS = (
    "seq", "request_id", "consent_id", "grantee", "owner", "state_kind", "state", "at",
)  # fmt: skip
_COLUMNS = {"consents": _CONSENT_COLUMNS, "consent_requests": _REQUEST_COLUMNS}
_FLAGS = frozenset({"separate_consent", "cross_border"})


class _Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlConnection(Protocol):
    """What the store needs of a connection (``audit.sql.Connection`` satisfies it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any:
        """Run one statement with ``?`` placeholders; returns a cursor."""
        ...


class PgConsentStore(SqlListing):
    """A ``ConsentStore`` in PostgreSQL; the caller owns (and commits) the transaction."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    def _run(self, sql: str, params: Sequence[object]) -> _Cursor:
        cursor: _Cursor = self._conn.execute(sql, params)
        return cursor

    def _insert(self, table: str, columns: Sequence[str], row: Mapping[str, object]) -> bool:
        """Insert ``row``; False (nothing written) when a unique key already holds it."""
        values = [bool(row[c]) if c in _FLAGS else row[c] for c in columns]
        marks = ", ".join("?" * len(columns))
        # Table and column names are the constants above; every value is a bound parameter.
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608
        return self._run(sql, values).rowcount == 1

    def _one(
        self, table: str, columns: Sequence[str], key: str, value: str
    ) -> dict[str, Any] | None:
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?"  # noqa: S608 - constants
        row = self._run(sql, [value]).fetchone()
        return None if row is None else dict(zip(columns, row, strict=True))

    def add_request(self, request: ConsentRequest) -> None:
        """Store a new request."""
        if not self._insert("consent_requests", _REQUEST_COLUMNS, _request_row(request)):
            raise conflict("consent request")

    def get_request(self, request_id: RequestId) -> ConsentRequest:
        """The request, or CONSENT_REQUEST_NOT_FOUND."""
        row = self._one("consent_requests", _REQUEST_COLUMNS, "id", request_id)
        if row is None:
            raise DomainError(Reason.CONSENT_REQUEST_NOT_FOUND, "no such consent request")
        return _request(row)

    def find_request_by_key(self, grantee: GranteeId, request_key: str) -> ConsentRequest | None:
        """The grantee's request with this idempotency key, if any."""
        if not request_key:
            return None
        sql = (
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM consent_requests "  # noqa: S608 - constants
            "WHERE grantee = ? AND request_key = ?"
        )
        row = self._run(sql, [grantee, request_key]).fetchone()
        return None if row is None else _request(dict(zip(_REQUEST_COLUMNS, row, strict=True)))

    def update_request(self, request: ConsentRequest, *, expected_state: RequestState) -> None:
        """Set state, decided_at and consent_id if the state is still ``expected_state``."""
        row = _request_row(request)
        cursor = self._run(
            "UPDATE consent_requests SET state = ?, decided_at = ?, consent_id = ?"
            " WHERE id = ? AND state = ?",
            [row["state"], row["decided_at"], row["consent_id"], request.id, expected_state.value],
        )
        if cursor.rowcount != 1:
            self.get_request(request.id)  # NOT_FOUND first, so a missing id is not "stale"
            raise stale("request")

    def add_consent(self, consent: Consent) -> None:
        """Store a new consent."""
        if not self._insert("consents", _CONSENT_COLUMNS, _consent_row(consent)):
            raise conflict("consent")

    def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or CONSENT_NOT_FOUND."""
        row = self._one("consents", _CONSENT_COLUMNS, "id", consent_id)
        if row is None:
            raise DomainError(Reason.CONSENT_NOT_FOUND, "no such consent")
        return _consent(row)

    def update_consent(
        self, consent: Consent, *, expected_state: ConsentState, expected_uses: int
    ) -> None:
        """Replace state and uses if the stored ones are still the expected ones."""
        cursor = self._run(
            "UPDATE consents SET state = ?, uses = ? WHERE id = ? AND state = ? AND uses = ?",
            [consent.state.value, consent.uses, consent.id, expected_state.value, expected_uses],
        )
        if cursor.rowcount != 1:
            self.get_consent(consent.id)
            raise stale("consent")

    def use_consent(self, consent_id: ConsentId, *, now: datetime) -> tuple[int, int]:
        """Count one use if the consent is usable at ``now``; (uses, max_uses) after it."""
        row = self._run(USE_CONSENT_SQL, [consent_id, _ts(now), _ts(now)]).fetchone()
        if row is None:
            raise refuse_use(self.get_consent(consent_id), now)
        return int(row[0]), int(row[1])

    def count_pending_requests(self, owner: OwnerId, grantee: GranteeId, now: datetime) -> int:
        """The grantee's requests to ``owner`` that are PENDING and not expired at ``now``."""
        (count,) = self._run(COUNT_PENDING_SQL, [owner, grantee, _ts(now)]).fetchone()
        return int(count)

    def _columns(self, table: str) -> str:
        # Explicit columns: a psycopg row is a tuple, and the mapping needs the names.
        return ", ".join(_COLUMNS[table])

    def _select(self, table: str, sql: str, params: list[object]) -> list[dict[str, Any]]:
        # The id columns are COLLATE "C": byte order, as in SQLite and in memory.
        columns = _COLUMNS[table]
        return [dict(zip(columns, row, strict=True)) for row in self._run(sql, params).fetchall()]

    def append_event(self, event: ConsentEvent) -> ConsentEvent:
        """Store ``event`` with the next ``seq`` and return it."""
        kind = "request" if isinstance(event.state, RequestState) else "consent"
        values = [event.request_id, event.consent_id, event.grantee, event.owner, kind]
        found = self._run(
            "INSERT INTO consent_events (request_id, consent_id, grantee, owner, state_kind, "
            "state, at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            [*values, event.state.value, _ts(event.at)],
        ).fetchone()
        return ConsentEvent(
            int(found[0]),
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
        sql = (
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM consent_events "  # noqa: S608 - constants
            "WHERE grantee = ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        rows = self._run(sql, [grantee, seq, limit]).fetchall()
        return [_event(dict(zip(_EVENT_COLUMNS, row, strict=True))) for row in rows]
