"""Versioned migrations: ``attestgate db migrate``, serve's checks, and one schema per backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType, Pseudonym
from attestgate.audit.sql import Dialect
from attestgate.gateway.ops.cli import main
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.persistence.migrate import (
    SchemaVersionError,
    applied_version,
    available,
    check_schema,
    create_sqlite_schema,
    latest_version,
    migrate,
)
from attestgate.gateway.persistence.postgres import PgConnection
from attestgate.gateway.persistence.storage import connect, open_storage

NOW = datetime(2026, 1, 2, tzinfo=UTC)


REPO = Path(__file__).resolve().parents[2]
DDL = re.compile(
    r"\b(?:CREATE (?:UNIQUE )?(?:TABLE|INDEX|TRIGGER|VIEW)|ALTER TABLE|DROP (?:TABLE|INDEX))\b"
)
DDL_ALLOWED = {
    "gateway/persistence/migrate.py": "the migrator's own schema_migrations table",
    "bench/audit_append.py": "bare_events, the benchmark's raw-insert baseline outside the schema",
    "gateway/witness/core.py": (
        "the witness's own state file (a separate program, not the gateway's schema)"
    ),
}


def test_migrations_are_the_only_ddl() -> None:
    # One schema source: gateway/persistence/migrations. Stores, tools and benchmarks never create
    # or alter the gateway's tables themselves (tests may create scratch tables of their own).
    found = {
        str(path.relative_to(REPO))
        for folder in ("protocol", "sdk", "consent", "audit", "gateway", "bench")
        for path in (REPO / folder).rglob("*.py")
        if DDL.search(path.read_text())
    }
    assert found == set(DDL_ALLOWED)


def test_a_migrated_sqlite_database_has_every_table(tmp_path: Path) -> None:
    conn = connect(tmp_path / "migrated.db")
    migrate(conn, now=NOW)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"audit_leaves", "audit_nodes", "audit_checkpoints", "consent_requests", "consents",
            "consent_events", "records", "attestations", "capacity", "idempotency",
            "fx_rates"} <= names  # fmt: skip
    triggers = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()
    assert triggers[0] >= 10  # the audit tables' append-only triggers
    conn.close()


def test_sqlite_migrate_is_idempotent_and_adopts_old_databases(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = connect(path)
    create_sqlite_schema(old)  # a database from before versioned migrations (no version)
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


def _leaf(
    kind: str, objects: dict[str, str], *, subject: str = "ps_holder", allow: bool = True
) -> bytes:
    event = AuditEvent(
        type=EventType(kind),
        time=NOW,
        actor_role=ActorRole.PROVIDER,
        actor_id="warehouse-1",
        subject=Pseudonym(subject),
        objects=objects,
        decision=Decision.ALLOW if allow else Decision.DENY,
    )
    return event.leaf


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_asset_history_migration_indexes_the_log_before_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        conn: Any = connect(tmp_path / "old.db")
    else:
        conn = PgConnection(psycopg.connect(request.getfixturevalue("pg_url"), autocommit=True))
    dialect = Dialect.SQLITE if backend == "sqlite" else Dialect.POSTGRESQL
    (version,) = [m.version for m in available(dialect) if m.name == "asset_history"]
    migrate(conn, now=NOW, target=version - 1)  # a gateway from before it, with a log
    receipt = {"domain": "warehouse_receipt", "record_id": "WR-1"}
    leaves = [
        _leaf("record.put", {**receipt, "version": "1"}),
        _leaf("record.put", {"domain": "income", "record_pseudonym": "pr_x", "version": "1"}),
        _leaf("attestation.redeemed", {**receipt, "attestation_jti": "j1"}, subject="ps_h"),
        _leaf("attestation.refused", {**receipt}, allow=False),
        _leaf("pledge.released", {**receipt, "attestation_jti": "j1"}),
        _leaf("record.transferred", {**receipt, "version": "2"}, subject="ps_buyer"),
        _leaf("pledge.released", {**receipt, "attestation_jti": "j2"}, allow=False),
    ]
    for index, leaf in enumerate(leaves):
        conn.execute("INSERT INTO audit_leaves VALUES (?, ?, ?)", (index, leaf, b"\x11" * 32))
    migrate(conn, now=NOW)
    rows = conn.execute("SELECT domain, record_id, idx, holder FROM asset_index ORDER BY idx")
    assert [tuple(r) for r in rows.fetchall()] == [
        ("warehouse_receipt", "WR-1", 0, "ps_holder"),
        ("warehouse_receipt", "WR-1", 2, None),
        ("warehouse_receipt", "WR-1", 4, None),
        ("warehouse_receipt", "WR-1", 5, "ps_buyer"),
    ]
    conn.close()
