"""Status lists in the database (migration 0005): lists, entries, and their status values.

An entry is ``(list_id, idx)`` of one attestation (``jti``) under one consent. Indices are
chosen by the caller (``gateway.usecases.status``: at random) and never reused: an entry is never
deleted, and ``status_lists.allocated`` counts entries so a full list takes no more. The packed
bit array is kept too, in ``status_chunks`` of ``CHUNK_BYTES``: a change rewrites one chunk, and a
publication reads a list in one query whatever its number of entries. Status values are the
draft's (``attestgate.protocol.status_list.Status``). Written inside units of work
(``Storage.write``), read on any connection; SQL is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from attestgate.audit.sql import Connection
from attestgate.protocol.status_list import Status, StatusList

__all__ = [
    "CHUNK_BYTES",
    "Entry",
    "ListInfo",
    "allocate",
    "consents_of",
    "create_list",
    "entries_of_consents",
    "entry_of",
    "expired_entries",
    "is_taken",
    "list_ids",
    "load_list",
    "open_list",
    "set_statuses",
]


@dataclass(frozen=True)
class ListInfo:
    """One status list: its id, bits per entry, capacity and how many entries are taken."""

    list_id: int
    bits: int
    size: int
    allocated: int


@dataclass(frozen=True)
class Entry:
    """One attestation's entry."""

    jti: str
    consent_id: str
    list_id: int
    idx: int
    status: Status


CHUNK_BYTES = 256
"""Bytes of packed bits per ``status_chunks`` row (1024 two-bit entries)."""


def _ts(moment: datetime) -> str:
    # The consent store's timestamp format, so consent times compare as text.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_LIST = "SELECT list_id, bits, size, allocated FROM status_lists"
_ENTRY = "SELECT jti, consent_id, list_id, idx, status FROM status_entries"


def open_list(conn: Connection, *, size: int, bits: int) -> ListInfo | None:
    """The newest list of this shape that still has room, or None."""
    row = conn.execute(
        f"{_LIST} WHERE allocated < size AND size = ? AND bits = ? ORDER BY list_id DESC LIMIT 1",
        (size, bits),
    ).fetchone()
    return None if row is None else ListInfo(*(int(v) for v in row))


def create_list(conn: Connection, *, size: int, bits: int, now: datetime) -> None:
    """Start a new empty list (id: one past the highest)."""
    conn.execute(
        "INSERT INTO status_lists (list_id, bits, size, allocated, created_at) "
        "SELECT COALESCE(MAX(list_id), 0) + 1, ?, ?, 0, ? FROM status_lists",
        (bits, size, _ts(now)),
    )


def list_ids(conn: Connection) -> list[int]:
    """Every list's id, oldest first."""
    return [int(r[0]) for r in conn.execute("SELECT list_id FROM status_lists ORDER BY list_id")]


def is_taken(conn: Connection, list_id: int, idx: int) -> bool:
    """Whether an attestation holds ``(list_id, idx)``."""
    row = conn.execute(
        "SELECT 1 FROM status_entries WHERE list_id = ? AND idx = ?", (list_id, idx)
    ).fetchone()
    return row is not None


