"""Shared helpers for the audit storage tests: connections, committed appends, tampering."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from attestgate.audit.tree import AppendResult, AuditLog
from attestgate.gateway.persistence.migrate import migrate

MIGRATED_AT = datetime(2025, 1, 1, tzinfo=UTC)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit, as in the sequencer."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def new_log_db(path: Path) -> sqlite3.Connection:
    """A connection to a fresh database migrated to the gateway's schema (audit tables included)."""
    conn = connect(path)
    migrate(conn, now=MIGRATED_AT)
    return conn


def append_committed(
    log: AuditLog, conn: sqlite3.Connection, leaves: Sequence[bytes]
) -> AppendResult:
    """One durable transaction holding one append, then adopt the new state."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = log.append(conn, leaves)
    except BaseException:
        conn.execute("ROLLBACK")
        log.rollback_pending()
        raise
    conn.execute("COMMIT")
    log.commit_pending()
    return result


def drop_triggers(conn: sqlite3.Connection) -> None:
    """What an attacker with write access to the file can do first."""
    names = [
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    ]
    for name in names:
        conn.execute(f'DROP TRIGGER "{name}"')
