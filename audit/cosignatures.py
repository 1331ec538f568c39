"""Witness cosignatures of the stored checkpoints, and the checkpoint the log publishes.

Table ``audit_cosignatures(size, witness, key_id, line, created_at)`` (migration 0009): one
verified signature line (c2sp.org/tlog-cosignature) per checkpoint size and witness key, as the
witness returned it. Rows are only added (``INSERT ... ON CONFLICT DO NOTHING``), so replicas
storing the same line race harmlessly.

``PublishedCheckpoints`` picks what the log serves (gRPC ``GetCheckpoint``, ``WatchCheckpoints``,
the public face's ``/log/checkpoint``): with a threshold ``k`` > 0, the newest checkpoint that
``k`` witnesses (counted by name) cosigned, or the newest checkpoint while none has ``k`` yet;
with ``k`` = 0 the newest checkpoint. Either way the note carries every cosignature line stored
for its size after the log's own signature.

Functions here never BEGIN or COMMIT: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from attestgate.audit.sql import Connection
from attestgate.audit.store import (
    StoredCheckpoint,
    format_time,
    get_checkpoint,
    latest_checkpoint,
)
from attestgate.protocol.cosignature import add_cosignatures

__all__ = [
    "PublishedCheckpoints",
    "cosignature_lines",
    "insert_cosignatures",
    "newest_cosigned",
    "with_cosignatures",
    "witness_sizes",
]


def insert_cosignatures(
    conn: Connection, size: int, rows: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """Store ``(witness name, hex key id, signature line)`` rows for the checkpoint at ``size``;
    a row already stored is kept as it is."""
    stamp = format_time(now)
    for witness, key_id, line in rows:
        conn.execute(
            "INSERT INTO audit_cosignatures (size, witness, key_id, line, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (size, witness, key_id) DO NOTHING",
            (size, witness, key_id, line, stamp),
        )


def cosignature_lines(conn: Connection, size: int) -> list[str]:
    """The stored cosignature lines of the checkpoint at ``size``, by witness and key id."""
    rows = conn.execute(
        "SELECT line FROM audit_cosignatures WHERE size = ? ORDER BY witness, key_id", (size,)
    ).fetchall()
    return [str(row[0]) for row in rows]


def witness_sizes(conn: Connection) -> dict[str, int]:
    """The largest checkpoint size each witness (by name) has a stored cosignature for."""
    rows = conn.execute(
        "SELECT witness, MAX(size) FROM audit_cosignatures GROUP BY witness"
    ).fetchall()
    return {str(name): int(size) for name, size in rows}


def newest_cosigned(conn: Connection, k: int) -> int | None:
    """The largest checkpoint size cosigned by at least ``k`` witnesses (by name), or None."""
    row = conn.execute(
        "SELECT MAX(size) FROM (SELECT size FROM audit_cosignatures GROUP BY size"
        " HAVING COUNT(DISTINCT witness) >= ?) AS cosigned",
        (k,),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


class PublishedCheckpoints:
    """The checkpoint the log serves, with its cosignatures (see the module's doc)."""

    def __init__(self, k: int = 0) -> None:
        self.k = k

    def latest(self, conn: Connection) -> StoredCheckpoint | None:
        """The published checkpoint, its note carrying the stored cosignature lines."""
        newest = latest_checkpoint(conn)
        if newest is None:
            return None
        chosen: StoredCheckpoint | None = newest
        if self.k > 0:
            size = newest_cosigned(conn, self.k)
            if size is not None and size < newest.size:
                chosen = get_checkpoint(conn, size)
        assert chosen is not None  # a cosigned size is a stored checkpoint's
        return with_cosignatures(conn, chosen)


def with_cosignatures(conn: Connection, stored: StoredCheckpoint) -> StoredCheckpoint:
    """``stored`` with the cosignature lines stored for its size added to its note."""
    lines = cosignature_lines(conn, stored.size)
    return replace(stored, note=add_cosignatures(stored.note, lines)) if lines else stored
