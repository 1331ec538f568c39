"""Stored-tree roots and proofs equal the RFC 9162 reference for every pair up to size 64."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.audit.hashing import (
    CompactRange,
    NodeId,
    consistency_ranges,
    inclusion_ranges,
    largest_power_of_two_below,
    perfect_subtrees,
)
from attestgate.audit.tree import AuditLog
from attestgate.protocol.merkle import (
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from attestgate.protocol.reasons import DomainError, Reason
from tests.unit.audit import merkle_reference as ref
from tests.unit.audit.log_helpers import append_committed, new_log_db

LEAVES = ref.sample_leaves(64)
ROOTS = [ref.mth(LEAVES[:n]) for n in range(65)]


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AuditLog, sqlite3.Connection]]:
    conn = new_log_db(tmp_path_factory.mktemp("tree") / "log.db")
    log = AuditLog(conn)
    for start in range(0, 64, 5):  # uneven batches: 5, 5, ..., 4
        append_committed(log, conn, LEAVES[start : start + 5])
    yield log, conn
    conn.close()


class TestArithmetic:
    def test_largest_power_of_two_below(self) -> None:
        assert [largest_power_of_two_below(n) for n in (2, 3, 4, 5, 8, 9)] == [1, 2, 2, 4, 4, 8]
        with pytest.raises(ValueError, match="at least 2"):
            largest_power_of_two_below(1)

    @pytest.mark.parametrize("size", range(0, 130))
    def test_perfect_subtrees_cover_exactly(self, size: int) -> None:
        nodes = perfect_subtrees(0, size)
        covered = [i for node in nodes for i in range(node.begin, node.end)]
        assert covered == list(range(size))
        assert len(nodes) == size.bit_count()
        assert all(node.begin % (1 << node.level) == 0 for node in nodes)

    def test_node_ids(self) -> None:
        assert (NodeId(3, 2).begin, NodeId(3, 2).end) == (16, 24)

    def test_compact_range_matches_reference_and_writes_two_rows_per_leaf(self) -> None:
        tree = CompactRange()
        written = 0
        for n, data in enumerate(LEAVES, start=1):
            written += len(tree.append(leaf_hash(data)))
            assert tree.root() == ROOTS[n]
            assert written == sum(n >> level for level in range(7))
        assert written == 127  # 2n - 1 for n = 64
        assert CompactRange(64, [h for _, h in tree.nodes()]).root() == ROOTS[64]

    def test_compact_range_rejects_wrong_hash_count(self) -> None:
        with pytest.raises(ValueError, match="one hash per"):
            CompactRange(3, [b"x" * 32])

    def test_range_lists_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="below size"):
            inclusion_ranges(3, 3)
        with pytest.raises(ValueError, match="must not exceed"):
            consistency_ranges(4, 3)


class TestStoredProofs:
    @pytest.mark.parametrize("size", range(0, 65))
    def test_root(self, stored: tuple[AuditLog, sqlite3.Connection], size: int) -> None:
        log, conn = stored
        assert log.root(conn, size) == ROOTS[size]

    @pytest.mark.parametrize("size", range(1, 65))
    def test_inclusion(self, stored: tuple[AuditLog, sqlite3.Connection], size: int) -> None:
        log, conn = stored
        for index in range(size):
            proof = log.inclusion_proof(conn, index, size)
            assert proof == ref.path(index, LEAVES[:size])
            hashed = leaf_hash(LEAVES[index])
            verify_inclusion(
                index=index, size=size, leaf_hash=hashed, proof=proof, root=ROOTS[size]
            )
            if proof:
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                with pytest.raises(ProofError):
                    verify_inclusion(
                        index=index, size=size, leaf_hash=hashed, proof=bad, root=ROOTS[size]
                    )

    @pytest.mark.parametrize("new", range(0, 65))
    def test_consistency(self, stored: tuple[AuditLog, sqlite3.Connection], new: int) -> None:
        log, conn = stored
        with pytest.raises(DomainError) as caught:  # RFC 9162 proofs start at size 1
            log.consistency_proof(conn, 0, new)
        assert caught.value.reason is Reason.INVALID_ARGUMENT
        for old in range(1, new + 1):
            proof = log.consistency_proof(conn, old, new)
            assert proof == ([] if old == new else ref.proof(old, LEAVES[:new]))
            roots = {"old_root": ROOTS[old], "new_root": ROOTS[new]}
            verify_consistency(old_size=old, new_size=new, proof=proof, **roots)
            if proof:
                bad = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
                with pytest.raises(ProofError):
                    verify_consistency(old_size=old, new_size=new, proof=bad, **roots)


def test_larger_tree_spot_checks(tmp_path: Path) -> None:
    leaves = ref.sample_leaves(1000)
    conn = new_log_db(tmp_path / "big.db")
    log = AuditLog(conn)
    for start in range(0, 1000, 97):
        append_committed(log, conn, leaves[start : start + 97])
    rng = random.Random(5)
    for _ in range(10):
        size = rng.randint(1, 1000)
        index = rng.randrange(size)
        old = rng.randint(1, size)
        assert log.inclusion_proof(conn, index, size) == ref.path(index, leaves[:size])
        expected = [] if old == size else ref.proof(old, leaves[:size])
        assert log.consistency_proof(conn, old, size) == expected
    assert log.head().root == ref.mth(leaves)
