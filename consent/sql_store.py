"""``ConsentStore`` in SQL: one implementation for SQLite and PostgreSQL.

The store speaks ``audit.sql.Connection`` (``?`` placeholders), as the audit log, the vault, the
ledger and idempotency do: a ``sqlite3.Connection`` as is, or the gateway's PostgreSQL adapters
(``gateway.persistence.postgres``). The tables come from the gateway's migrations
(``gateway/persistence/migrations``), the only place that writes DDL. Every statement runs
unchanged on
both backends:

- Inserts use ``ON CONFLICT DO NOTHING`` and read a duplicate from the row count: on PostgreSQL a
  unique violation would abort the caller's whole transaction, not only the statement, so a
  refused duplicate must not raise inside the database (SQLite >= 3.24 has the same clause).
- ``RETURNING`` (SQLite >= 3.35) hands back an event's ``seq`` and a counted use.
- Flags are bound as ``bool`` (``consent._rows``); ids sort in byte order (SQLite's default,
  ``COLLATE "C"`` in the PostgreSQL schema).

The store never commits. Writes join the caller's transaction: in the gateway, a group-committed
batch (DESIGN.md "Audit log"), so a consent change and its audit entry become durable together,
and batches of every replica are serialized (``gateway.persistence.postgres``), so the optimistic
``update_*`` checks hold across replicas. On a connection with no transaction open, a write opens
one that the caller commits or rolls back: never autocommit. Writes therefore need a connection
of one session (not ``PooledReader``, which is for reads).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from attestgate.audit.sql import Connection, Cursor
from attestgate.consent._rows import (
    CONSENT_COLUMNS,
    EVENT_COLUMNS,
    REQUEST_COLUMNS,
    _consent,
    _consent_row,
    _event,
    _request,
    _request_row,
    _ts,
    bounds_text,
    named,
)
from attestgate.consent.machine import READ_RULES, ReadRule, check_usable
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
from attestgate.consent.store import Page, check_page_size, conflict, make_page, stale
from attestgate.protocol.reasons import DomainError, Reason

__all__ = ["SqlConsentStore"]


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    # Table and column names are this module's constants; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608


# A request's bounds (issue 20) live in their own table (one row per request that has any).
_REQUEST_SELECT = (*REQUEST_COLUMNS, "bounds")
_REQUESTS = (
    f"SELECT {', '.join(REQUEST_COLUMNS)},"  # noqa: S608 - constants
    " (SELECT b.bounds FROM consent_request_bounds b WHERE b.request_id = consent_requests.id)"
    " AS bounds FROM consent_requests"
)
_INSERT_BOUNDS = (
    "INSERT INTO consent_request_bounds (request_id, bounds) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
_CONSENTS = f"SELECT {', '.join(CONSENT_COLUMNS)} FROM consents"  # noqa: S608
_GET_REQUEST = f"{_REQUESTS} WHERE id = ?"
_FIND_REQUEST = f"{_REQUESTS} WHERE grantee = ? AND request_key = ?"
_GET_CONSENT = f"{_CONSENTS} WHERE id = ?"
_INSERT_REQUEST = _insert_sql("consent_requests", REQUEST_COLUMNS)
_INSERT_CONSENT = _insert_sql("consents", CONSENT_COLUMNS)
_INSERT_EVENT = (
    "INSERT INTO consent_events (request_id, consent_id, grantee, owner, state_kind, state, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
_EVENTS_AFTER = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_events"  # noqa: S608 - constants
    " WHERE grantee = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_UPDATE_REQUEST = (
    "UPDATE consent_requests SET state = ?, decided_at = ?, consent_id = ?"
    " WHERE id = ? AND state = ?"
)
_UPDATE_CONSENT = "UPDATE consents SET state = ?, uses = ? WHERE id = ? AND state = ? AND uses = ?"
_USE_CONSENT = (
    "UPDATE consents SET uses = uses + 1 WHERE id = ? AND state = 'ACTIVE'"
    " AND uses < max_uses AND valid_from <= ? AND valid_until > ? RETURNING uses, max_uses"
)
_COUNT_PENDING = (
    "SELECT COUNT(*) FROM consent_requests WHERE owner = ? AND grantee = ? AND state = 'PENDING'"
    " AND expires_at > ?"
)


def listing_sql(
    select: str,
    *,
    owner: str | None,
    grantee: str | None,
    states: tuple[str, list[object]] | None,
    page_size: int,
    after_id: str | None,
) -> tuple[str, list[object]]:
    """``select`` filtered and paged by ascending id, and its parameters; ``states`` is a state
    clause and its parameters (``stored_states_sql``, ``read_states_sql``).

    One row more than the page is fetched: it proves there is a next page (``make_page``).
    """
    check_page_size(page_size)
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (("owner = ?", owner), ("grantee = ?", grantee), ("id > ?", after_id)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if states is not None:
        clauses.append(states[0])
        params.extend(states[1])
    where = " AND ".join(clauses) or "1 = 1"
    # Only fixed clause strings are interpolated; every value is bound.
    return f"{select} WHERE {where} ORDER BY id LIMIT ?", [*params, page_size + 1]


def stored_states_sql(states: Collection[ConsentState | RequestState]) -> tuple[str, list[object]]:
    """Rows whose stored ``state`` is one of ``states``."""
    values: list[object] = [state.value for state in sorted(states)]
    if not values:
        return "0 = 1", []
    return f"state IN ({', '.join('?' * len(values))})", values


def _rule_sql(rule: ReadRule, now: datetime) -> tuple[str, list[object]]:
    """``ReadRule.holds`` in SQL."""
    clause, params = stored_states_sql(rule.stored)
    if rule.lapsed:
        clause += " AND valid_until <= ?"
        params.append(_ts(now))
    if rule.spent:
        clause += " AND uses >= max_uses"
    return clause, params


def read_states_sql(states: Collection[ConsentState], now: datetime) -> tuple[str, list[object]]:
    """Consents that read as one of ``states`` at ``now``: ``machine.effective_state`` in SQL,
    built from the same ``machine.READ_RULES`` (the first rule that holds decides; a consent
    no rule holds for reads as stored)."""
    alternatives: list[str] = []
    params: list[object] = []
    earlier: list[tuple[str, list[object]]] = []
    for rule in (*READ_RULES, None):
        clause, own = _rule_sql(rule, now) if rule is not None else stored_states_sql(states)
        if rule is None or rule.reads_as in states:
            alternatives.append(" AND ".join([f"({clause})", *(f"NOT ({c})" for c, _ in earlier)]))
            params += own + [value for _, values in earlier for value in values]
        if rule is not None:
            earlier.append((clause, own))
    return "(" + " OR ".join(alternatives) + ")", params


def _required(now: datetime | None) -> datetime:
    if now is None:
        raise ValueError("filtering consents by state needs now: the state they read as then")
    return now


class SqlConsentStore:
    """A ``ConsentStore`` over one connection; the caller owns (and commits) the transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _write(self, sql: str, params: Sequence[object]) -> Cursor:
        # Join the caller's transaction, or open one the caller will commit: never autocommit.
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")
        return self._conn.execute(sql, params)

    def _one(
        self, sql: str, params: Sequence[object], columns: Sequence[str]
    ) -> Mapping[str, Any] | None:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else named(columns, row)

    def add_request(self, request: ConsentRequest) -> None:
        """Store a new request."""
        row = _request_row(request)
        if self._write(_INSERT_REQUEST, [row[c] for c in REQUEST_COLUMNS]).rowcount != 1:
            raise conflict("consent request")
        if request.bounds:
            self._write(_INSERT_BOUNDS, [request.id, bounds_text(request.bounds)])

    def get_request(self, request_id: RequestId) -> ConsentRequest:
        """The request, or CONSENT_REQUEST_NOT_FOUND."""
        row = self._one(_GET_REQUEST, [request_id], _REQUEST_SELECT)
        if row is None:
            raise DomainError(Reason.CONSENT_REQUEST_NOT_FOUND, "no such consent request")
        return _request(row)

    def find_request_by_key(self, grantee: GranteeId, request_key: str) -> ConsentRequest | None:
        """The grantee's request with this idempotency key, if any."""
        if not request_key:
            return None
        row = self._one(_FIND_REQUEST, [grantee, request_key], _REQUEST_SELECT)
        return None if row is None else _request(row)

    def update_request(self, request: ConsentRequest, *, expected_state: RequestState) -> None:
        """Set state, decided_at and consent_id if the state is still ``expected_state``."""
        row = _request_row(request)
        changes = [row["state"], row["decided_at"], row["consent_id"]]
        if self._write(_UPDATE_REQUEST, [*changes, request.id, expected_state.value]).rowcount != 1:
            self.get_request(request.id)  # NOT_FOUND first, so a missing id is not "stale"
            raise stale("request")

    def add_consent(self, consent: Consent) -> None:
        """Store a new consent."""
        row = _consent_row(consent)
        if self._write(_INSERT_CONSENT, [row[c] for c in CONSENT_COLUMNS]).rowcount != 1:
            raise conflict("consent")

    def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or CONSENT_NOT_FOUND."""
        row = self._one(_GET_CONSENT, [consent_id], CONSENT_COLUMNS)
        if row is None:
            raise DomainError(Reason.CONSENT_NOT_FOUND, "no such consent")
        return _consent(row)

    def update_consent(
        self, consent: Consent, *, expected_state: ConsentState, expected_uses: int
    ) -> None:
        """Replace state and uses if the stored ones are still the expected ones."""
        params = [consent.state.value, consent.uses, consent.id, expected_state.value]
        if self._write(_UPDATE_CONSENT, [*params, expected_uses]).rowcount != 1:
            self.get_consent(consent.id)
            raise stale("consent")

    def use_consent(self, consent_id: ConsentId, *, now: datetime) -> tuple[int, int]:
        """Count one use if the consent is usable at ``now``; (uses, max_uses) after it."""
        row = self._write(_USE_CONSENT, [consent_id, _ts(now), _ts(now)]).fetchone()
        if row is None:
            # Nothing matched: the precise reason (revoked, expired ...), or a lost race.
            check_usable(self.get_consent(consent_id), now)
            raise stale("consent")
        return int(row[0]), int(row[1])

    def list_consents(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[ConsentState] | None = None,
        now: datetime | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[Consent]:
        """Consents matching every given filter, by ascending id; ``states`` are the states they
        read as at ``now`` (``machine.effective_state``)."""
        sql, params = listing_sql(
            _CONSENTS,
            owner=owner,
            grantee=grantee,
            states=None if states is None else read_states_sql(states, _required(now)),
            page_size=page_size,
            after_id=after_id,
        )
        rows = self._conn.execute(sql, params).fetchall()
        return make_page([_consent(named(CONSENT_COLUMNS, r)) for r in rows], page_size, "id")

    def list_requests(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[RequestState] | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[ConsentRequest]:
        """Requests matching every given filter, by ascending id."""
        sql, params = listing_sql(
            _REQUESTS,
            owner=owner,
            grantee=grantee,
            states=None if states is None else stored_states_sql(states),
            page_size=page_size,
            after_id=after_id,
        )
        rows = self._conn.execute(sql, params).fetchall()
        return make_page([_request(named(_REQUEST_SELECT, r)) for r in rows], page_size, "id")

    def count_pending_requests(self, owner: OwnerId, grantee: GranteeId, now: datetime) -> int:
        """The grantee's requests to ``owner`` that are PENDING and not expired at ``now``."""
        (count,) = self._conn.execute(_COUNT_PENDING, [owner, grantee, _ts(now)]).fetchone()
        return int(count)

    def append_event(self, event: ConsentEvent) -> ConsentEvent:
        """Store ``event`` with the next ``seq`` and return it."""
        kind = "request" if isinstance(event.state, RequestState) else "consent"
        values = [event.request_id, event.consent_id, event.grantee, event.owner, kind]
        (seq,) = self._write(_INSERT_EVENT, [*values, event.state.value, _ts(event.at)]).fetchone()
        return ConsentEvent(
            int(seq),
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
        rows = self._conn.execute(_EVENTS_AFTER, [grantee, seq, limit]).fetchall()
        return [_event(named(EVENT_COLUMNS, row)) for row in rows]
