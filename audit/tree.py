"""The audit log's Merkle tree over SQL storage: appends, roots, RFC 9162 proofs and checkpoints.

``AuditLog`` keeps only a compact range (at most 64 hashes) in memory. Roots and proofs are
assembled from stored perfect-subtree hashes (``audit.hashing``), reading O(log n) rows in one
query.

Transactions belong to the caller (the sequencer runs many appends in one durable transaction):

* ``append`` writes rows on the given connection and stages the new tree state as *pending*;
* ``commit_pending`` adopts it after the caller's COMMIT succeeded;
* ``rollback_pending`` forgets it after a ROLLBACK.

Several appends (and a ``write_checkpoint``) may share one transaction; each builds on the pending
state. Reads (``root``, proofs, ``entries``...) only use the connection they are given, so any
number of reader threads may call them with their own connections.

Several processes may write one log (gateway replicas on one PostgreSQL) as long as their write
transactions are serialized (the sequencer's ``begin``): ``refresh`` at the start of each one adopts
what the others appended or checkpointed, so appends stay dense and checkpoints are never repeated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from attestgate.audit import store
from attestgate.audit.hashing import (
    CompactRange,
    consistency_ranges,
    fold_subtrees,
    inclusion_ranges,
    perfect_subtrees,
)
from attestgate.audit.sql import Connection
from attestgate.audit.store import AuditStorageError, StoredCheckpoint
from attestgate.protocol.merkle import leaf_hash
from attestgate.protocol.note import NoteSigner, format_checkpoint
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

__all__ = ["AppendResult", "AuditLog", "TreeHead", "range_hashes"]


class AppendResult(NamedTuple):
    """Outcome of an append: index of the first new leaf, new tree size, new root."""

    first_index: int
    size: int
    root: bytes


@dataclass(frozen=True)
class TreeHead:
    """A tree size and its root hash."""

    size: int
    root: bytes


@dataclass(frozen=True)
class _State:
    tree: CompactRange
    checkpoint_size: int | None  # size of the newest checkpoint, None before the first


ConnectionSource = Connection | Callable[[], Connection]


def range_hashes(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH of each leaf range, from ONE query over the stored perfect subtrees.

    Every range must lie inside the stored tree; proofs use this without ``AuditLog`` state.
    """
    parts = [perfect_subtrees(lo, hi) for lo, hi in ranges]
    nodes = store.read_nodes(conn, [node for part in parts for node in part])
    return [fold_subtrees([nodes[node] for node in part]) for part in parts]


