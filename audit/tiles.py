"""The stored log read as C2SP tlog-tiles (``protocol.tlog_tiles``): no second copy of the log.

A hash tile at level ``L`` is a run of the stored perfect-subtree hashes at tree level ``8 * L``
(``audit_nodes``: one index range scan), an entry bundle a run of stored leaves
(``audit_leaves``), and the checkpoint the newest stored signed note. Nothing is served beyond
the newest signed checkpoint: a tile is readable once a checkpoint's tree holds it at that width.
Since stored rows never change and checkpoints only grow, the bytes depend on the log contents
alone, the same on every replica of one database.

``LogTiles`` remembers the largest checkpointed size it has seen (it only grows), so a tile below
it costs one statement; a tile above it re-reads the newest checkpoint first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from attestgate.audit.sql import Connection
from attestgate.audit.store import AuditStorageError, StoredCheckpoint, latest_checkpoint
from attestgate.protocol.tlog_tiles import TILE_HEIGHT, Tile, encode_bundle, encode_tile

__all__ = ["LogTiles"]


class LogTiles:
    """Tiles, entry bundles and the checkpoint of the stored log; ``connection()`` gives a
    read connection for the calling thread (each method uses it for one or two statements)."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._known = 0  # largest checkpointed size seen

    def checkpoint(self) -> StoredCheckpoint | None:
        """The newest signed checkpoint (``None`` before the first)."""
        found = latest_checkpoint(self._connection())
        if found is not None:
            self._saw(found.size)
        return found

    def checkpointed_size(self, at_least: int = 0) -> int:
        """The largest checkpointed size, re-read only when the one known is below
        ``at_least``."""
        with self._lock:
            known = self._known
        if known >= at_least:
            return known
        found = self.checkpoint()
        return 0 if found is None else found.size

    def _saw(self, size: int) -> None:
        with self._lock:
            self._known = max(self._known, size)

    def tile(self, tile: Tile) -> bytes | None:
        """The bytes of hash tile ``tile`` (``entries`` false), or ``None`` while no signed
        checkpoint holds it at its width."""
        if self.checkpointed_size(tile.tree_size) < tile.tree_size:
            return None
        first = tile.first_node
        rows = (
            self._connection()
            .execute(
                "SELECT hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ? "
                "ORDER BY idx",
                (TILE_HEIGHT * tile.level, first, first + tile.width),
            )
            .fetchall()
        )
        if len(rows) != tile.width:
            raise AuditStorageError(
                f"audit log holds {len(rows)} of the {tile.width} hashes of {tile.path}"
            )
        return encode_tile([bytes(row[0]) for row in rows])

    def bundle(self, tile: Tile) -> bytes | None:
        """The bytes of entry bundle ``tile`` (``entries`` true), or ``None`` while no signed
        checkpoint holds it at its width."""
        if self.checkpointed_size(tile.tree_size) < tile.tree_size:
            return None
        rows = (
            self._connection()
            .execute(
                "SELECT data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                (tile.start, tile.start + tile.width),
            )
            .fetchall()
        )
        if len(rows) != tile.width:
            raise AuditStorageError(
                f"audit log holds {len(rows)} of the {tile.width} entries of {tile.path}"
            )
        return encode_bundle([bytes(row[0]) for row in rows])
