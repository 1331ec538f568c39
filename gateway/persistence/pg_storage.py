"""PostgreSQL storage for any number of stateless gateway replicas (DESIGN.md "Storage and
scale-out").

One ``psycopg_pool.ConnectionPool`` per replica serves both the reads (``PooledReader``: each
statement borrows a connection) and the sequencer's writer (one connection held while it runs).
Batches of all replicas are serialized by ``gateway.persistence.postgres.lock_batch``. The schema
belongs
to ``attestgate db migrate``: ``create`` only checks it and refuses to start on another version.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from attestgate.audit.sql import Connection, Dialect
from attestgate.consent.sql_store import SqlConsentStore
from attestgate.consent.store import ConsentStore
from attestgate.gateway.persistence.backend import SequencedWrites
from attestgate.gateway.persistence.migrate import check_schema
from attestgate.gateway.persistence.postgres import (
    PgConnection,
    PooledReader,
    RawConnection,
    lock_batch,
    prepare_writer,
)
from attestgate.gateway.persistence.url import DatabaseUrl, StorageError

__all__ = ["PostgresStorage", "open_pool"]

CONNECT_TIMEOUT_SECONDS = 10.0


def open_pool(
    url: DatabaseUrl, *, max_size: int, min_size: int = 1
) -> ConnectionPool[RawConnection]:
    """An open pool of autocommit connections; ``StorageError`` when the server is unreachable."""
    pool: ConnectionPool[RawConnection] = ConnectionPool(
        url.conninfo,
        min_size=min_size,
        max_size=max(max_size, min_size),
        kwargs={"autocommit": True},
        open=False,
        name="attestgate",
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
    except PoolTimeout:
        pool.close()
        raise StorageError(
            f"cannot connect to PostgreSQL at {url.display} within {CONNECT_TIMEOUT_SECONDS:.0f}s"
        ) from None
    return pool


class PostgresStorage(SequencedWrites):
    """The ``Storage`` of a replica on a shared PostgreSQL database."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, url: DatabaseUrl, *, pool_size: int) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: ConnectionPool[RawConnection] | None = None

    @property
    def display(self) -> str:
        """The URL without its password."""
        return self.url.display

    def create(self, now: datetime) -> None:
        """Connect and refuse (``SchemaVersionError``) a schema this gateway was not built for."""
        del now  # PostgreSQL is migrated by ``attestgate db migrate``, never by ``serve``
        self._pool = open_pool(self.url, max_size=self._pool_size)
        try:
            check_schema(self.read(), db_display=self.url.display)
        except BaseException:
            self._pool.close()
            self._pool = None
            raise

    def _opened(self) -> ConnectionPool[RawConnection]:
        if self._pool is None:
            raise StorageError("the PostgreSQL storage is not open")
        return self._pool

    def writer_connection(self) -> PgConnection:
        """A pooled connection for the sequencer's writer, held until it is closed."""
        pool = self._opened()
        conn = PgConnection(pool.getconn(), release=pool.putconn)
        prepare_writer(conn)
        return conn

    def begin_batch(self, conn: Connection) -> None:
        """BEGIN and lock the coordination row (``gateway.persistence.postgres``)."""
        lock_batch(conn)

    def read(self) -> PooledReader:
        """Reads on pooled connections (any thread)."""
        return PooledReader(self._opened())

    def consents(self, conn: Connection) -> ConsentStore:
        """A ``SqlConsentStore`` over ``conn``."""
        return SqlConsentStore(conn)

    def healthy(self) -> bool:
        """Whether the server answers a trivial query within the pool's timeout."""
        try:
            self.read().execute("SELECT 1").fetchone()
        except (psycopg.Error, PoolTimeout, StorageError):
            return False
        return True

    def close(self) -> None:
        """Drain and stop the sequencer, close the pool."""
        self.stop_writes()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
