"""What the gateway needs from a database (``Storage``), and the writes both backends share.

The backends, ``gateway.persistence.storage.SqliteStorage`` and
``gateway.persistence.pg_storage.PostgresStorage``,
build on this module; ``gateway.persistence.storage.open_storage`` chooses one of them from
``--db``. Neither
backend imports the other or the chooser.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from attestgate.audit.sequencer import Committed, RefusalEvents, Sequencer, Tx
from attestgate.audit.sql import Connection, Dialect
from attestgate.consent.store import ConsentStore
from attestgate.protocol.reasons import DomainError, Reason

__all__ = ["SequencedWrites", "Storage"]

T = TypeVar("T")


class Storage(Protocol):
    """What the gateway needs from a database (SQLite or PostgreSQL)."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the database."""
        ...

    @property
    def display(self) -> str:
        """The database for messages: a path, or a URL without its password."""
        ...

    def create(self, now: datetime) -> None:
        """Open the database and make sure its schema is current (or refuse to start)."""
        ...

    def writer_connection(self) -> Connection:
        """A connection for the sequencer's writer thread (closing it gives it back)."""
        ...

    def begin_batch(self, conn: Connection) -> None:
        """Begin a batch transaction that excludes every other writer of the database."""
        ...

    def attach(self, sequencer: Sequencer) -> None:
        """Use this sequencer for writes and start it."""
        ...

    def read(self) -> Connection:
        """A connection for reads on this thread."""
        ...

    def write(
        self, fn: Callable[[Tx], T], *, on_refusal: RefusalEvents | None = None
    ) -> Committed[T]:
        """Run a unit of work in the next group commit; return once it is durable."""
        ...

    def consents(self, conn: Connection) -> ConsentStore:
        """The consent store over ``conn`` (a read connection or a unit of work's)."""
        ...

    def healthy(self) -> bool:
        """Whether the database answers a trivial query."""
        ...

    def close(self) -> None:
        """Drain and stop the sequencer, release every connection."""
        ...


class SequencedWrites:
    """Writes through an attached sequencer: the part both backends share."""

    _sequencer: Sequencer | None = None

    def attach(self, sequencer: Sequencer) -> None:
        """Use this sequencer for writes and start it."""
        self._sequencer = sequencer
        sequencer.start()

    def write(
        self, fn: Callable[[Tx], T], *, on_refusal: RefusalEvents | None = None
    ) -> Committed[T]:
        """Run a unit of work in the next group commit; return once it is durable."""
        if self._sequencer is None:
            raise DomainError(Reason.STORAGE_UNAVAILABLE, "storage is not open")
        return self._sequencer.submit(fn, on_refusal=on_refusal)

    def stop_writes(self) -> None:
        """Drain and stop the sequencer."""
        if self._sequencer is not None:
            self._sequencer.stop()
            self._sequencer = None
