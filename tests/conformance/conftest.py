"""Backends for the conformance suite: a real SQLite file, and PostgreSQL when a server answers.

PostgreSQL: the server is ``ATTESTGATE_TEST_PG_DSN`` (a ``postgresql://`` URL; default
``postgresql://postgres@127.0.0.1:5432/test``). Each test gets its own schema, created empty and
dropped afterwards (the URL's ``options`` set ``search_path``), so tests never see each other's
rows. An unreachable server skips the PostgreSQL tests saying why, unless
``ATTESTGATE_REQUIRE_COMPONENTS=1`` (CI), which fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from attestgate.audit.sql import Connection, Dialect, begin_immediate
from attestgate.consent.sql_store import SqlConsentStore
from attestgate.consent.store import ConsentStore
from attestgate.gateway.persistence.migrate import MigrationConnection, migrate
from attestgate.gateway.persistence.postgres import PgConnection, lock_batch
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.persistence.storage import connect

PG_DSN_ENV = "ATTESTGATE_TEST_PG_DSN"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REQUIRE_ENV = "ATTESTGATE_REQUIRE_COMPONENTS"
MIGRATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The DSN of a reachable PostgreSQL server (skip, or fail under REQUIRE_ENV, if none)."""
    dsn = os.environ.get(PG_DSN_ENV) or DEFAULT_PG_DSN
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"PostgreSQL is not reachable via {PG_DSN_ENV} or the default ({detail})"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires it", pytrace=False)
        pytest.skip(reason)
    return dsn


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL of a fresh, empty schema of this test's own (see ``fresh_schema``)."""
    with fresh_schema(pg_server) as url:
        yield url


@dataclass
class Backend:
    """One SQL backend under test: fresh migrated connections and its dialect's specifics."""

    dialect: Dialect
    connect: Callable[[], MigrationConnection]
    begin_batch: Callable[[Connection], None]

    def consents(self, conn: Connection) -> ConsentStore:
        """The consent store over ``conn`` (one SQL store for every backend)."""
        return SqlConsentStore(conn)


BACKENDS = [
    pytest.param(Dialect.SQLITE, id="sqlite"),
    pytest.param(Dialect.POSTGRESQL, id="postgres", marks=pytest.mark.postgres),
]


def open_backend(request: pytest.FixtureRequest, dialect: Dialect, tmp_path: Path) -> Backend:
    """A migrated backend of ``dialect``; its connections close when the test ends."""
    opened: list[MigrationConnection] = []

    def close_all() -> None:
        for conn in opened:
            conn.close()

    request.addfinalizer(close_all)
    if dialect is Dialect.SQLITE:
        path = tmp_path / "conformance.db"

        def open_sqlite() -> MigrationConnection:
            opened.append(connect(path))
            return opened[-1]

        made = Backend(Dialect.SQLITE, open_sqlite, begin_immediate)
    else:
        url: str = request.getfixturevalue("pg_url")

        def open_pg() -> MigrationConnection:
            opened.append(PgConnection(psycopg.connect(url, autocommit=True)))
            return opened[-1]

        made = Backend(Dialect.POSTGRESQL, open_pg, lock_batch)
    migrate(made.connect(), now=MIGRATED_AT)
    return made


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each SQL backend in turn, migrated to the current schema."""
    return open_backend(request, request.param, tmp_path)
