"""Where the gateway keeps its state: the ``Storage`` protocol, the embedded SQLite database, and
``open_storage`` choosing between it and PostgreSQL from ``--db``.

Reads go through ``Storage.read()`` (a connection each statement of which sees everything
committed). Every write goes through the audit sequencer (``audit.sequencer``), which runs units of
work on its own connection and commits them in batches together with their audit events.

SQLite: one file in WAL mode, one read connection per thread (WAL readers never block the writer),
migrated by ``create`` itself. PostgreSQL: ``gateway.persistence.pg_storage.PostgresStorage``. The
``Storage`` protocol and the writes both backends share are in ``gateway.persistence.backend``
(``Storage``
is re-exported here).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from attestgate.audit.sql import Connection, Dialect, begin_immediate
from attestgate.consent.sql_store import SqlConsentStore
from attestgate.consent.store import ConsentStore
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.persistence.backend import SequencedWrites, Storage
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.url import StorageError, parse_db

__all__ = ["SqliteStorage", "Storage", "StorageError", "connect", "open_storage", "sqlite_path"]


def sqlite_path(db: str, data_dir: Path) -> Path:
    """The SQLite file named by ``--db`` (a path or ``sqlite:///path``); default in the data dir."""
    url = parse_db(db, data_dir)
    if url.sqlite_path is None:
        raise StorageError(f"{url.display} is not a SQLite database")
    return url.sqlite_path


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every attestgate connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # Durable on COMMIT: an acknowledged call is never lost, even on power failure.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    # Deleted and overwritten content is zeroed in the file: an erasure leaves no plaintext behind.
    conn.execute("PRAGMA secure_delete=ON")
    return conn


class SqliteStorage(SequencedWrites):
    """The embedded database: owns the file, the per-thread readers and the sequencer."""

    dialect = Dialect.SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def display(self) -> str:
        """The file's path."""
        return str(self.path)

    def create(self, now: datetime) -> None:
        """Create the file (0600) if missing and apply pending migrations: no setup step."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = connect(self.path)
        try:
            migrate(conn, now=now)
        finally:
            conn.close()

    def writer_connection(self) -> sqlite3.Connection:
        """A fresh connection for the sequencer's writer thread."""
        return connect(self.path)

    def begin_batch(self, conn: Connection) -> None:
        """BEGIN IMMEDIATE: one process writes the file, its one writer thread serializes."""
        begin_immediate(conn)

    def read(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def consents(self, conn: Connection) -> ConsentStore:
        """A ``SqlConsentStore`` over ``conn``."""
        return SqlConsentStore(conn)

    def healthy(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            self.read().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Drain and stop the sequencer, close every connection."""
        self.stop_writes()
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()


def open_storage(config: GatewayConfig) -> Storage:
    """The storage ``--db`` names (not opened yet: call ``create``)."""
    url = parse_db(config.db, config.data_dir)
    if url.sqlite_path is not None:
        return SqliteStorage(url.sqlite_path)
    # Imported here: psycopg loads only when PostgreSQL is configured.
    from attestgate.gateway.persistence.pg_storage import PostgresStorage  # noqa: PLC0415

    return PostgresStorage(url, pool_size=config.max_workers + 2)
