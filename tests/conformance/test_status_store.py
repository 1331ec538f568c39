"""Status lists in the database (migration 0005): the same guarantees on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from attestgate.audit.sql import Connection
from attestgate.gateway.persistence import status_store
from attestgate.protocol.status_list import Status, StatusList
from tests.conformance.conftest import Backend

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIZE = 2048


def _in_tx(conn: Connection, backend: Backend) -> None:
    backend.begin_batch(conn)


def _new_list(conn: Connection, backend: Backend) -> status_store.ListInfo:
    _in_tx(conn, backend)
    status_store.create_list(conn, size=SIZE, bits=2, now=NOW)
    conn.execute("COMMIT")
    info = status_store.open_list(conn, size=SIZE, bits=2)
    assert info is not None
    return info


def test_an_index_is_taken_once_and_a_full_list_takes_no_more(backend: Backend) -> None:
    conn = backend.connect()
    info = _new_list(conn, backend)
    _in_tx(conn, backend)
    assert status_store.allocate(
        conn, list_id=info.list_id, idx=7, jti="a", consent_id="c1", now=NOW
    )
    assert not status_store.allocate(
        conn, list_id=info.list_id, idx=7, jti="b", consent_id="c1", now=NOW
    )
    assert not status_store.allocate(
        conn, list_id=info.list_id, idx=SIZE, jti="c", consent_id="c1", now=NOW
    )
    conn.execute("UPDATE status_lists SET allocated = size WHERE list_id = ?", (info.list_id,))
    assert not status_store.allocate(
        conn, list_id=info.list_id, idx=8, jti="d", consent_id="c1", now=NOW
    )
    conn.execute("COMMIT")
    assert status_store.open_list(conn, size=SIZE, bits=2) is None
    entry = status_store.entry_of(conn, "a")
    assert entry is not None
    assert (entry.idx, entry.status) == (7, Status.VALID)
    assert status_store.entry_of(conn, "b") is None


def test_status_changes_land_in_the_published_bits(backend: Backend) -> None:
    conn = backend.connect()
    info = _new_list(conn, backend)
    indices = {"a": 0, "b": 5, "c": 1023, "d": 1024, "e": SIZE - 1}
    _in_tx(conn, backend)
    for jti, idx in indices.items():
        assert status_store.allocate(
            conn, list_id=info.list_id, idx=idx, jti=jti, consent_id=f"c-{jti in 'ab'}", now=NOW
        )
    conn.execute("COMMIT")
    _in_tx(conn, backend)
    live = status_store.entries_of_consents(conn, ["c-True"], [Status.VALID])
    assert sorted(e.jti for e in live) == ["a", "b"]
    status_store.set_statuses(conn, live, Status.SUSPENDED, NOW)
    others = [status_store.entry_of(conn, j) for j in ("c", "e")]
    status_store.set_statuses(conn, [e for e in others if e is not None], Status.INVALID, NOW)
    conn.execute("COMMIT")
    published = status_store.load_list(conn, info.list_id)
    assert published is not None
    assert published.size == SIZE
    expected = StatusList.new(SIZE, 2)
    for idx, status in ((0, 2), (5, 2), (1023, 1), (SIZE - 1, 1)):
        expected.set(idx, status)
    assert published.to_bytes() == expected.to_bytes()
    _in_tx(conn, backend)
    suspended = status_store.entries_of_consents(conn, ["c-True"], [Status.SUSPENDED])
    status_store.set_statuses(conn, suspended, Status.VALID, NOW)
    conn.execute("COMMIT")
    back = status_store.load_list(conn, info.list_id)
    assert back is not None
    assert [back.get(i) for i in (0, 5, 1023)] == [0, 0, 1]
