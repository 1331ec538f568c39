"""The embedded SQLite database: one file in WAL mode, many readers, one group-committing writer.

Reads use one connection per thread (WAL readers never block the writer). Every write goes through
the audit sequencer (``audit.sequencer``), which runs units of work on its own connection and
commits
them in batches together with their audit events.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from audit.sequencer import Committed, RefusalEvents, Sequencer, Tx
from sdk.reasons import DomainError, Reason

T = TypeVar("T")
SchemaFn = Callable[[sqlite3.Connection], None]


class StorageError(Exception):
    """The database cannot be opened or used as configured."""


def sqlite_path(db: str, data_dir: Path) -> Path:
    """The SQLite file named by ``--db`` (a path or ``sqlite:///path``); default in the data dir."""
    if not db:
        return data_dir / "attestgate.db"
    parsed = urlparse(db)
    if parsed.scheme in ("postgresql", "postgres"):
        raise StorageError(
            "PostgreSQL storage (--db postgresql://...) is not available in this build yet; "
            "use the embedded SQLite database (omit --db)"
        )
    if parsed.scheme == "sqlite":
        return Path(parsed.path)
    if parsed.scheme:
        raise StorageError(f"unsupported --db scheme {parsed.scheme!r}: use a file path")
    return Path(db)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every attestgate connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # Durable on COMMIT: an acknowledged call is never lost, even on power failure.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStorage:
    """Owns the database file, the per-thread readers and the sequencer."""

    def __init__(self, path: Path, schemas: Sequence[SchemaFn]) -> None:
        self.path = path
        self._schemas = schemas
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._sequencer: Sequencer | None = None

    def create(self) -> None:
        """Create the file (0600) and every table if missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = connect(self.path)
        try:
            for ensure in self._schemas:
                ensure(conn)
        finally:
            conn.close()

    def attach(self, sequencer: Sequencer) -> None:
        """Use this sequencer for writes and start it."""
        self._sequencer = sequencer
        sequencer.start()

    def writer_connection(self) -> sqlite3.Connection:
        """A fresh connection for the sequencer's writer thread."""
        return connect(self.path)

    def read(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def write(
        self, fn: Callable[[Tx], T], *, on_refusal: RefusalEvents | None = None
    ) -> Committed[T]:
        """Run a unit of work in the next group commit; return once it is durable."""
        if self._sequencer is None:
            raise DomainError(Reason.STORAGE_UNAVAILABLE, "storage is not open")
        return self._sequencer.submit(fn, on_refusal=on_refusal)

    def healthy(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            self.read().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Drain and stop the sequencer, close every connection."""
        if self._sequencer is not None:
            self._sequencer.stop()
            self._sequencer = None
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
