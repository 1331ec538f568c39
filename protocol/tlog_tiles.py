"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile paths, tile and entry bundle encodings,
and the Merkle tree read back from tiles.

Pure functions, standard library only: the gateway serves tiles with them and the SDK follows a
log with them, so both share one reading of the spec.

* A hash tile at level ``L``, index ``N`` lists up to 256 consecutive Merkle Tree Hashes of
  level ``8 * L`` of the tree: entry ``i`` is ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) *
  256**L])``; a full tile is 256 hashes (8,192 bytes). Its path is ``tile/<L>/<N>[.p/<W>]``,
  ``N`` written in 3-digit groups, all but the last prefixed with ``x`` (``x001/x234/067``),
  ``.p/<W>`` only for a partial tile of ``W`` (1..255) hashes.
* An entry bundle ``tile/entries/<N>[.p/<W>]`` holds the entries whose leaf hashes make the
  level-0 tile ``N``: each a big-endian uint16 length followed by the entry's bytes.
* The tree of size ``s`` has, at level ``L``, ``(s >> 8L) // 256`` full tiles and a partial tile
  of ``(s >> 8L) % 256`` hashes when that is not 0 (empty tiles do not exist).

``TileHashes`` computes any subtree hash, root, inclusion or consistency proof of a tree of a
given size from its tiles (fetched through a callable), so a client needs nothing but tiles and
a signed checkpoint; the proofs are then checked with ``protocol.merkle`` as any other proof.
``TileBuilder`` rebuilds every tile from the leaf hashes, streaming (O(256 * levels) memory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from attestgate.protocol.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, leaf_hash, node_hash

__all__ = [
    "CHECKPOINT_MEDIA_TYPE",
    "MAX_ENTRY_SIZE",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_MEDIA_TYPE",
    "TILE_WIDTH",
    "Tile",
    "TileBuilder",
    "TileError",
    "TileHashes",
    "bundles_for_size",
    "decode_bundle",
    "decode_tile",
    "encode_bundle",
    "encode_tile",
    "format_index",
    "parse_tile_path",
    "subtree_hash",
    "tile_width",
    "tiles_for_size",
]

TILE_HEIGHT = 8
"""Levels of the tree one tile spans."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes (or entries) in a full tile: 256."""
MAX_TILE_LEVEL = 63
"""Highest tile level a path may name."""
MAX_ENTRY_SIZE = 0xFFFF
"""Longest entry an entry bundle can carry (uint16 length prefix)."""
TILE_MEDIA_TYPE = "application/octet-stream"
"""``Content-Type`` of hash tiles and entry bundles."""
CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8"
"""``Content-Type`` of ``<prefix>/checkpoint``."""

_GROUP = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class TileError(ValueError):
    """A tile path, tile or entry bundle that does not follow tlog-tiles (message says why)."""


@dataclass(frozen=True, order=True)
class Tile:
    """One tile: hash tile ``level`` (0..63) / ``index``, or the entry bundle ``index``
    (``entries``, level 0); ``width`` hashes or entries, 256 for a full tile."""

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_TILE_LEVEL or (self.entries and self.level):
            raise TileError(f"tile level must be in [0, {MAX_TILE_LEVEL}] (entry bundles: 0)")
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"tile index must be >= 0 and width in [1, {TILE_WIDTH}]")

    @property
    def partial(self) -> bool:
        """Fewer than 256 hashes (``.p/<W>`` in the path)."""
        return self.width < TILE_WIDTH

    @property
    def start(self) -> int:
        """The first leaf index the tile spans: ``index * 256**(level + 1)``."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def tree_size(self) -> int:
        """The smallest tree size that holds this tile at this width."""
        return self.start + (self.width << (TILE_HEIGHT * self.level))

    @property
    def first_node(self) -> int:
        """Index, at tree level ``8 * level``, of the node of the tile's first hash."""
        return self.index * TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (no leading slash)."""
        level = "entries" if self.entries else str(self.level)
        suffix = f".p/{self.width}" if self.partial else ""
        return f"tile/{level}/{format_index(self.index)}{suffix}"

    def full(self) -> Tile:
        """The same tile at full width."""
        return Tile(self.level, self.index, TILE_WIDTH, self.entries)


def format_index(n: int) -> str:
    """``N`` as zero-padded 3-digit path elements, all but the last with an ``x``:
    1234067 is ``x001/x234/067``."""
    if n < 0:
        raise TileError("tile index must not be negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """The tile ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` names (no leading
    slash); ``TileError`` saying what is wrong with any other path. Only the canonical spelling
    is accepted (no extra leading zeros, no ``x`` on the last element, no ``.p/256``)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError("a tile path is tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
    kind, rest = parts[1], parts[2:]
    entries = kind == "entries"
    if not entries and (not _DECIMAL.fullmatch(kind) or int(kind) > MAX_TILE_LEVEL):
        raise TileError(
            f"tile level {kind!r} must be a decimal integer from 0 to {MAX_TILE_LEVEL} "
            "without leading zeros, or 'entries'"
        )
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        text = rest[-1]
        if not _DECIMAL.fullmatch(text) or not 1 <= int(text) < TILE_WIDTH:
            raise TileError(
                f"partial tile width {text!r} must be a decimal integer from 1 to "
                f"{TILE_WIDTH - 1} without leading zeros"
            )
        width = int(text)
        rest = [*rest[:-2], rest[-2].removesuffix(".p")]
    index = 0
    for position, group in enumerate(rest):
        last = position == len(rest) - 1
        digits = group if last else group.removeprefix("x")
        if (not last and not group.startswith("x")) or not _GROUP.fullmatch(digits):
            raise TileError(
                f"tile index element {group!r}: N is written in 3-digit elements, all but the "
                "last starting with 'x' (1234067 is x001/x234/067)"
            )
        index = index * 1000 + int(digits)
    if len(rest) > 1 and rest[0] == "x000":
        raise TileError("tile index has a leading x000 element")
    if index >= MAX_TREE_SIZE:
        raise TileError("tile index is too large")
    return Tile(0 if entries else int(kind), index, width, entries)


def tile_width(level: int, index: int, size: int) -> int:
    """Width of tile ``level`` / ``index`` in the tree of ``size`` leaves (0: not in it yet)."""
    hashes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile of the tree of ``size`` leaves, level by level, left to right; the last
    of a level is partial unless the level's hash count is a multiple of 256."""
    tiles: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        tiles.extend(Tile(level, n) for n in range(count // TILE_WIDTH))
        if count % TILE_WIDTH:
            tiles.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return tiles


def bundles_for_size(size: int) -> list[Tile]:
    """Every entry bundle of the tree of ``size`` leaves, the last partial unless 256 divides
    ``size``."""
    bundles = [Tile(0, n, entries=True) for n in range(size // TILE_WIDTH)]
    if size % TILE_WIDTH:
        bundles.append(Tile(0, size // TILE_WIDTH, size % TILE_WIDTH, entries=True))
    return bundles


# -- encodings ----------------------------------------------------------------------------------


def encode_tile(hashes: Sequence[bytes]) -> bytes:
    """The concatenated hashes (1 to 256 of 32 bytes each)."""
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise TileError(f"a tile is 1 to {TILE_WIDTH} hashes of {HASH_SIZE} bytes")
    return b"".join(hashes)


def decode_tile(data: bytes, width: int) -> list[bytes]:
    """The ``width`` hashes of a tile's bytes; ``TileError`` unless it is exactly that long."""
    if len(data) != width * HASH_SIZE:
        raise TileError(f"tile of width {width} must be {width * HASH_SIZE} bytes, got {len(data)}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"an entry of {len(entry)} bytes does not fit a uint16 length")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a bundle; ``TileError`` if it is truncated or (given ``width``) does not
    hold exactly ``width`` entries."""
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise TileError(f"entry bundle truncated in the length of entry {len(entries)}")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise TileError(f"entry bundle truncated in entry {len(entries)}")
        entries.append(data[position : position + length])
        position += length
    if width is not None and len(entries) != width:
        raise TileError(f"entry bundle holds {len(entries)} entries, expected {width}")
    return entries


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a run of hashes taken as the leaves' hashes of a subtree (RFC 9162 §2.1.1 split:
    the left part is the largest power of two below the count). For a full tile it is the
    hash the tile contributes to the level above."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(subtree_hash(hashes[:k]), subtree_hash(hashes[k:]))


# -- reading the tree through tiles -------------------------------------------------------------


class TileHashes:
    """The Merkle tree of ``size`` leaves as its tiles show it: subtree hashes, the root, and
    RFC 9162 inclusion and consistency proofs, computed from tiles ``fetch(tile)`` returns (raw
    bytes; each tile fetched once at the width this size gives it, then kept).

    Tiles are not trusted: check what this computes against a signed checkpoint (the root) or
    with ``protocol.merkle.verify_inclusion`` / ``verify_consistency``, which bind the hashes
    used to the signed roots.
    """

    def __init__(self, size: int, fetch: Callable[[Tile], bytes]) -> None:
        if not 0 <= size < MAX_TREE_SIZE:
            raise TileError("tree size out of range")
        self.size = size
        self._fetch = fetch
        self._tiles: dict[Tile, list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``level`` / ``index`` as it stands in this tree."""
        width = tile_width(level, index, self.size)
        if not width:
            raise TileError(f"tile {level}/{index} is not in the tree of size {self.size}")
        tile = Tile(level, index, width)
        found = self._tiles.get(tile)
        if found is None:
            found = self._tiles[tile] = decode_tile(self._fetch(tile), width)
        return found

    def node(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree at tree ``level`` covering leaves
        ``[index * 2**level, (index + 1) * 2**level)``, which must lie in the tree."""
        if (index + 1) << level > self.size:
            raise TileError(f"node {level}/{index} is not complete in tree size {self.size}")
        tile_level, within = divmod(level, TILE_HEIGHT)
        first = index << within  # index at tree level 8 * tile_level
        hashes = self.tile(tile_level, first // TILE_WIDTH)
        position = first % TILE_WIDTH
        return subtree_hash(hashes[position : position + (1 << within)])

    def range_hash(self, begin: int, end: int) -> bytes:
        """MTH(D[begin:end]) for ``0 <= begin < end <= size`` (RFC 9162 §2.1.1's split)."""
        if not 0 <= begin < end <= self.size:
            raise TileError(f"range [{begin}, {end}) is not in the tree of size {self.size}")
        count = end - begin
        if count & (count - 1) == 0 and begin % count == 0:
            return self.node(count.bit_length() - 1, begin // count)
        k = 1 << ((count - 1).bit_length() - 1)
        return node_hash(self.range_hash(begin, begin + k), self.range_hash(begin + k, end))

    def root(self) -> bytes:
        """MTH(D[0:size])."""
        return self.range_hash(0, self.size) if self.size else EMPTY_ROOT

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index`` (from the level-0 tile)."""
        return self.node(0, index)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1)."""
        if not 0 <= index < self.size:
            raise TileError(f"index {index} is not below tree size {self.size}")
        proof: list[bytes] = []
        begin, end = 0, self.size
        while end - begin > 1:
            k = 1 << ((end - begin - 1).bit_length() - 1)
            if index < begin + k:
                proof.append(self.range_hash(begin + k, end))
                end = begin + k
            else:
                proof.append(self.range_hash(begin, begin + k))
                begin += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:size]) (RFC 9162 §2.1.4.1); empty for 0 and for ``size``."""
        if not 0 <= old_size <= self.size:
            raise TileError(f"old size {old_size} is not in [0, {self.size}]")
        if old_size in (0, self.size):
            return []
        proof: list[bytes] = []
        begin, end, m, whole = 0, self.size, old_size, True
        while m != end - begin:
            k = 1 << ((end - begin - 1).bit_length() - 1)
            if m <= k:
                proof.append(self.range_hash(begin + k, end))
                end = begin + k
            else:
                proof.append(self.range_hash(begin, begin + k))
                begin, m, whole = begin + k, m - k, False
        if not whole:
            proof.append(self.range_hash(begin, end))
        proof.reverse()
        return proof


class TileBuilder:
    """Every tile of a tree rebuilt from its leaves in order, keeping only the unfinished tile of
    each level. ``append`` returns the full tiles a leaf completes (lowest level first);
    ``partial_tiles`` the unfinished ones; ``root`` the tree's root."""

    def __init__(self) -> None:
        self.size = 0
        self._pending: list[list[bytes]] = []  # per tile level: hashes of the unfinished tile
        self._done: list[int] = []  # per tile level: full tiles completed

    def append_entry(self, entry: bytes) -> list[tuple[Tile, bytes]]:
        """Append an entry (hashed as an RFC 9162 leaf)."""
        return self.append(leaf_hash(entry))

    def append(self, hashed: bytes) -> list[tuple[Tile, bytes]]:
        """Append a leaf hash; the full tiles it completes, with their bytes."""
        if len(hashed) != HASH_SIZE:
            raise TileError(f"a leaf hash is {HASH_SIZE} bytes")
        self.size += 1
        completed: list[tuple[Tile, bytes]] = []
        level, value = 0, hashed
        while True:
            if level == len(self._pending):
                self._pending.append([])
                self._done.append(0)
            pending = self._pending[level]
            pending.append(value)
            if len(pending) < TILE_WIDTH:
                return completed
            completed.append((Tile(level, self._done[level]), encode_tile(pending)))
            value = subtree_hash(pending)
            self._pending[level] = []
            self._done[level] += 1
            level += 1

    def partial_tiles(self) -> list[tuple[Tile, bytes]]:
        """The unfinished tile of each level that has one, with its bytes."""
        return [
            (Tile(level, self._done[level], len(pending)), encode_tile(pending))
            for level, pending in enumerate(self._pending)
            if pending
        ]

    def root(self) -> bytes:
        """MTH of the leaves appended so far: the maximal perfect subtrees of every unfinished
        tile (highest level leftmost), folded from the right."""
        parts: list[bytes] = []
        for pending in reversed(self._pending):
            begin = 0
            while begin < len(pending):
                size = 1 << ((len(pending) - begin).bit_length() - 1)
                parts.append(subtree_hash(pending[begin : begin + size]))
                begin += size
        if not parts:
            return EMPTY_ROOT
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result
