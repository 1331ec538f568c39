"""Versioned schema migrations for SQLite and PostgreSQL (``attestgate db migrate``).

Migrations are SQL files ``gateway/persistence/migrations/<dialect>/NNNN_name.sql``, numbered from
0001
without gaps, frozen once released: a schema change is a new file, never an edit. The table
``schema_migrations(version, name, applied_at)`` records what a database has. ``migrate`` applies
every pending file and its ``schema_migrations`` row in ONE transaction (both backends have
transactional DDL), so a failed migration leaves the database as it was.

The embedded SQLite database is migrated by ``serve`` itself. A PostgreSQL database is migrated
only by ``attestgate db migrate --db URL`` (an operator's deliberate step, before rolling out
replicas); ``check_schema`` makes ``serve`` refuse an unmigrated or newer schema. Concurrent
migrations wait for each other: SQLite's BEGIN IMMEDIATE, PostgreSQL's transaction-scoped advisory
lock (the coordination row the batches lock does not exist before the first migration).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Protocol

from attestgate.audit.sql import Connection, Dialect, dialect_of
from attestgate.audit.store import format_time
from attestgate.gateway.persistence.url import StorageError

__all__ = [
    "Migration",
    "MigrationConnection",
    "SchemaVersionError",
    "applied_version",
    "available",
    "check_schema",
    "create_sqlite_schema",
    "latest_version",
    "migrate",
]

# pg_advisory_xact_lock key (bigint): the first 8 bytes of SHA-256("attestgate schema_migrations"),
# signed big-endian.
MIGRATION_LOCK_KEY = -0x7E8274BE5AF0A139
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


class SchemaVersionError(StorageError):
    """The database schema is not the version this gateway was built for."""


class MigrationConnection(Connection, Protocol):
    """A connection that can also run a parameterless multi-statement script."""

    def executescript(self, script: str, /) -> object:
        """Run every statement of ``script``."""
        ...


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name and SQL."""

    version: int
    name: str
    sql: str


def available(dialect: Dialect) -> tuple[Migration, ...]:
    """Every migration shipped for ``dialect``, in version order (versions 1..n, no gaps)."""
    folder = resources.files("attestgate.gateway.persistence").joinpath("migrations", dialect.value)
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect.value} migrations must be numbered 0001.. without gaps")
    return tuple(found)


def latest_version(dialect: Dialect) -> int:
    """The schema version this build of the gateway expects."""
    return len(available(dialect))


def applied_version(conn: Connection) -> int:
    """The database's schema version: 0 when it has never been migrated."""
    if dialect_of(conn) is Dialect.SQLITE:
        sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:  # to_regclass follows the search_path, as every other statement does
        sql = "SELECT COUNT(*) FROM (SELECT to_regclass(?) AS t) AS r WHERE t IS NOT NULL"
    (exists,) = conn.execute(sql, ("schema_migrations",)).fetchone()
    if not exists:
        return 0
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version)


def check_schema(conn: Connection, *, db_display: str) -> None:
    """Refuse (``SchemaVersionError``) a schema older or newer than this gateway's."""
    dialect = dialect_of(conn)
    have, want = applied_version(conn), latest_version(dialect)
    if have < want:
        state = "not migrated" if have == 0 else f"at version {have}"
        raise SchemaVersionError(
            f"the database schema is {state}; this gateway needs version {want}. Run: "
            f"attestgate db migrate --db '{db_display}'"
        )
    if have > want:
        raise SchemaVersionError(
            f"the database schema is at version {have}, newer than this gateway knows ({want}); "
            "run a gateway release that supports it"
        )


def migrate(
    conn: MigrationConnection, *, now: datetime, target: int | None = None
) -> list[Migration]:
    """Apply every pending migration in one transaction; returns what was applied.

    ``target`` stops at that version (an upgrade test builds an old schema this way).
    """
    dialect = dialect_of(conn)
    conn.execute("BEGIN IMMEDIATE" if dialect is Dialect.SQLITE else "BEGIN")
    try:
        if dialect is Dialect.POSTGRESQL:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
        conn.execute(_SCHEMA_MIGRATIONS)
        have, shipped = applied_version(conn), available(dialect)
        if have > len(shipped):
            raise SchemaVersionError(
                f"the database schema is at version {have}, newer than this gateway knows "
                f"({len(shipped)}); nothing was changed"
            )
        last = len(shipped) if target is None else target
        pending = [m for m in shipped if have < m.version <= last]
        for migration in pending:
            _run_script(conn, dialect, migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, format_time(now)),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return pending


def create_sqlite_schema(conn: sqlite3.Connection) -> None:
    """Create every table of the latest SQLite schema if missing, without recording a version.

    For tests and tools that use one store alone; ``migrate`` later adopts such a database (the
    SQLite migrations are idempotent). Runs in the caller's transaction, if any.
    """
    for migration in available(Dialect.SQLITE):
        _run_script(conn, Dialect.SQLITE, migration.sql)


def _run_script(conn: MigrationConnection, dialect: Dialect, script: str) -> None:
    if dialect is Dialect.POSTGRESQL:
        # One simple-protocol round trip, inside our transaction: PostgreSQL DDL is transactional.
        conn.executescript(script)
        return
    # sqlite3's executescript() would COMMIT our transaction first; run statement by statement,
    # split where SQLite itself says a statement is complete (trigger bodies contain ';').
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip() and not _only_comments(statement):
        raise ValueError("a migration ends with an incomplete statement")


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("--") for line in text.splitlines())
