"""``attestgate db migrate`` and the one-off connections of the operator commands.

``db migrate --db URL`` brings a database to the schema this gateway needs (PostgreSQL: run it once
before starting or upgrading replicas; SQLite: ``serve`` does it by itself, the command is there for
symmetry and scripts). ``open_connection`` gives ``audit verify`` and ``db migrate`` a connection to
either backend.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from attestgate.gateway.ops.config import DEFAULT_DATA_DIR, GatewayConfig
from attestgate.gateway.persistence.migrate import MigrationConnection, applied_version, migrate
from attestgate.gateway.persistence.storage import connect
from attestgate.gateway.persistence.url import DatabaseUrl, StorageError, parse_db

__all__ = ["add_db_command", "open_connection", "run_migrate"]


@contextmanager
def open_connection(url: DatabaseUrl, *, read_only: bool) -> Iterator[MigrationConnection]:
    """A connection for one command; ``read_only`` also pins one snapshot (PostgreSQL).

    ``StorageError`` when the database is missing (read-only SQLite) or unreachable.
    """
    if url.sqlite_path is not None:
        path = url.sqlite_path
        if read_only and not path.exists():
            raise StorageError(f"no database at {path}")
        if read_only:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            conn.execute("BEGIN")  # one snapshot, from the first read on
        else:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = connect(path)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
        return
    with _postgres(url, read_only=read_only) as pg:
        yield pg


@contextmanager
def _postgres(url: DatabaseUrl, *, read_only: bool) -> Iterator[MigrationConnection]:
    import psycopg  # noqa: PLC0415 - loaded only for PostgreSQL

    from attestgate.gateway.persistence.postgres import PgConnection  # noqa: PLC0415

    try:
        raw = psycopg.connect(url.conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError:
        raise StorageError(f"cannot connect to PostgreSQL at {url.display}") from None
    conn = PgConnection(raw)
    try:
        if read_only:
            # One snapshot for the whole command: a live log keeps growing meanwhile.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def run_migrate(config: GatewayConfig, *, now: datetime) -> int:
    """Apply pending migrations to the configured database and say what happened; exit code."""
    url = parse_db(config.db, config.data_dir)
    with open_connection(url, read_only=False) as conn:
        applied = migrate(conn, now=now)
        version = applied_version(conn)
    if applied:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
        print(f"migrated {url.display} to schema version {version} (applied {names})")
    else:
        print(f"{url.display} is up to date (schema version {version})")
    return 0


def add_db_command(sub: Any, run: dict[str, Any]) -> None:
    """Register ``db migrate`` (``run`` maps subcommand names to the CLI's handlers)."""
    p = sub.add_parser("db", help="manage the gateway's database")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    mig = db_sub.add_parser("migrate", help="bring the database schema up to date")
    mig.add_argument(
        "--db",
        help="postgresql://user@host:port/dbname, sqlite:///path or a SQLite path "
        "(default: <data-dir>/attestgate.db)",
    )
    _common(mig)
    mig.set_defaults(func=run["migrate"])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--config", help="TOML config (default <data-dir>/config.toml)")
