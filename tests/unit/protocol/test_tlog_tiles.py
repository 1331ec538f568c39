"""protocol.tlog_tiles: C2SP tlog-tiles paths, encodings and the tree read back from tiles,
against the spec's worked examples, Go's golang.org/x/mod/sumdb/tlog (tests/vectors/tlog_tiles)
and the RFC 9162 proofs of protocol.merkle."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from attestgate.audit.hashing import CompactRange
from attestgate.protocol.merkle import (
    EMPTY_ROOT,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from attestgate.protocol.tlog_tiles import (
    TILE_WIDTH,
    Tile,
    TileBuilder,
    TileError,
    TileHashes,
    bundles_for_size,
    decode_bundle,
    decode_tile,
    encode_bundle,
    encode_tile,
    format_index,
    parse_tile_path,
    tile_width,
    tiles_for_size,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "tlog_tiles" / "go_tlog_tiles.json"


def go_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS.read_text())
    return vectors


def leaf(i: int) -> bytes:
    return f"leaf {i}".encode()


def build(size: int) -> tuple[dict[Tile, bytes], bytes]:
    """Every tile and bundle of the tree of ``leaf(0..size)``, and its root."""
    builder = TileBuilder()
    tiles: dict[Tile, bytes] = {}
    for i in range(size):
        tiles.update(builder.append_entry(leaf(i)))
    tiles.update(builder.partial_tiles())
    for bundle in bundles_for_size(size):
        tiles[bundle] = encode_bundle(leaf(i) for i in range(bundle.start, bundle.tree_size))
    return tiles, builder.root()


# -- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_is_written_in_x_prefixed_groups_of_three(n: int, text: str) -> None:
    assert format_index(n) == text
    assert parse_tile_path(f"tile/0/{text}") == Tile(0, n)


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("tile/0/000", Tile(0, 0)),
        ("tile/1/x001/x234/067.p/12", Tile(1, 1234067, 12)),
        ("tile/63/000.p/1", Tile(63, 0, 1)),
        ("tile/entries/005", Tile(0, 5, entries=True)),
        ("tile/entries/x001/000.p/255", Tile(0, 1000, 255, entries=True)),
    ],
)
def test_paths_round_trip(path: str, tile: Tile) -> None:
    assert parse_tile_path(path) == tile
    assert tile.path == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/01/000",  # leading zero in L
        "tile/64/000",  # L above 63
        "tile/-1/000",
        "tile/data/000",  # Go's sumdb name, not C2SP's
        "tile/8/0/000",  # Go's height element
        "tile/0/0",  # N not three digits
        "tile/0/0000",
        "tile/0/001/002",  # an inner element without x
        "tile/0/x001",  # the last element with x
        "tile/0/x000/001",  # a leading x000
        "tile/0/000.p/256",  # W out of range
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "tile/0",
        "tile/entries",
        "tiles/0/000",
        "tile/0/+01",
        "tile/0/\u0660\u0660\u0660",  # non-ASCII digits
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


def test_spec_example_tree_of_70000() -> None:
    """tlog-tiles: 273 full level-0 tiles, a partial of 112, one full level-1 tile, a partial
    of 17, a partial level-2 tile of 1."""
    tiles = tiles_for_size(70000)
    assert [t for t in tiles if t.level == 0 and not t.partial] == [Tile(0, n) for n in range(273)]
    assert [t for t in tiles if t.partial] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level > 0 and not t.partial] == [Tile(1, 0)]
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert bundles_for_size(513) == [
        Tile(0, 0, entries=True),
        Tile(0, 1, entries=True),
        Tile(0, 2, 1, entries=True),
    ]


def test_tile_geometry() -> None:
    tile = Tile(1, 2, 17)
    assert tile.start == 2 * 256**2
    assert tile.tree_size == 2 * 256**2 + 17 * 256
    assert tile.first_node == 512
    assert tile.full() == Tile(1, 2)
    assert tile_width(0, 0, 255) == 255
    assert tile_width(0, 1, 255) == 0
    assert tile_width(1, 0, 256) == 1
    assert tile_width(0, 0, 10**6) == TILE_WIDTH
    with pytest.raises(TileError):
        Tile(64, 0)
    with pytest.raises(TileError):
        Tile(1, 0, entries=True)
    with pytest.raises(TileError):
        Tile(0, 0, 0)


# -- encodings ----------------------------------------------------------------------------------


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    entries = [b"", b"a", b"x" * 300, b"\x00\xff"]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00"
    assert data[2:5] == b"\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert decode_bundle(data, 4) == entries
    assert encode_bundle([b"y" * 0xFFFF])[:2] == b"\xff\xff"
    with pytest.raises(TileError, match="uint16"):
        encode_bundle([b"y" * 0x10000])
    with pytest.raises(TileError, match="truncated"):
        decode_bundle(data[:-1])
    with pytest.raises(TileError, match="truncated"):
        decode_bundle(b"\x00")
    with pytest.raises(TileError, match="expected 3"):
        decode_bundle(data, 3)


def test_tiles_are_concatenated_hashes() -> None:
    hashes = [leaf_hash(leaf(i)) for i in range(3)]
    assert decode_tile(encode_tile(hashes), 3) == hashes
    with pytest.raises(TileError):
        decode_tile(encode_tile(hashes), 2)
    with pytest.raises(TileError):
        encode_tile([])
    with pytest.raises(TileError):
        encode_tile([b"short"])


# -- Go's sumdb/tlog ----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", go_vectors(), ids=lambda v: f"size{v['size']}")
def test_tiles_and_bundles_match_gos_tlog(vector: dict[str, Any]) -> None:
    size = vector["size"]
    ours, root = build(size)
    assert base64.b64encode(root).decode() == vector["root"]
    assert {t.path: base64.b64encode(b).decode() for t, b in ours.items()} == vector["tiles"]
    assert {parse_tile_path(p) for p in vector["tiles"]} == set(ours)


# -- the tree from tiles ------------------------------------------------------------------------


def test_builder_root_and_tiles_agree_with_the_stored_tree_arithmetic() -> None:
    builder, compact = TileBuilder(), CompactRange()
    assert builder.root() == EMPTY_ROOT
    for i in range(3 * 256 + 5):
        builder.append_entry(leaf(i))
        compact.append(leaf_hash(leaf(i)))
        assert builder.root() == compact.root()
        tiles = {tile for tile, _ in builder.partial_tiles()}
        assert tiles <= set(tiles_for_size(i + 1))


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 65536, 65537, 70000])
def test_proofs_from_tiles_verify(size: int) -> None:
    tiles, root = build(size)
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> bytes:
        fetched.append(tile)
        return tiles[tile]

    tree = TileHashes(size, fetch)
    assert tree.root() == root
    rng = random.Random(size)
    compact = CompactRange()
    old_roots = {}
    olds = sorted({1, size, *(rng.randrange(1, size + 1) for _ in range(20))})
    for i in range(max(olds)):
        compact.append(leaf_hash(leaf(i)))
        if i + 1 in olds:
            old_roots[i + 1] = compact.root()
    for old in olds:
        verify_consistency(
            old_size=old,
            new_size=size,
            old_root=old_roots[old],
            new_root=root,
            proof=tree.consistency_proof(old),
        )
    for index in {0, size - 1, *(rng.randrange(size) for _ in range(20))}:
        assert tree.leaf_hash(index) == leaf_hash(leaf(index))
        verify_inclusion(
            index=index,
            size=size,
            leaf_hash=leaf_hash(leaf(index)),
            proof=tree.inclusion_proof(index),
            root=root,
        )
    assert len(fetched) == len(set(fetched))  # each tile fetched once
    assert all(t in set(tiles_for_size(size)) for t in fetched)


def test_a_forged_tile_fails_the_proofs() -> None:
    size = 700
    tiles, root = build(size)
    forged = dict(tiles)
    data = bytearray(forged[Tile(0, 0)])
    data[5] ^= 1
    forged[Tile(0, 0)] = bytes(data)
    tree = TileHashes(size, forged.__getitem__)
    assert tree.root() == root  # the root uses only the level-1 tile here...
    with pytest.raises(ProofError):  # ...but a proof through the forged tile does not verify
        verify_inclusion(
            index=3,
            size=size,
            leaf_hash=leaf_hash(leaf(3)),
            proof=tree.inclusion_proof(3),
            root=root,
        )
    with pytest.raises(TileError):
        TileHashes(size, lambda tile: tiles[tile][:-1]).root()  # a short tile


def test_requests_outside_the_tree_are_refused() -> None:
    tiles, _ = build(10)
    tree = TileHashes(10, tiles.__getitem__)
    for call in (
        lambda: tree.inclusion_proof(10),
        lambda: tree.consistency_proof(11),
        lambda: tree.range_hash(5, 11),
        lambda: tree.node(4, 0),
        lambda: tree.tile(1, 0),
    ):
        with pytest.raises(TileError):
            call()
    assert tree.consistency_proof(10) == []
    assert tree.consistency_proof(0) == []
    assert TileHashes(0, tiles.__getitem__).root() == EMPTY_ROOT
