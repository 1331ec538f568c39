"""Versioned migrations: ``attestgate db migrate``, serve's checks, and one schema per backend."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from attestgate.audit import store as audit_store
from attestgate.audit.sql import Dialect
from attestgate.gateway.cli import main
from attestgate.gateway.config import GatewayConfig
from attestgate.gateway.db.migrate import (
    SchemaVersionError,
    applied_version,
    available,
    check_schema,
    latest_version,
    migrate,
)
from attestgate.gateway.db.postgres import PgConnection
from attestgate.gateway.storage import connect, open_storage

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _objects(conn: sqlite3.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {name: re.sub(r"\s+", " ", sql.replace("IF NOT EXISTS ", "")) for name, sql in rows}


def test_sqlite_migration_matches_the_library_schemas(tmp_path: Path) -> None:
    # audit/ keeps its own ensure_schema for standalone use; the gateway's frozen
    # migration must create exactly the same objects, or a new migration is due.
    migrated = connect(tmp_path / "migrated.db")
    migrate(migrated, now=NOW)
    library = connect(tmp_path / "library.db")
    audit_store.ensure_schema(library)
    expected = _objects(library)
    actual = _objects(migrated)
    assert {name: actual.get(name) for name in expected} == expected
    assert {"records", "attestations", "capacity", "idempotency", "fx_rates"} <= set(actual)


def test_sqlite_migrate_is_idempotent_and_adopts_old_databases(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = connect(path)
    audit_store.ensure_schema(old)  # a database from before versioned migrations
    old.execute("INSERT INTO audit_leaves VALUES (0, x'00', x'11')")
    assert applied_version(old) == 0
    latest = latest_version(Dialect.SQLITE)
    assert [m.version for m in migrate(old, now=NOW)] == list(range(1, latest + 1))
    assert migrate(old, now=NOW) == []
    assert applied_version(old) == latest_version(Dialect.SQLITE)
    assert old.execute("SELECT COUNT(*) FROM audit_leaves").fetchone() == (1,)
    check_schema(old, db_display=str(path))


def test_both_backends_ship_the_same_versions() -> None:
    sqlite, postgres = available(Dialect.SQLITE), available(Dialect.POSTGRESQL)
    assert [(m.version, m.name) for m in sqlite] == [(m.version, m.name) for m in postgres]
    tables = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)")
    for lite, pg in zip(sqlite, postgres, strict=True):
        assert set(tables.findall(lite.sql)) == set(tables.findall(pg.sql)) - {"audit_coord"}


@pytest.mark.postgres
def test_postgres_serve_refuses_until_migrated(pg_url: str, tmp_path: Path) -> None:
    config = GatewayConfig(data_dir=tmp_path, db=pg_url)
    storage = open_storage(config)
    with pytest.raises(SchemaVersionError) as refused:
        storage.create(NOW)
    message = str(refused.value)
    assert "not migrated" in message
    assert f"attestgate db migrate --db '{pg_url}'" in message
    assert main(["db", "migrate", "--db", pg_url, "--data-dir", str(tmp_path)]) == 0
    storage.create(NOW)  # now it starts
    assert storage.healthy()
    storage.close()
    assert main(["db", "migrate", "--db", pg_url, "--data-dir", str(tmp_path)]) == 0


@pytest.mark.postgres
def test_postgres_refuses_a_newer_schema(pg_url: str, tmp_path: Path) -> None:
    conn = PgConnection(psycopg.connect(pg_url, autocommit=True))
    migrate(conn, now=NOW)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    with pytest.raises(SchemaVersionError, match="newer than this gateway"):
        check_schema(conn, db_display="db")
    with pytest.raises(SchemaVersionError, match="nothing was changed"):
        migrate(conn, now=NOW)
    assert applied_version(conn) == 99
    conn.close()


def test_postgres_password_never_shown() -> None:
    config = GatewayConfig(data_dir=Path("/nonexistent"), db="postgresql://u:s3cret@h:1/db")
    assert open_storage(config).display == "postgresql://u:***@h:1/db"


def test_cli_migrates_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sub" / "gw.db"
    assert main(["db", "migrate", "--db", str(db), "--data-dir", str(tmp_path)]) == 0
    latest = latest_version(Dialect.SQLITE)
    assert f"schema version {latest}" in capsys.readouterr().out
    conn = connect(db)
    assert applied_version(conn) == latest
    conn.close()
    assert main(["db", "migrate", "--db", f"sqlite://{db}", "--data-dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