def first_free(conn: Connection, list_id: int, start: int, size: int) -> int | None:
    """The first index of ``list_id`` at or after ``start`` that no attestation holds (below
    ``size``), or None: ``start`` itself, or the index just after a taken one whose successor is
    free (one statement, an index range scan from ``start``)."""
    row = conn.execute(
        "SELECT MIN(candidate) FROM ("
        " SELECT CAST(? AS BIGINT) AS candidate WHERE NOT EXISTS"
        "  (SELECT 1 FROM status_entries WHERE list_id = ? AND idx = ?)"
        " UNION ALL"
        " SELECT e.idx + 1 FROM status_entries e WHERE e.list_id = ? AND e.idx >= ?"
        "  AND e.idx + 1 < ? AND NOT EXISTS (SELECT 1 FROM status_entries n"
        "  WHERE n.list_id = e.list_id AND n.idx = e.idx + 1)"
        ") AS free",
        (start, list_id, start, list_id, start, size),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def allocate(
    conn: Connection, *, list_id: int, idx: int, jti: str, consent_id: str, now: datetime
) -> bool:
    """Give ``jti`` the VALID entry ``(list_id, idx)``; False (nothing written) if the list is
    full or the index was taken since it was drawn. Call inside a unit of work: writers are
    serialized, so the check and the insert see the same state."""
    if is_taken(conn, list_id, idx):
        return False
    counted = conn.execute(
        "UPDATE status_lists SET allocated = allocated + 1 "
        "WHERE list_id = ? AND allocated < size AND ? < size",
        (list_id, idx),
    )
    if counted.rowcount != 1:
        return False
    conn.execute(
        "INSERT INTO status_entries (list_id, idx, jti, consent_id, status, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (list_id, idx, jti, consent_id, int(Status.VALID), _ts(now)),
    )
    return True


def _entries(rows: Iterable[Sequence[object]]) -> list[Entry]:
    return [
        Entry(str(j), str(c), int(str(lst)), int(str(i)), Status(int(str(s))))
        for j, c, lst, i, s in rows
    ]


def entry_of(conn: Connection, jti: str) -> Entry | None:
    """The entry of attestation ``jti`` (None for attestations issued before status lists)."""
    found = _entries(conn.execute(f"{_ENTRY} WHERE jti = ?", (jti,)).fetchall())
    return found[0] if found else None


def entries_of_consents(
    conn: Connection, consent_ids: Sequence[str], statuses: Sequence[Status]
) -> list[Entry]:
    """Entries of attestations under ``consent_ids`` whose status is one of ``statuses``."""
    if not consent_ids or not statuses:
        return []
    ids = ", ".join("?" * len(consent_ids))
    wanted = ", ".join("?" * len(statuses))
    rows = conn.execute(
        f"{_ENTRY} WHERE consent_id IN ({ids}) AND status IN ({wanted}) ORDER BY list_id, idx",
        [*consent_ids, *(int(s) for s in statuses)],
    ).fetchall()
    return _entries(rows)


def entries_of_record(
    conn: Connection, domain: str, record_id: str, statuses: Sequence[Status]
) -> list[Entry]:
    """Entries of attestations about one record whose status is one of ``statuses``."""
    wanted = ", ".join("?" * len(statuses))
    rows = conn.execute(
        "SELECT e.jti, e.consent_id, e.list_id, e.idx, e.status FROM status_entries e"  # noqa: S608
        " JOIN attestations a ON a.jti = e.jti WHERE a.domain = ? AND a.record_id = ?"
        f" AND e.status IN ({wanted}) ORDER BY e.list_id, e.idx",
        [domain, record_id, *(int(s) for s in statuses)],
    ).fetchall()
    return _entries(rows)


def consents_of(conn: Connection, owner: str, domains: Sequence[str]) -> list[str]:
    """Ids of ``owner``'s consents over records of ``domains`` (an erasure's scope)."""
    if not domains:
        return []
    wanted = ", ".join("?" * len(domains))
    rows = conn.execute(
        f"SELECT id FROM consents WHERE owner = ? AND record_domain IN ({wanted})"  # noqa: S608
        " ORDER BY id",
        [owner, *domains],
    ).fetchall()
    return [str(r[0]) for r in rows]


def expired_entries(conn: Connection, now: datetime, limit: int) -> list[Entry]:
    """VALID or SUSPENDED entries whose consent's validity ended by ``now``."""
    rows = conn.execute(
        "SELECT e.jti, e.consent_id, e.list_id, e.idx, e.status FROM status_entries e "
        "JOIN consents c ON c.id = e.consent_id "
        "WHERE e.status IN (?, ?) AND c.valid_until <= ? ORDER BY e.list_id, e.idx LIMIT ?",
        (int(Status.VALID), int(Status.SUSPENDED), _ts(now), limit),
    ).fetchall()
    return _entries(rows)


def set_statuses(conn: Connection, entries: Sequence[Entry], status: Status, now: datetime) -> None:
    """Set ``entries`` to ``status``: their rows, and their bits in the lists' chunks."""
    conn.executemany(
        "UPDATE status_entries SET status = ?, updated_at = ? WHERE jti = ? AND status = ?",
        [(int(status), _ts(now), e.jti, int(e.status)) for e in entries],
    )
    chunks: dict[tuple[int, int], list[Entry]] = {}
    widths: dict[int, int] = {}
    for entry in entries:
        if entry.list_id not in widths:
            row = conn.execute(
                "SELECT bits FROM status_lists WHERE list_id = ?", (entry.list_id,)
            ).fetchone()
            widths[entry.list_id] = int(row[0])
        chunk = entry.idx * widths[entry.list_id] // 8 // CHUNK_BYTES
        chunks.setdefault((entry.list_id, chunk), []).append(entry)
    for (list_id, chunk), members in chunks.items():
        _rewrite_chunk(conn, list_id, chunk, bits=widths[list_id], members=members, status=status)


def _rewrite_chunk(
    conn: Connection,
    list_id: int,
    chunk: int,
    *,
    bits: int,
    members: Sequence[Entry],
    status: Status,
) -> None:
    row = conn.execute(
        "SELECT bits FROM status_chunks WHERE list_id = ? AND chunk = ?", (list_id, chunk)
    ).fetchone()
    packed = StatusList(bits, bytes(row[0]) if row is not None else bytes(CHUNK_BYTES))
    first = chunk * CHUNK_BYTES * 8 // bits  # index of the chunk's first entry
    for entry in members:
        packed.set(entry.idx - first, int(status))
    if row is None:
        conn.execute(
            "INSERT INTO status_chunks (list_id, chunk, bits) VALUES (?, ?, ?)",
            (list_id, chunk, packed.to_bytes()),
        )
    else:
        conn.execute(
            "UPDATE status_chunks SET bits = ? WHERE list_id = ? AND chunk = ?",
            (packed.to_bytes(), list_id, chunk),
        )


def load_list(conn: Connection, list_id: int) -> StatusList | None:
    """The list's bit array as committed now: its chunks, in one query (VALID where none)."""
    row = conn.execute(f"{_LIST} WHERE list_id = ?", (list_id,)).fetchone()
    if row is None:
        return None
    info = ListInfo(*(int(v) for v in row))
    data = bytearray(info.size * info.bits // 8)
    for chunk, bits in conn.execute(
        "SELECT chunk, bits FROM status_chunks WHERE list_id = ?", (list_id,)
    ):
        start = int(chunk) * CHUNK_BYTES
        data[start : start + CHUNK_BYTES] = bytes(bits)[: max(0, len(data) - start)]
    return StatusList(info.bits, data)
