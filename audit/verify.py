"""Full verification of a stored audit log: what ``attestgate audit verify`` runs.

Trusts nothing in storage. Streams every leaf in index order, recomputes its hash and the whole tree
with a compact range (memory O(log n)), compares every stored node with the recomputed one, checks
that indices are dense and that no extra nodes exist, and checks every stored checkpoint: its
signature with the given verifiers, its body against its row, its root against the recomputed root
at its size, and its consistency with the previous checkpoint (RFC 9162 §2.1.4.2, as a regulator
would check it).

The report names the first bad leaf index. When a checkpoint fails, the first bad index is the size
of the last checkpoint that verified (0 if none): the first leaf no longer vouched for by the log's
signature. This is also what a wholesale rewrite of leaves and nodes (consistent among themselves)
yields, since only the signatures then disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from attestgate.audit import store
from attestgate.audit.hashing import CompactRange, NodeId, consistency_ranges
from attestgate.audit.sql import Connection
from attestgate.audit.store import AuditStorageError
from attestgate.audit.tree import range_hashes
from attestgate.protocol.merkle import EMPTY_ROOT, ProofError, leaf_hash, verify_consistency
from attestgate.protocol.note import NoteError, Verifier, open_checkpoint

__all__ = ["DEFAULT_CHUNK", "Progress", "VerifyReport", "verify_log"]

DEFAULT_CHUNK = 4096
"""Leaves read per query: bounds memory independently of the log size."""

Progress = Callable[[int, int], None]
"""``progress(done, total)`` callback, called after each chunk of leaves."""


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of ``verify_log``.

    ``size`` is the number of stored leaves; ``root`` the recomputed root when ``ok``, else None.
    On failure ``first_bad_index`` is the first leaf index that cannot be trusted and ``problem``
    says why, with indices, sizes and hashes only (never event contents).
    """

    ok: bool
    size: int
    root: bytes | None
    first_bad_index: int | None = None
    problem: str | None = None


class _BadLogError(Exception):
    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


_CheckpointRow = tuple[int, object, object]  # size, root, note: as stored, types unchecked


def _checkpoint_rows(conn: Connection, page: int = 512) -> Iterator[_CheckpointRow]:
    """Every checkpoint row in size order (negative sizes included), a page at a time."""
    start = -(2**63)
    while True:
        rows = conn.execute(
            "SELECT size, root, note FROM audit_checkpoints WHERE size >= ? ORDER BY size LIMIT ?",
            (start, page),
        ).fetchall()
        yield from ((int(size), root, note) for size, root, note in rows)
        if len(rows) < page:
            return
        start = int(rows[-1][0]) + 1


class _Checkpoints:
    """Walks the stored checkpoints in size order while the tree is being recomputed."""

    def __init__(self, conn: Connection, verifiers: list[Verifier], origin: str | None):
        self._conn = conn
        self._verifiers = verifiers
        self._origin = origin
        self._rows = _checkpoint_rows(conn)
        self._next: _CheckpointRow | None = next(self._rows, None)
        self.due: int | None = None if self._next is None else self._next[0]
        self._last_good: tuple[int, bytes] | None = None

    def check(self, size: int, root: bytes) -> None:
        """Check every stored checkpoint at ``size`` against the recomputed ``root``."""
        while self._next is not None and self._next[0] == size:
            row = self._next
            self._next = next(self._rows, None)
            self.due = None if self._next is None else self._next[0]
            self._last_good = (size, self._check_one(row, root))

    def _check_one(self, row: _CheckpointRow, root: bytes) -> bytes:
        size, stored_root, note = row
        previous = self._last_good
        bad_from = 0 if previous is None else previous[0]
        label = f"checkpoint at size {size}"
        if not isinstance(stored_root, bytes) or not isinstance(note, str):
            raise _BadLogError(bad_from, f"{label}: root or note has the wrong type")
        try:
            signed = open_checkpoint(note, self._verifiers, origin=self._origin)
        except NoteError as exc:
            raise _BadLogError(bad_from, f"{label}: {exc}") from exc
        if signed.size != size or signed.root_hash != stored_root:
            raise _BadLogError(bad_from, f"{label}: the signed note does not match the stored row")
        if stored_root != root:
            raise _BadLogError(
                bad_from, f"{label}: signed root {stored_root.hex()}, leaves give {root.hex()}"
            )
        if previous is not None:
            self._check_consistency(previous, size, stored_root, label)
        return stored_root

    def _check_consistency(
        self, previous: tuple[int, bytes], size: int, root: bytes, label: str
    ) -> None:
        old_size, old_root = previous
        try:  # the nodes read here were all compared with recomputed ones already
            proof = range_hashes(self._conn, consistency_ranges(old_size, size))
            verify_consistency(
                old_size=old_size, new_size=size, old_root=old_root, new_root=root, proof=proof
            )
        except (ProofError, AuditStorageError) as exc:
            raise _BadLogError(
                old_size, f"{label}: not consistent with size {old_size}: {exc}"
            ) from exc


