"""The ``ConsentStore`` contract on every backend: in memory, SQLite and PostgreSQL.

The cases are the contract tests of ``tests/unit/consent/test_consent_store_contract.py``, imported
so there is one definition; here their ``store`` fixture also yields the PostgreSQL store, running
inside a transaction as the gateway's units of work do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from attestgate.audit.sql import Dialect
from attestgate.consent.model import ConsentState, RequestId
from attestgate.consent.store import ConsentStore, MemoryConsentStore
from attestgate.protocol.reasons import DomainError
from tests.conformance.conftest import BACKENDS, Backend, open_backend
from tests.unit.consent.conftest import make_consent, make_request, now
from tests.unit.consent.test_consent_store_contract import (
    MakeConsent,
    MakeRequest,
    test_a_state_filter_needs_the_moment_it_reads_states_at,
    test_consent_conflicts,
    test_consent_round_trip,
    test_count_pending_requests,
    test_event_feed,
    test_list_consents_filters,
    test_list_consents_filters_by_the_state_it_reads_as,
    test_list_consents_pages,
    test_list_requests,
    test_request_conflicts,
    test_request_round_trip,
    test_update_consent_is_optimistic,
    test_update_request_is_optimistic,
    test_use_consent_counts_only_usable_consents,
)

__all__ = [
    "make_consent",
    "make_request",
    "now",
    "test_a_state_filter_needs_the_moment_it_reads_states_at",
    "test_consent_conflicts",
    "test_consent_round_trip",
    "test_count_pending_requests",
    "test_event_feed",
    "test_list_consents_filters",
    "test_list_consents_filters_by_the_state_it_reads_as",
    "test_list_consents_pages",
    "test_list_requests",
    "test_request_conflicts",
    "test_request_round_trip",
    "test_update_consent_is_optimistic",
    "test_update_request_is_optimistic",
    "test_use_consent_counts_only_usable_consents",
]


@pytest.fixture(params=[pytest.param("memory", id="memory"), *BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsentStore]:
    """The in-memory store, then each SQL backend's store inside an open transaction."""
    if request.param == "memory":
        yield MemoryConsentStore()
        return
    backend = open_backend(request, request.param, tmp_path)
    conn = backend.connect()
    conn.execute("BEGIN")
    yield backend.consents(conn)
    conn.execute("ROLLBACK")


def test_refused_duplicate_keeps_the_transaction(
    backend: Backend, make_request: MakeRequest
) -> None:
    # On PostgreSQL an error aborts the whole transaction; a duplicate must not be one.
    conn = backend.connect()
    store = backend.consents(conn)
    conn.execute("BEGIN")
    store.add_request(make_request())
    with pytest.raises(DomainError):
        store.add_request(make_request())
    store.add_request(make_request(id=RequestId("req-2")))
    conn.execute("COMMIT")
    view = backend.consents(backend.connect())
    assert [r.id for r in view.list_requests().items] == ["req-0001", "req-2"]


def test_ids_page_in_byte_order(backend: Backend, make_consent: MakeConsent) -> None:
    # COLLATE "C" on PostgreSQL: the same order as SQLite and Python, whatever the server locale.
    conn = backend.connect()
    store = backend.consents(conn)
    ids = ["con-B", "con-a", "con-_", "con-Z", "con-é"]
    conn.execute("BEGIN")
    for n, consent_id in enumerate(ids):
        store.add_consent(make_consent(id=consent_id, request_id=RequestId(f"req-{n}")))
    conn.execute("COMMIT")
    assert [c.id for c in store.list_consents().items] == sorted(ids)
    second = store.list_consents(page_size=2, after_id="con-Z")
    assert [c.id for c in second.items] == sorted(ids)[2:4]


def test_update_is_visible_only_after_commit(backend: Backend, make_consent: MakeConsent) -> None:
    writer, reader = backend.connect(), backend.connect()
    store, view = backend.consents(writer), backend.consents(reader)
    consent = make_consent()
    writer.execute("BEGIN")
    store.add_consent(consent)
    writer.execute("COMMIT")
    writer.execute("BEGIN")
    revoked = replace(consent, state=ConsentState.REVOKED)
    store.update_consent(revoked, expected_state=ConsentState.ACTIVE, expected_uses=0)
    assert view.get_consent(consent.id).state is ConsentState.ACTIVE
    writer.execute("COMMIT")
    assert view.get_consent(consent.id).state is ConsentState.REVOKED
    assert backend.dialect in (Dialect.SQLITE, Dialect.POSTGRESQL)


def test_a_write_outside_a_transaction_opens_one(
    backend: Backend, make_consent: MakeConsent
) -> None:
    # Never autocommit: the caller commits (or rolls back) what the store wrote.
    writer, reader = backend.connect(), backend.connect()
    store, view = backend.consents(writer), backend.consents(reader)
    consent = make_consent()
    assert not writer.in_transaction
    store.add_consent(consent)
    assert writer.in_transaction
    assert view.list_consents().items == ()
    writer.execute("ROLLBACK")
    assert store.list_consents().items == ()
    store.add_consent(consent)
    writer.execute("COMMIT")
    assert view.get_consent(consent.id) == consent