class AuditLog:
    """Append-only Merkle log stored in SQL (see module docstring for the transaction rules).

    ``source`` is a connection or a factory (opened once to load the state, then closed). A
    ``signer`` is needed only to write checkpoints; ``origin`` defaults to the signer's key name, as
    c2sp.org/tlog-checkpoint recommends.
    """

    def __init__(
        self,
        source: ConnectionSource,
        *,
        signer: NoteSigner | None = None,
        origin: str | None = None,
    ) -> None:
        self._signer = signer
        self.origin = origin if origin is not None else (signer.name if signer else None)
        self._lock = threading.Lock()
        self._pending: _State | None = None
        self._fresh = False  # refreshed inside the current write transaction
        if hasattr(source, "execute"):
            self._committed = self._load(cast(Connection, source))
        else:
            conn = source()
            try:
                self._committed = self._load(conn)
            finally:
                conn.close()

    @staticmethod
    def _load(conn: Connection) -> _State:
        """Rebuild the compact range from stored nodes: O(log n) rows."""
        size = store.stored_size(conn)
        ids = perfect_subtrees(0, size)
        hashes = store.read_nodes(conn, ids)
        latest = store.latest_checkpoint(conn)
        tree = CompactRange(size, [hashes[node] for node in ids])
        return _State(tree, None if latest is None else latest.size)

    # -- writing -------------------------------------------------------------------------------

    def append(self, conn: Connection, leaves: Sequence[bytes]) -> AppendResult:
        """Write ``leaves`` and every subtree they complete, inside the caller's transaction.

        The new state stays pending until ``commit_pending``. If another writer appended since this
        object last looked (and nothing is pending), the state is reloaded first.
        """
        with self._lock:
            base = self._pending or self._committed
            # After ``refresh`` in this transaction the head is known to be current: skip a query.
            if not self._fresh and store.stored_size(conn) != base.tree.size:
                if self._pending is not None:
                    raise AuditStorageError("the log changed under a pending append")
                base = self._committed = self._load(conn)
            tree = base.tree.copy()
            first = tree.size
            leaf_rows: list[tuple[int, bytes, bytes]] = []
            node_rows: list[tuple[int, int, bytes]] = []
            for data in leaves:
                if not isinstance(data, bytes):
                    raise TypeError("audit leaves are bytes")
                hashed = leaf_hash(data)
                leaf_rows.append((tree.size, data, hashed))
                node_rows.extend((n.level, n.idx, h) for n, h in tree.append(hashed))
            store.insert_leaves(conn, leaf_rows)
            store.insert_nodes(conn, node_rows)
            self._pending = _State(tree, base.checkpoint_size)
            return AppendResult(first, tree.size, tree.root())

    def refresh(self, conn: Connection) -> None:
        """Adopt what other writers committed since this object last looked.

        Call at the start of a write transaction that excludes the other writers, before any
        append: a changed size reloads the compact range (O(log n) rows), a newer checkpoint by
        another writer is adopted so this one is not signed twice. One statement otherwise.
        """
        with self._lock:
            if self._pending is not None:
                raise AuditStorageError("refresh while an append is pending")
            state = self._committed
            self._fresh = True
            size, checkpoint_size = store.head(conn)  # one statement: it runs every batch
            if size != state.tree.size:
                self._committed = self._load(conn)
                return
            if checkpoint_size != state.checkpoint_size:
                self._committed = _State(state.tree, checkpoint_size)

    def commit_pending(self) -> None:
        """The caller's transaction committed: adopt the pending state (no-op if none)."""
        with self._lock:
            self._fresh = False
            if self._pending is not None:
                self._committed, self._pending = self._pending, None

    def rollback_pending(self) -> None:
        """The caller's transaction rolled back: forget the pending state."""
        with self._lock:
            self._fresh = False
            self._pending = None

    def head(self) -> TreeHead:
        """Size and root of the committed tree, from memory."""
        with self._lock:
            tree = self._committed.tree
            return TreeHead(tree.size, tree.root())

    def checkpoint_due(self) -> tuple[int, bytes] | None:
        """(size, root) of the current tree (pending appends included) if it has no checkpoint."""
        with self._lock:
            state = self._pending or self._committed
            if state.checkpoint_size == state.tree.size:
                return None
            return state.tree.size, state.tree.root()

    def write_checkpoint(self, conn: Connection, now: datetime) -> StoredCheckpoint:
        """Sign and store a checkpoint of the current tree inside the caller's transaction."""
        if self._signer is None or self.origin is None:
            raise RuntimeError("this AuditLog has no checkpoint signer")
        with self._lock:
            state = self._pending or self._committed
            size, root = state.tree.size, state.tree.root()
            if state.checkpoint_size == size:
                existing = store.get_checkpoint(conn, size)
                if existing is not None:
                    return existing
            note = self._signer.sign(format_checkpoint(self.origin, size, root))
            stored = store.insert_checkpoint(conn, size, root, note, now)
            self._pending = _State(state.tree, size)
            return stored

    def add_checkpoint(
        self, conn: Connection, size: int, root: bytes, note_text: str, created_at: datetime
    ) -> StoredCheckpoint:
        """Store an externally signed checkpoint; ``root`` must be the tree's root at ``size``."""
        if self.root(conn, size) != root:
            raise DomainError(
                Reason.INVALID_ARGUMENT, f"root does not match the tree at size {size}"
            )
        return store.insert_checkpoint(conn, size, root, note_text, created_at)

    # -- reading -------------------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """Tree size visible to ``conn``."""
        return store.stored_size(conn)

    def _check_size(self, conn: Connection, size: int, *, minimum: int = 0) -> None:
        tree_size = store.stored_size(conn)
        if not minimum <= size <= tree_size:
            raise DomainError(
                Reason.TREE_SIZE_OUT_OF_RANGE,
                f"tree size {size} is outside [{minimum}, {tree_size}]",
                metadata={"tree_size": str(tree_size)},
            )

    def root(self, conn: Connection, size: int) -> bytes:
        """MTH(D[0:size]) (RFC 9162 §2.1.1) from at most 63 stored nodes."""
        self._check_size(conn, size)
        return range_hashes(conn, [(0, size)])[0]

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1).

        A request no log could ever answer (``index`` negative or not below ``size``, ``size``
        below 1) is ``INVALID_ARGUMENT`` naming the field; a ``size`` the log has not reached yet
        is ``TREE_SIZE_OUT_OF_RANGE`` (AIP-193: OUT_OF_RANGE is for what may succeed later).
        """
        violations: list[FieldViolation] = []
        if size < 1:
            violations.append(
                FieldViolation("tree_size", "must be at least 1: no leaf is in the empty tree")
            )
        if index < 0:
            violations.append(FieldViolation("leaf_index", f"must not be negative (got {index})"))
        elif index >= size >= 1:
            violations.append(
                FieldViolation("leaf_index", f"must be below tree_size {size} (got {index})")
            )
        if violations:
            raise invalid_argument(*violations)
        self._check_size(conn, size, minimum=1)
        return range_hashes(conn, inclusion_ranges(index, size))

    def consistency_proof(self, conn: Connection, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1) for ``1 <= old_size <= new_size``;
        empty when the sizes are equal.

        RFC 9162 defines consistency proofs between trees of at least one leaf, so ``old_size``
        0 (every tree extends the empty tree; there is nothing to prove) or above ``new_size`` is
        ``INVALID_ARGUMENT``; a ``new_size`` the log has not reached yet is
        ``TREE_SIZE_OUT_OF_RANGE``.
        """
        violations: list[FieldViolation] = []
        if old_size < 1:
            violations.append(
                FieldViolation(
                    "old_size",
                    f"must be at least 1 (got {old_size}): RFC 9162 consistency proofs are "
                    "between trees of size >= 1, and every tree extends the empty tree",
                )
            )
        elif old_size > new_size:
            violations.append(
                FieldViolation("old_size", f"must not exceed new_size {new_size} (got {old_size})")
            )
        if violations:
            raise invalid_argument(*violations)
        self._check_size(conn, new_size)
        return range_hashes(conn, consistency_ranges(old_size, new_size))

    def entries(self, conn: Connection, start: int, end: int) -> list[tuple[int, bytes]]:
        """``(index, data)`` of leaves ``start <= index < end``; ``end`` may not pass the tree."""
        tree_size = store.stored_size(conn)
        if not 0 <= start <= end <= tree_size:
            raise DomainError(
                Reason.INDEX_OUT_OF_RANGE, f"range [{start}, {end}) is outside [0, {tree_size})"
            )
        return store.read_entries(conn, start, end)

    def leaf(self, conn: Connection, index: int) -> bytes:
        """The data of leaf ``index``."""
        data = store.read_leaf(conn, index) if index >= 0 else None
        if data is None:
            raise DomainError(Reason.INDEX_OUT_OF_RANGE, f"no leaf at index {index}")
        return data

    def latest_checkpoint(self, conn: Connection) -> StoredCheckpoint | None:
        """The newest stored checkpoint, or None before the first."""
        return store.latest_checkpoint(conn)

    def checkpoint(self, conn: Connection, size: int) -> StoredCheckpoint:
        """The checkpoint at exactly ``size``."""
        found = store.get_checkpoint(conn, size)
        if found is None:
            raise DomainError(Reason.CHECKPOINT_NOT_FOUND, f"no checkpoint at size {size}")
        return found

    def checkpoints(self, conn: Connection, *, start: int = 0) -> Iterator[StoredCheckpoint]:
        """Stored checkpoints with size >= ``start``, in increasing size (streamed)."""
        return store.iter_checkpoints(conn, start=start)