def _stored_nodes(conn: Connection, begin: int, end: int) -> dict[NodeId, bytes]:
    """Stored nodes completed by leaves [begin, end): at level l, indices [begin>>l, end>>l)."""
    found: dict[NodeId, bytes] = {}
    level = 0
    while end >> level:
        lo, hi = begin >> level, end >> level
        if lo < hi:
            rows = conn.execute(
                "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ?",
                (level, lo, hi),
            )
            found.update(
                (NodeId(level, int(idx)), value if isinstance(value, bytes) else b"")
                for idx, value in rows
            )
        level += 1
    return found


def _verify_chunk(
    conn: Connection,
    tree: CompactRange,
    rows: list[tuple[int, bytes, bytes]],
    checkpoints: _Checkpoints,
) -> None:
    """Recompute one chunk of leaves into ``tree``, comparing nodes and checkpoints on the way."""
    stored = _stored_nodes(conn, tree.size, tree.size + len(rows))
    for idx, data, stored_leaf_hash in rows:
        if idx != tree.size:
            raise _BadLogError(
                tree.size, f"leaf {tree.size} is missing (next stored index is {idx})"
            )
        computed = leaf_hash(data)
        if stored_leaf_hash != computed:
            raise _BadLogError(idx, f"leaf {idx}: the stored leaf hash does not match its data")
        for node, value in tree.append(computed):
            if stored.get(node) != value:
                state = "missing" if node not in stored else "different"
                raise _BadLogError(node.begin, f"tree node {tuple(node)} is {state}")
        if checkpoints.due == tree.size:
            checkpoints.check(tree.size, tree.root())


def _read_chunk(conn: Connection, start: int, count: int) -> list[tuple[int, bytes, bytes]]:
    rows = conn.execute(
        "SELECT idx, data, leaf_hash FROM audit_leaves WHERE idx >= ? ORDER BY idx LIMIT ?",
        (start, count),
    ).fetchall()
    for idx, data, hashed in rows:
        if not isinstance(data, bytes) or not isinstance(hashed, bytes):
            raise _BadLogError(int(idx), f"leaf {idx}: data or leaf hash is not a BLOB")
    return [(int(idx), data, hashed) for idx, data, hashed in rows]


def _check_totals(conn: Connection, tree: CompactRange, checkpoints: _Checkpoints) -> None:
    """After the last leaf: no node rows outside the tree, no checkpoint beyond it."""
    expected = sum(tree.size >> level for level in range(64))
    (count,) = conn.execute("SELECT COUNT(*) FROM audit_nodes").fetchone()
    if int(count) != expected:
        raise _BadLogError(tree.size, f"{int(count) - expected} unexpected tree node row(s)")
    if checkpoints.due is not None:
        raise _BadLogError(
            tree.size, f"checkpoint at size {checkpoints.due} is beyond the stored leaves"
        )


def _verify_all(
    conn: Connection, checkpoints: _Checkpoints, progress: Progress | None, chunk_size: int
) -> CompactRange:
    total = store.stored_size(conn)
    tree = CompactRange()
    if checkpoints.due is not None and checkpoints.due < 0:
        raise _BadLogError(0, f"checkpoint at negative size {checkpoints.due}")
    if checkpoints.due == 0:
        checkpoints.check(0, EMPTY_ROOT)
    while rows := _read_chunk(conn, tree.size, chunk_size):
        _verify_chunk(conn, tree, rows, checkpoints)
        if progress is not None:
            progress(tree.size, total)
    _check_totals(conn, tree, checkpoints)
    return tree


def verify_log(
    conn: Connection,
    verifiers: Iterable[Verifier],
    *,
    origin: str | None = None,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> VerifyReport:
    """Recompute and check the whole stored log (see module docstring).

    Tampering is reported in the ``VerifyReport``, never raised; so are unreadable tables.
    ``origin``, when given, must be the origin line of every checkpoint. ``chunk_size`` leaves are
    held in memory at a time. Reads only; run it inside one read transaction for a stable view of a
    live log.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    total = 0
    try:
        total = store.stored_size(conn)
        tree = _verify_all(conn, _Checkpoints(conn, list(verifiers), origin), progress, chunk_size)
    except _BadLogError as bad:
        return VerifyReport(False, total, None, bad.index, bad.problem)
    except conn.DatabaseError as exc:  # a dropped table or a damaged file is tampering too
        return VerifyReport(False, 0, None, 0, f"the log cannot be read: {type(exc).__name__}")
    return VerifyReport(True, tree.size, tree.root())
