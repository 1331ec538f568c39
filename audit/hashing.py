"""Merkle tree arithmetic for the stored log: node ids, subtree decomposition, compact ranges.

The log stores the hash of every *perfect, aligned* subtree: node ``(level, idx)`` covers leaves
``[idx * 2**level, (idx + 1) * 2**level)`` and exists once the tree has reached its right end.
Every subtree hash that RFC 9162 §2.1 proofs need is either such a node or a right-edge range
``[begin, size)`` that splits into at most 63 of them, so proofs and roots read O(log n) rows.

A compact range (transparency-dev/merkle ``compact.Range``) is the list of maximal perfect subtrees
covering ``[0, size)``: at most 64 hashes, enough to append leaves and compute the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from attestgate.protocol.merkle import EMPTY_ROOT, MAX_TREE_SIZE, node_hash

__all__ = [
    "CompactRange",
    "NodeId",
    "consistency_ranges",
    "fold_subtrees",
    "inclusion_ranges",
    "largest_power_of_two_below",
    "perfect_subtrees",
]


class NodeId(NamedTuple):
    """A perfect aligned subtree: ``level`` (0 = leaf) and index ``idx`` at that level."""

    level: int
    idx: int

    @property
    def begin(self) -> int:
        """First leaf index covered."""
        return self.idx << self.level

    @property
    def end(self) -> int:
        """One past the last leaf index covered."""
        return (self.idx + 1) << self.level


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    if n < 2:
        raise ValueError("n must be at least 2")
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(begin: int, end: int) -> list[NodeId]:
    """Split ``[begin, end)`` into maximal perfect aligned subtrees, left to right."""
    if not 0 <= begin <= end <= MAX_TREE_SIZE:
        raise ValueError("invalid leaf range")
    nodes: list[NodeId] = []
    while begin < end:
        align = (begin & -begin).bit_length() - 1 if begin else 63
        level = min(align, (end - begin).bit_length() - 1)
        nodes.append(NodeId(level, begin >> level))
        begin += 1 << level
    return nodes


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its perfect subtrees (left to right, sizes decreasing).

    Valid for ``[0, size)`` and for the right-edge ranges that proofs use: in RFC 9162 §2.1.1 the
    right part of every split is folded first, so the hashes combine from the right.
    """
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH form PATH(index, D[0:size]), in proof order (RFC 9162 §2.1.3.1).

    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when m < k,
    else PATH(m - k, D[k:n]) : MTH(D[0:k]).
    """
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise ValueError("index must be below size")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()  # recursion appends the outermost sibling last
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1).

    SUBPROOF(m, D[n], b): [] if m = n and b, [MTH(D[n])] if m = n and not b; else when m <= k
    SUBPROOF(m, D[0:k], b) : MTH(D[k:n]), otherwise SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
    """
    if not 0 <= old_size <= new_size <= MAX_TREE_SIZE:
        raise ValueError("old size must not exceed new size")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole_old_tree = 0, new_size, old_size, True
    while m != hi - lo:
        k = largest_power_of_two_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole_old_tree = lo + k, m - k, False
    if not whole_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


class CompactRange:
    """The maximal perfect subtrees of ``[0, size)`` with their hashes: O(log n) memory.

    ``append`` returns every node it completes (the leaf itself included), which is exactly the set
    of rows the store must write for that leaf.
    """

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self._ids = perfect_subtrees(0, size)
        self._hashes = list(hashes)
        if len(self._hashes) != len(self._ids):
            raise ValueError("compact range needs one hash per perfect subtree")

    def copy(self) -> CompactRange:
        """An independent copy (appending to it leaves this one unchanged)."""
        return CompactRange(self.size, self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeId, bytes]]:
        """Add one leaf hash; return the nodes completed by it, lowest level first."""
        if self.size + 1 >= MAX_TREE_SIZE:
            raise ValueError("tree is full")
        node, value = NodeId(0, self.size), leaf_hash
        completed = [(node, value)]
        while self._ids and self._ids[-1].level == node.level:
            left_id = self._ids.pop()
            value = node_hash(self._hashes.pop(), value)
            node = NodeId(node.level + 1, left_id.idx >> 1)
            completed.append((node, value))
        self._ids.append(node)
        self._hashes.append(value)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """MTH(D[0:size])."""
        return fold_subtrees(self._hashes)

    def nodes(self) -> list[tuple[NodeId, bytes]]:
        """The subtrees and hashes, left to right."""
        return list(zip(self._ids, self._hashes, strict=True))
