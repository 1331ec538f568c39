"""SQL storage of the audit log: leaves, perfect-subtree hashes and signed checkpoints.

Every function speaks ``audit.sql.Connection`` (SQLite or PostgreSQL). Tables (created by the
gateway's migrations, ``gateway/persistence/migrations``, the only place that writes DDL; tests and
tools
run ``gateway.persistence.migrate`` on their database):

``audit_leaves(idx, data, leaf_hash)``
    one row per event, ``idx`` dense from 0.
``audit_nodes(level, idx, hash)``
    the hash of every complete perfect aligned subtree (see ``audit.hashing``); level 0 repeats
    the leaf hashes so that every proof reads only this table.
``audit_checkpoints(size, root, note, created_at)``
    every signed checkpoint (c2sp.org/tlog-checkpoint) in order of size.

Append-only is enforced in storage, not only in code: the migrations install triggers (plpgsql on
PostgreSQL) that abort every UPDATE and DELETE, an INSERT that would overwrite a row (``INSERT OR
REPLACE`` deletes without firing delete triggers) and a leaf INSERT that would leave a gap. Only
someone who can drop the triggers (file access) can change history, and ``audit.verify`` detects
that.

Functions here never BEGIN or COMMIT: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from attestgate.audit.hashing import NodeId
from attestgate.audit.sql import Connection, Dialect, dialect_of

__all__ = [
    "AuditStorageError",
    "StoredCheckpoint",
    "format_time",
    "get_checkpoint",
    "head",
    "insert_checkpoint",
    "insert_leaves",
    "insert_nodes",
    "insert_rows",
    "iter_checkpoints",
    "latest_checkpoint",
    "read_entries",
    "read_leaf",
    "read_nodes",
    "stored_size",
]


class AuditStorageError(RuntimeError):
    """Stored log data is missing or inconsistent (corruption or tampering, never bad input)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """One signed checkpoint row: tree size, root, the signed note text and when it was made."""

    size: int
    root: bytes
    note: str
    created_at: datetime


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with a 'Z' and millisecond precision when there is a fraction."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment.microsecond // 1000:
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.isoformat(timespec="seconds") + "Z"


_SIZE_SQL = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves"


def stored_size(conn: Connection) -> int:
    """Number of leaves visible to ``conn`` (one index lookup: leaves are dense)."""
    row = conn.execute(_SIZE_SQL).fetchone()
    return int(row[0])


def head(conn: Connection) -> tuple[int, int | None]:
    """``(stored_size, size of the newest checkpoint or None)`` in one statement (two index
    lookups): what a writer re-reads at the start of every batch."""
    row = conn.execute(
        f"SELECT ({_SIZE_SQL}), (SELECT MAX(size) FROM audit_checkpoints)"  # noqa: S608
    ).fetchone()
    return int(row[0]), None if row[1] is None else int(row[1])


def insert_leaves(conn: Connection, rows: Sequence[tuple[int, bytes, bytes]]) -> None:
    """Insert ``(idx, data, leaf_hash)`` rows."""
    insert_rows(conn, "audit_leaves (idx, data, leaf_hash)", rows)


def insert_nodes(conn: Connection, rows: Sequence[tuple[int, int, bytes]]) -> None:
    """Insert ``(level, idx, hash)`` rows."""
    insert_rows(conn, "audit_nodes (level, idx, hash)", rows)


MAX_PARAMETERS = 999
"""Bound parameters per statement: SQLite's oldest default limit (newer builds allow more)."""


def insert_rows(conn: Connection, target: str, rows: Sequence[Sequence[object]]) -> None:
    """``INSERT INTO target VALUES (...), (...), ...``: ``rows`` (all of one width) in as few
    statements as the parameter limit allows.

    One statement per chunk instead of one per row: a batch of the sequencer is then a handful
    of statements, each a single step inside SQLite, and one GIL release in Python's ``sqlite3``
    instead of one per row (which matters with many RPC threads waiting for the GIL). ``target``
    is a table and column list from this code base, never caller input.
    """
    if not rows:
        return
    width = len(rows[0])
    placeholder = "(" + ", ".join(["?"] * width) + ")"
    per_statement = MAX_PARAMETERS // width
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([placeholder] * len(chunk))
        params = [value for row in chunk for value in row]
        conn.execute(f"INSERT INTO {target} VALUES {values}", params)  # noqa: S608 - placeholders


