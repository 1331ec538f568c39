"""Issue 20 item 4: the portal's database sessions (gateway.portal.sessions) on SQLite and
PostgreSQL: stored under the cookie's hash, expiry on the server, a sign-in state taken once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attestgate.gateway.common.auth import Principal, SubjectId
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.roles import Role
from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.portal.security import PendingLogin
from attestgate.gateway.portal.sessions import DbSessionStore
from attestgate.gateway.testing import local_core
from tests.conformance.conftest import pg_server

__all__ = ["pg_server"]
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    clock = FixedClock(NOW)
    if request.param == "sqlite":
        with local_core(tmp_path / "data", clock=clock) as parts:
            yield parts.storage
        return
    dsn = request.getfixturevalue("pg_server")
    with fresh_schema(dsn) as url:
        assert main(["db", "migrate", "--db", url, "--data-dir", str(tmp_path / "data")]) == 0
        with local_core(tmp_path / "data", clock=clock, db=url) as parts:
            yield parts.storage


def test_a_session_round_trips_under_its_hash_and_expires_on_the_server(storage: Storage) -> None:
    store = DbSessionStore(storage)
    visitor = store.new(NOW)
    assert store.get(visitor.id, NOW) == visitor
    owner = Principal(
        SubjectId("alice"), Role.OWNER, "https://id.example", NOW + timedelta(hours=8)
    )
    signed_in = store.new(NOW, owner, id_token="id.token.here")
    assert signed_in.id != visitor.id
    assert signed_in.csrf != visitor.csrf
    found = store.get(signed_in.id, NOW + timedelta(hours=1))
    assert found is not None
    assert found.principal == owner
    assert found.id_token == "id.token.here"
    rows = storage.read().execute("SELECT id_hash FROM portal_sessions").fetchall()
    assert (hashlib.sha256(signed_in.id.encode()).hexdigest(),) in [tuple(r) for r in rows]
    assert all(signed_in.id not in tuple(r) for r in rows)
    # Past its expiry the session is refused and its row deleted.
    assert store.get(signed_in.id, NOW + timedelta(hours=8)) is None
    assert store.get(signed_in.id, NOW) is None
    store.drop(visitor.id)
    assert store.get(visitor.id, NOW) is None
    assert store.get("x" * 500, NOW) is None
    assert store.get(None, NOW) is None


def test_a_sign_in_state_is_taken_once_and_not_after_expiry(storage: Storage) -> None:
    store = DbSessionStore(storage)
    store.put_login(PendingLogin("s-1", "n-1", "v-1", NOW + timedelta(minutes=10)), NOW)
    store.put_login(PendingLogin("s-2", "n-2", "v-2", NOW + timedelta(minutes=10)), NOW)
    taken = store.take_login("s-1", NOW)
    assert taken == PendingLogin("s-1", "n-1", "v-1", NOW + timedelta(minutes=10))
    assert store.take_login("s-1", NOW) is None  # once
    assert store.take_login("s-2", NOW + timedelta(minutes=11)) is None  # expired
    assert store.take_login("unknown", NOW) is None
