"""PostgreSQL behind ``audit.sql.Connection``, and how replicas take turns writing.

Adapters
    ``PgConnection`` wraps one psycopg 3 connection in autocommit mode (transactions are explicit
    BEGIN/COMMIT, as on SQLite): ``?`` placeholders become ``%s``, BYTEA comes back as ``bytes``,
    ``DatabaseError`` is psycopg's. ``PooledReader`` runs each read statement on a connection
    borrowed from the pool and hands back buffered rows, so request threads never pin connections.

Sequencing across replicas (as Tessera's SQL drivers do it)
    Every batch transaction of every replica starts with ``lock_batch``::

        BEGIN ISOLATION LEVEL READ COMMITTED
        SELECT id FROM audit_coord WHERE id = 1 FOR UPDATE

    The row lock is held until COMMIT or ROLLBACK, so batch transactions of all replicas run one
    at a time: the units of work, the sequencing of their events (the next dense leaf indices),
    their integration into the Merkle tree and the checkpoint all happen in one transaction under
    the lock. READ COMMITTED matters: each statement after the lock takes a fresh snapshot and sees
    everything the previous holder committed (REPEATABLE READ would keep the snapshot taken before
    the wait). So single use (``state = 'ISSUED'`` updates) and capacity checks in a unit of work
    are race-free across replicas, and ``AuditLog.refresh`` adopts the other replicas' appends.

Advisory locks
    Tessera separates sequencing from integration and needs a second lock so only one integrator
    runs. Here both happen in the batch transaction, which the row lock already serializes, so the
    batches take no advisory lock. One place needs mutual exclusion the row lock cannot give:
    migrations, which run before the coordination row exists (``gateway.persistence.migrate`` takes
    ``pg_advisory_xact_lock``, waiting rather than ``pg_try_``: a second ``db migrate`` should wait
    for the first and then find nothing left to do).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from attestgate.audit.sql import Connection, Dialect

__all__ = ["BufferedCursor", "PgConnection", "PooledReader", "lock_batch", "to_pyformat"]

RawConnection = psycopg.Connection[tuple[Any, ...]]

# A replica frozen inside a batch (SIGSTOP, a stuck VM) would hold the coordination row forever;
# the server ends such a session after this long idle in a transaction, releasing the lock. Batches
# never wait on the client for anywhere near this long.
IDLE_IN_TRANSACTION_TIMEOUT = "30s"


def to_pyformat(sql: str) -> str:
    """``?`` placeholders (outside quotes) to psycopg's ``%s``; literal ``%`` doubled."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if char == "%":
            out.append("%%")  # psycopg reads % everywhere in a query that has parameters
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        else:
            out.append("%s" if char == "?" else char)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _query(sql: str) -> bytes:
    # Bytes: psycopg types queries as LiteralString | bytes, and ours are built from constants.
    return to_pyformat(sql).encode()


class BufferedCursor:
    """Rows already fetched, with the cursor surface store code uses."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows."""
        return iter(self.fetchall())


def _buffered(cursor: psycopg.Cursor[tuple[Any, ...]]) -> BufferedCursor:
    rows = cursor.fetchall() if cursor.description is not None else []
    return BufferedCursor(rows, cursor.rowcount)


class PgConnection:
    """One psycopg connection as an ``audit.sql.Connection`` (see module docstring)."""

    dialect = Dialect.POSTGRESQL
    DatabaseError: type[Exception] = psycopg.DatabaseError
    IntegrityError: type[Exception] = psycopg.IntegrityError

    def __init__(
        self, raw: RawConnection, *, release: Callable[[RawConnection], None] | None = None
    ) -> None:
        raw.autocommit = True
        self.raw = raw
        self._release = release

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> BufferedCursor:
        """Run one statement with ``?`` placeholders.

        ``COMMIT`` of a transaction that an error aborted is refused: PostgreSQL would answer it
        with a silent ROLLBACK, and the caller would take lost writes for committed ones.
        """
        if sql == "COMMIT" and self.raw.info.transaction_status is TransactionStatus.INERROR:
            raise psycopg.errors.InFailedSqlTransaction(
                "COMMIT of a transaction aborted by an earlier error: nothing was committed"
            )
        return _buffered(self.raw.execute(_query(sql), tuple(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> BufferedCursor:
        """Run one statement per parameter row (pipelined by psycopg)."""
        rows = [tuple(row) for row in parameters]
        cursor = self.raw.cursor()
        if rows:
            cursor.executemany(_query(sql), rows)
        return BufferedCursor([], cursor.rowcount if rows else 0)

    def executescript(self, script: str) -> None:
        """Run several statements without parameters (migrations)."""
        self.raw.execute(script.encode())

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or the connection is in an unknown state)."""
        return self.raw.info.transaction_status is not TransactionStatus.IDLE

    def close(self) -> None:
        """Give the connection back to its pool, or close it."""
        if self._release is not None:
            self._release(self.raw)
        else:
            self.raw.close()


class PooledReader:
    """Reads on pooled connections, one autocommit statement at a time.

    Each statement sees everything committed before it (by any replica), like a SQLite reader in
    autocommit mode. Not for writes: those go through the sequencer.
    """

    dialect = Dialect.POSTGRESQL
    DatabaseError: type[Exception] = psycopg.DatabaseError
    in_transaction = False

    def __init__(self, pool: ConnectionPool[RawConnection]) -> None:
        self._pool = pool

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> BufferedCursor:
        """Run one statement on a borrowed connection and buffer its rows."""
        with self._pool.connection() as raw:
            return _buffered(raw.execute(_query(sql), tuple(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> BufferedCursor:
        """Run one statement per parameter row on a borrowed connection."""
        rows = [tuple(row) for row in parameters]
        if not rows:
            return BufferedCursor([], 0)
        with self._pool.connection() as raw:
            cursor = raw.cursor()
            cursor.executemany(_query(sql), rows)
            return BufferedCursor([], cursor.rowcount)

    def close(self) -> None:
        """Nothing to release: every statement gave its connection back."""


def prepare_writer(conn: PgConnection) -> None:
    """Session settings of a writer connection (see ``IDLE_IN_TRANSACTION_TIMEOUT``)."""
    setting = "idle_in_transaction_session_timeout"
    conn.execute("SELECT set_config(?, ?, false)", (setting, IDLE_IN_TRANSACTION_TIMEOUT))


def lock_batch(conn: Connection) -> None:
    """Begin a batch transaction that excludes every other replica's (see module docstring)."""
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    row = conn.execute("SELECT id FROM audit_coord WHERE id = 1 FOR UPDATE").fetchone()
    if row is None:
        raise RuntimeError("the audit_coord row is missing: the schema is damaged")
