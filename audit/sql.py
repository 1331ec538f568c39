"""The slice of a DB-API 2.0 (PEP 249) connection that every store of attestgate uses.

Store code is written once against ``Connection``: ``?`` placeholders, bytes in and out as
``bytes``, ``execute`` / ``executemany`` returning a cursor with ``fetchone`` / ``fetchall`` /
``rowcount``. A ``sqlite3.Connection`` in autocommit mode (``isolation_level=None``) is the
reference implementation, used as is; ``gateway.persistence.postgres.PgConnection`` adapts a
psycopg 3
connection to the same surface. Both expose the failed-statement base class as ``DatabaseError``
(PEP 249 "Optional DB API Extensions": connection attributes for the exception classes).

Where the dialects differ (a join hint, schema types, how a writer serializes with the others)
code asks ``dialect_of(conn)``; everything else is plain SQL both backends run unchanged.

This module lives in ``audit`` because the sequencer and the log need it and ``audit`` must not
import ``gateway``; it imports nothing but the standard library.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["Connection", "Cursor", "Dialect", "begin_immediate", "dialect_of"]


class Dialect(StrEnum):
    """The SQL dialects attestgate stores speak."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT/UPDATE/DELETE (-1 when not applicable)."""
        ...

    def fetchone(self) -> Any:
        """The next row as a tuple, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row as tuples."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows."""
        ...


class Connection(Protocol):
    """A connection in explicit-transaction mode: nothing is begun or committed implicitly."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement once per parameter row."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (BEGIN issued, no COMMIT/ROLLBACK yet)."""
        ...

    @property
    def DatabaseError(self) -> type[Exception]:  # noqa: N802 - PEP 249 attribute name
        """The base class of every error the database reports."""
        ...

    def close(self) -> None:
        """Close (or give back) the connection."""
        ...


def dialect_of(conn: Connection) -> Dialect:
    """The dialect ``conn`` speaks: SQLite for ``sqlite3`` connections, else its ``dialect``."""
    if isinstance(conn, sqlite3.Connection):
        return Dialect.SQLITE
    return Dialect(getattr(conn, "dialect", Dialect.SQLITE))


def begin_immediate(conn: Connection) -> None:
    """SQLite: open a write transaction now, so writers serialize at BEGIN rather than mid-way."""
    conn.execute("BEGIN IMMEDIATE")
