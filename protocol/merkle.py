"""RFC 9162 (RFC 6962 bis) Merkle tree hashing and proof verification.

Pure functions, standard library only: the SDK (regulators, banks) and the gateway's audit log share
them. Hashes are raw 32-byte SHA-256 digests; sizes and indices are Python ints bounded to the
``uint64``-safe range the RFCs use (``size < 2**63``).

A failed check raises ``ProofError`` whose message says what was expected and what the proof
computed (root hashes in hex), never the whole proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "MAX_TREE_SIZE",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash (SHA-256)."""

MAX_TREE_SIZE = 2**63
"""Exclusive upper bound on tree sizes and leaf indices we accept."""

MAX_PROOF_LENGTH = 64
"""Longest proof we accept: a tree of fewer than 2**63 leaves never needs more."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the empty tree."""


class ProofError(ValueError):
    """An inclusion or consistency proof (or its inputs) did not verify."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def _check_size(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TREE_SIZE:
        raise ProofError(f"{what} must be an integer in [0, 2**63)")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_LENGTH:
        raise ProofError(f"proof has {len(proof)} hashes, at most {MAX_PROOF_LENGTH} allowed")
    for position, value in enumerate(proof):
        _check_hash(value, f"proof[{position}]")


def _mismatch(what: str, expected: bytes, computed: bytes) -> ProofError:
    return ProofError(f"{what}: expected {expected.hex()}, proof computes {computed.hex()}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` yields for ``leaf_hash`` at ``index`` in a tree of ``size`` leaves.

    Implements the verification loop of RFC 9162 §2.1.3.2 up to (not including) the root
    comparison. Raises ``ProofError`` when the inputs are out of range or the proof has the wrong
    length for (index, size).
    """
    _check_size(size, "tree size")
    _check_size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof(proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # RFC 9162 §2.1.3.2 step 5.1: the proof is longer than the path
            raise ProofError(f"proof too long for index {index} in tree size {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:  # step 5.2.2: skip levels where we are the lone right-edge node
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 6: the proof is shorter than the path
        raise ProofError(f"proof too short for index {index} in tree size {size}")
    return r


def verify_inclusion(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree with ``root`` (RFC 9162 §2.1.3.2).

    Raises ``ProofError`` naming the expected root and the computed one on failure.
    """
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if computed != root:
        raise _mismatch(f"inclusion of leaf {index} in tree size {size}", root, computed)


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``).

    RFC 9162 §2.1.4.2. The trivial cases follow the RFC's definition of the proof: from size 0 or to
    the same size the proof is empty (and the roots must be the empty root or equal). Raises
    ``ProofError`` naming what was expected and what the proof computes.
    """
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    _check_proof(proof)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    if not proof:  # RFC 9162 §2.1.4.2 step 1
        raise ProofError(f"empty consistency proof from size {old_size} to {new_size}")
    old_computed, new_computed = _consistency_roots(old_size, new_size, old_root, proof)
    if old_computed != old_root:
        raise _mismatch(f"old root at size {old_size}", old_root, old_computed)
    if new_computed != new_root:
        raise _mismatch(f"new root at size {new_size}", new_root, new_computed)


def _verify_trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    if proof:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} must be empty")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise _mismatch("old root of the empty tree", EMPTY_ROOT, old_root)
    if old_size == new_size and old_root != new_root:
        raise _mismatch(f"new root at unchanged size {new_size}", old_root, new_root)


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 §2.1.4.2: (old root, new root) as the proof computes them."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: old tree is a perfect subtree, its root is implied
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 4: climb to the old tree's largest perfect subtree on the right edge
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # step 6.1: the proof is longer than needed
            raise ProofError(f"consistency proof too long from size {old_size} to {new_size}")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7: the proof is shorter than needed
        raise ProofError(f"consistency proof too short from size {old_size} to {new_size}")
    return fr, sr