def read_nodes(conn: Connection, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
    """The hashes of ``ids`` in ONE query (primary-key lookups); missing rows are an error."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    values = ", ".join("(?, ?)" for _ in wanted)
    params = [part for node in wanted for part in node]
    # A VALUES list joined to the primary key: one SEARCH per wanted node. The row-value form
    # "(level, idx) IN (VALUES ...)" would SCAN the whole table. SQLite's CROSS JOIN fixes the
    # loop order (VALUES outside); PostgreSQL has no such hint and plans the same nested loop.
    join = "CROSS JOIN" if dialect_of(conn) is Dialect.SQLITE else "JOIN"
    query = (
        f"SELECT n.level, n.idx, n.hash FROM (VALUES {values}) AS w "  # noqa: S608 - placeholders only
        f"{join} audit_nodes AS n ON n.level = w.column1 AND n.idx = w.column2"
    )
    rows = conn.execute(query, params).fetchall()
    found = {NodeId(int(level), int(idx)): bytes(value) for level, idx, value in rows}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise AuditStorageError(
            f"audit log is missing {len(missing)} tree node(s), first {missing[0]}"
        )
    return found


def read_entries(conn: Connection, start: int, end: int) -> list[tuple[int, bytes]]:
    """``(idx, data)`` for ``start <= idx < end``, in order."""
    rows = conn.execute(
        "SELECT idx, data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
    ).fetchall()
    return [(int(idx), bytes(data)) for idx, data in rows]


def read_leaf(conn: Connection, idx: int) -> bytes | None:
    """The data of leaf ``idx``, or None."""
    row = conn.execute("SELECT data FROM audit_leaves WHERE idx = ?", (idx,)).fetchone()
    return None if row is None else bytes(row[0])


def insert_checkpoint(
    conn: Connection, size: int, root: bytes, note: str, created_at: datetime
) -> StoredCheckpoint:
    """Insert one checkpoint row; ``created_at`` must be timezone-aware."""
    conn.execute(
        "INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)",
        (size, root, note, format_time(created_at)),
    )
    return StoredCheckpoint(size, root, note, _parse_time(format_time(created_at)))


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _checkpoint(row: tuple[int, bytes, str, str]) -> StoredCheckpoint:
    size, root, note, created_at = row
    return StoredCheckpoint(int(size), bytes(root), str(note), _parse_time(created_at))


_CHECKPOINT_COLUMNS = "SELECT size, root, note, created_at FROM audit_checkpoints"


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    """The checkpoint with the largest size, or None."""
    row = conn.execute(f"{_CHECKPOINT_COLUMNS} ORDER BY size DESC LIMIT 1").fetchone()
    return None if row is None else _checkpoint(row)


def get_checkpoint(conn: Connection, size: int) -> StoredCheckpoint | None:
    """The checkpoint at exactly ``size``, or None."""
    row = conn.execute(f"{_CHECKPOINT_COLUMNS} WHERE size = ?", (size,)).fetchone()
    return None if row is None else _checkpoint(row)


def iter_checkpoints(
    conn: Connection, *, start: int = 0, page: int = 512
) -> Iterator[StoredCheckpoint]:
    """Checkpoints with ``size >= start`` in increasing size, read a page at a time."""
    while True:
        rows = conn.execute(
            f"{_CHECKPOINT_COLUMNS} WHERE size >= ? ORDER BY size LIMIT ?", (start, page)
        ).fetchall()
        for row in rows:
            yield _checkpoint(row)
        if len(rows) < page:
            return
        start = int(rows[-1][0]) + 1
