"""audit.tiles on every SQL backend: for every tree size up to 3 * 256 + 5, every tile and entry
bundle read from the stored tree is the one rebuilt from the leaves (protocol.tlog_tiles), and
nothing is served beyond the newest signed checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from attestgate.audit.tiles import LogTiles
from attestgate.audit.tree import AuditLog
from attestgate.protocol.note import NoteSigner, open_checkpoint
from attestgate.protocol.tlog_tiles import (
    Tile,
    TileBuilder,
    TileHashes,
    bundles_for_size,
    encode_bundle,
    tiles_for_size,
)
from tests.conformance.conftest import Backend

NOW = datetime(2026, 2, 1, tzinfo=UTC)
LAST = 3 * 256 + 5


def leaf(i: int) -> bytes:
    return f'{{"event":"test","n":{i}}}'.encode()


def _reader(served: dict[Tile, bytes | None]) -> Callable[[Tile], bytes]:
    def read(tile: Tile) -> bytes:
        found = served[tile]
        assert found is not None
        return found

    return read


@pytest.mark.timeout(120)
def test_every_tile_of_every_size_is_the_rebuilt_one(backend: Backend) -> None:
    writer, reader = backend.connect(), backend.connect()
    signer = NoteSigner.generate("test.example/log")
    log = AuditLog(writer, signer=signer)
    tiles = LogTiles(lambda: reader)
    builder = TileBuilder()
    full: dict[Tile, bytes] = {}
    assert tiles.checkpoint() is None
    assert tiles.tile(Tile(0, 0, 1)) is None
    for size in range(1, LAST + 1):
        backend.begin_batch(writer)
        log.refresh(writer)
        log.append(writer, [leaf(size - 1)])
        if size % 7 == 0:  # a leaf without checkpoint: its tiles are not served yet
            writer.execute("COMMIT")
            log.commit_pending()
            assert tiles.tile(Tile(0, (size - 1) // 256, (size - 1) % 256 + 1)) is None
            assert tiles.bundle(Tile(0, (size - 1) // 256, (size - 1) % 256 + 1, True)) is None
            backend.begin_batch(writer)
            log.refresh(writer)
        log.write_checkpoint(writer, NOW)
        writer.execute("COMMIT")
        log.commit_pending()
        full.update(builder.append_entry(leaf(size - 1)))
        expected = {**full, **dict(builder.partial_tiles())}
        assert set(expected) == set(tiles_for_size(size))
        served = {tile: tiles.tile(tile) for tile in tiles_for_size(size)}
        assert served == expected, size
        for bundle in bundles_for_size(size):
            entries = encode_bundle(leaf(i) for i in range(bundle.start, bundle.tree_size))
            assert tiles.bundle(bundle) == entries, (size, bundle.path)
        # One more hash or entry than the checkpoint holds is not served.
        beyond = Tile(0, size // 256, size % 256 + 1) if size % 256 != 255 else Tile(0, size // 256)
        assert tiles.tile(beyond) is None
        assert tiles.bundle(Tile(beyond.level, beyond.index, beyond.width, True)) is None
        checkpoint = tiles.checkpoint()
        assert checkpoint is not None
        assert checkpoint.size == size
        opened = open_checkpoint(checkpoint.note, [signer.verifier()])
        assert TileHashes(size, _reader(served)).root() == opened.root_hash
    # Older partial tiles (any width a checkpoint held) stay served; a full tile replaces none.
    assert tiles.tile(Tile(0, 1, 3)) == full[Tile(0, 1)][: 3 * 32]
    assert tiles.tile(Tile(1, 0, 2)) is not None
    assert tiles.tile(Tile(1, 0, 4)) is None
