"""AuditLog over SQLite: batches, reopening, pending state, append-only triggers, O(log n) reads."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from attestgate.audit.store import AuditStorageError
from attestgate.audit.tree import AuditLog
from attestgate.gateway.persistence.migrate import create_sqlite_schema
from attestgate.protocol.note import NoteSigner, open_checkpoint
from attestgate.protocol.reasons import DomainError, Reason
from tests.unit.audit import merkle_reference as ref
from tests.unit.audit.log_helpers import append_committed, connect, drop_triggers, new_log_db

T = TypeVar("T")
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def _nodes(conn: sqlite3.Connection) -> list[tuple[int, int, bytes]]:
    return conn.execute("SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx").fetchall()


class TestAppend:
    def test_batches_of_any_size_equal_one_by_one(self, tmp_path: Path) -> None:
        leaves = ref.sample_leaves(300)
        single = new_log_db(tmp_path / "single.db")
        single_log = AuditLog(single)
        single_roots = [append_committed(single_log, single, [d]).root for d in leaves]
        batched = new_log_db(tmp_path / "batched.db")
        batched_log = AuditLog(batched)
        rng, start = random.Random(7), 0
        while start < len(leaves):
            count = rng.choice([0, 1, 2, 3, 7, 16, 33, 64])
            batch = leaves[start : start + count]
            result = batched_log.append(batched, batch)
            batched_log.commit_pending()
            assert result.first_index == start
            start += len(batch)
            assert result.size == start
            if start:
                assert result.root == single_roots[start - 1]
        assert _nodes(single) == _nodes(batched)
        assert len(_nodes(batched)) == sum(300 >> level for level in range(9))
        assert batched_log.head().root == ref.mth(leaves)

    def test_reopen_continues(self, tmp_path: Path) -> None:
        path = tmp_path / "log.db"
        leaves = ref.sample_leaves(70)
        conn = new_log_db(path)
        append_committed(AuditLog(conn), conn, leaves[:37])
        conn.close()
        reopened = AuditLog(lambda: connect(path))
        assert reopened.head().size == 37
        assert reopened.head().root == ref.mth(leaves[:37])
        conn = connect(path)
        result = append_committed(reopened, conn, leaves[37:])
        assert (result.first_index, result.size, result.root) == (37, 70, ref.mth(leaves))

    def test_pending_state_follows_the_transaction(self, tmp_path: Path) -> None:
        leaves = ref.sample_leaves(10)
        conn = new_log_db(tmp_path / "log.db")
        log = AuditLog(conn)
        append_committed(log, conn, leaves[:3])
        conn.execute("BEGIN IMMEDIATE")
        first = log.append(conn, leaves[3:5])
        second = log.append(conn, leaves[5:6])  # builds on the pending state
        assert (first.first_index, second.first_index, second.size) == (3, 5, 6)
        assert log.head().size == 3  # not adopted before commit
        conn.execute("ROLLBACK")
        log.rollback_pending()
        assert log.head().size == 3
        assert log.size(conn) == 3
        retry = append_committed(log, conn, leaves[3:10])
        assert (retry.first_index, retry.size, retry.root) == (3, 10, ref.mth(leaves))

    def test_another_writer_is_noticed(self, tmp_path: Path) -> None:
        path = tmp_path / "log.db"
        leaves = ref.sample_leaves(9)
        conn_a = new_log_db(path)
        conn_b = connect(path)
        log_a, log_b = AuditLog(conn_a), AuditLog(conn_b)
        append_committed(log_a, conn_a, leaves[:4])
        result = append_committed(log_b, conn_b, leaves[4:9])  # reloads: it saw size 0
        assert (result.first_index, result.root) == (4, ref.mth(leaves))

    def test_leaves_must_be_bytes(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        with pytest.raises(TypeError):
            AuditLog(conn).append(conn, ["text"])  # type: ignore[list-item]

    def test_missing_nodes_at_open_are_a_storage_error(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        append_committed(AuditLog(conn), conn, ref.sample_leaves(6))
        drop_triggers(conn)
        conn.execute("DELETE FROM audit_nodes WHERE level = 2")
        with pytest.raises(AuditStorageError, match="missing"):
            AuditLog(conn)


class TestAppendOnlyTriggers:
    @pytest.fixture
    def conn(self, tmp_path: Path) -> sqlite3.Connection:
        conn = new_log_db(tmp_path / "log.db")
        signer = NoteSigner.generate("audit.test/log")
        log = AuditLog(conn, signer=signer)
        append_committed(log, conn, ref.sample_leaves(4))
        log.write_checkpoint(conn, NOW)
        create_sqlite_schema(conn)  # the migrations are idempotent, also with data present
        return conn

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_leaves SET data = x'00' WHERE idx = 1",
            "DELETE FROM audit_leaves WHERE idx = 3",
            "UPDATE audit_nodes SET hash = x'00' WHERE level = 1 AND idx = 0",
            "DELETE FROM audit_nodes WHERE level = 0",
            "UPDATE audit_checkpoints SET note = 'x'",
            "DELETE FROM audit_checkpoints",
            "INSERT OR REPLACE INTO audit_leaves (idx, data, leaf_hash) VALUES (0, x'01', x'02')",
            "INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (0, 0, x'02')",
            "INSERT OR REPLACE INTO audit_checkpoints VALUES (4, x'00', 'n', '2025-01-01')",
            "INSERT INTO audit_leaves (idx, data, leaf_hash) VALUES (9, x'01', x'02')",
        ],
    )
    def test_refused(self, conn: sqlite3.Connection, statement: str) -> None:
        before = conn.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM audit_leaves").fetchone()
        with pytest.raises(sqlite3.IntegrityError, match=r"append-only|dense"):
            conn.execute(statement)
        after = conn.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM audit_leaves").fetchone()
        assert before == after
        assert AuditLog(conn).head().size == 4

    def test_without_triggers_the_same_statement_goes_through(
        self, conn: sqlite3.Connection
    ) -> None:
        drop_triggers(conn)  # proves the refusals above come from the triggers
        conn.execute("UPDATE audit_leaves SET data = x'00' WHERE idx = 1")


class _Meter:
    """Counts SQLite VM steps and statements on one connection while measuring."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.steps = 0
        self.statements: list[str] = []

    def _tick(self) -> int:
        self.steps += 1
        return 0

    def run(self, fn: Callable[[], T]) -> T:
        self.steps, self.statements = 0, []
        self.conn.set_progress_handler(self._tick, 1)
        self.conn.set_trace_callback(self.statements.append)
        try:
            return fn()
        finally:
            self.conn.set_progress_handler(None, 1)
            self.conn.set_trace_callback(None)


def _build(path: Path, size: int) -> tuple[AuditLog, sqlite3.Connection]:
    conn = new_log_db(path)
    log = AuditLog(conn)
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    for start in range(0, size, 2048):
        append_committed(log, conn, leaves[start : start + 2048])
    return log, conn


def _measure(tmp_path: Path, size: int) -> dict[str, int]:
    """VM steps of each read at one tree size; checks each issues one query after the size check."""
    log, conn = _build(tmp_path / f"{size}.db", size)
    meter = _Meter(conn)
    operations: dict[str, Callable[[], object]] = {
        "root": lambda: log.root(conn, size),
        "inclusion": lambda: log.inclusion_proof(conn, size // 3, size),
        "consistency": lambda: log.consistency_proof(conn, size // 3, size),
        "open": lambda: AuditLog(conn),
    }
    steps: dict[str, int] = {}
    for name, operation in operations.items():
        result = meter.run(operation)
        steps[name] = meter.steps
        if name != "open":
            assert len(meter.statements) == 2, meter.statements  # size check + ONE read
        if isinstance(result, list):
            assert len(result) <= 2 * size.bit_length()
    conn.close()
    return steps


class TestLogarithmicReads:
    def test_cost_grows_with_log_n_not_n(self, tmp_path: Path) -> None:
        small, large = _measure(tmp_path, 2**7 - 3), _measure(tmp_path, 2**13 - 3)
        for name, steps in small.items():
            # 64x the leaves: a scan would cost ~64x; O(log n) reads stay within a small factor.
            assert large[name] < 4 * steps, (name, steps, large[name])

    def test_node_reads_use_the_primary_key(self, tmp_path: Path) -> None:
        _log, conn = _build(tmp_path / "log.db", 50)
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT n.level, n.idx, n.hash FROM (VALUES (?, ?)) AS w "
            "CROSS JOIN audit_nodes AS n ON n.level = w.column1 AND n.idx = w.column2",
            (0, 1),
        ).fetchall()
        assert any("USING PRIMARY KEY" in str(row) for row in plan), plan


class TestReadsAndErrors:
    @pytest.fixture
    def log_conn(self, tmp_path: Path) -> tuple[AuditLog, sqlite3.Connection]:
        return _build(tmp_path / "log.db", 10)

    @pytest.mark.parametrize(
        ("call", "reason"),
        [
            (lambda log, conn: log.inclusion_proof(conn, 10, 10), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.inclusion_proof(conn, -1, 5), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.inclusion_proof(conn, 0, 11), Reason.TREE_SIZE_OUT_OF_RANGE),
            (lambda log, conn: log.inclusion_proof(conn, 0, 0), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.consistency_proof(conn, 6, 5), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.consistency_proof(conn, 0, 5), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.consistency_proof(conn, 12, 11), Reason.INVALID_ARGUMENT),
            (lambda log, conn: log.consistency_proof(conn, 1, 11), Reason.TREE_SIZE_OUT_OF_RANGE),
            (lambda log, conn: log.root(conn, 11), Reason.TREE_SIZE_OUT_OF_RANGE),
            (lambda log, conn: log.entries(conn, 5, 11), Reason.INDEX_OUT_OF_RANGE),
            (lambda log, conn: log.entries(conn, 6, 5), Reason.INDEX_OUT_OF_RANGE),
            (lambda log, conn: log.leaf(conn, 10), Reason.INDEX_OUT_OF_RANGE),
            (lambda log, conn: log.leaf(conn, -1), Reason.INDEX_OUT_OF_RANGE),
            (lambda log, conn: log.checkpoint(conn, 3), Reason.CHECKPOINT_NOT_FOUND),
        ],
    )
    def test_bad_arguments(
        self,
        log_conn: tuple[AuditLog, sqlite3.Connection],
        call: Callable[[AuditLog, sqlite3.Connection], object],
        reason: Reason,
    ) -> None:
        with pytest.raises(DomainError) as caught:
            call(*log_conn)
        assert caught.value.reason is reason

    def test_entries_and_leaf(self, log_conn: tuple[AuditLog, sqlite3.Connection]) -> None:
        log, conn = log_conn
        assert log.entries(conn, 3, 6) == [(i, i.to_bytes(4, "big")) for i in range(3, 6)]
        assert log.entries(conn, 10, 10) == []
        assert log.leaf(conn, 9) == (9).to_bytes(4, "big")
        assert log.size(conn) == 10


class TestCheckpoints:
    def test_due_write_and_read_back(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        signer = NoteSigner.generate("audit.test/log")
        log = AuditLog(conn, signer=signer)
        assert log.checkpoint_due() == (0, ref.mth([]))
        append_committed(log, conn, [b"a", b"b", b"c"])
        conn.execute("BEGIN IMMEDIATE")
        log.append(conn, [b"d"])
        assert log.checkpoint_due() == (4, ref.mth([b"a", b"b", b"c", b"d"]))
        stored = log.write_checkpoint(conn, NOW + timedelta(microseconds=1500))
        assert log.checkpoint_due() is None
        assert log.write_checkpoint(conn, NOW) == stored  # idempotent at the same size
        conn.execute("COMMIT")
        log.commit_pending()
        assert stored.created_at == NOW + timedelta(milliseconds=1)
        checkpoint = open_checkpoint(stored.note, [signer.verifier()], origin="audit.test/log")
        assert (checkpoint.size, checkpoint.root_hash) == (4, stored.root)
        assert log.latest_checkpoint(conn) == stored
        assert log.checkpoint(conn, 4) == stored
        assert AuditLog(conn, signer=signer).checkpoint_due() is None  # remembered on reopen

    def test_rolled_back_checkpoint_is_due_again(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        log = AuditLog(conn, signer=NoteSigner.generate("audit.test/log"))
        append_committed(log, conn, [b"a"])
        conn.execute("BEGIN IMMEDIATE")
        log.write_checkpoint(conn, NOW)
        conn.execute("ROLLBACK")
        log.rollback_pending()
        assert log.checkpoint_due() == (1, ref.mth([b"a"]))
        assert log.latest_checkpoint(conn) is None

    def test_iterates_in_order_across_pages(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        log = AuditLog(conn, signer=NoteSigner.generate("audit.test/log"))
        for i in range(5):
            append_committed(log, conn, [bytes([i])])
            log.write_checkpoint(conn, NOW + timedelta(seconds=i))
        sizes = [c.size for c in log.checkpoints(conn)]
        assert sizes == [1, 2, 3, 4, 5]
        assert [c.size for c in log.checkpoints(conn, start=3)] == [3, 4, 5]

    def test_add_checkpoint_checks_the_root(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        log = AuditLog(conn)
        append_committed(log, conn, [b"a", b"b"])
        with pytest.raises(DomainError):
            log.add_checkpoint(conn, 2, bytes(32), "note", NOW)
        added = log.add_checkpoint(conn, 2, ref.mth([b"a", b"b"]), "note", NOW)
        assert log.checkpoint(conn, 2) == added
        with pytest.raises(ValueError, match="timezone-aware"):
            log.add_checkpoint(conn, 1, ref.mth([b"a"]), "note", datetime(2025, 1, 1))

    def test_write_checkpoint_needs_a_signer(self, tmp_path: Path) -> None:
        conn = new_log_db(tmp_path / "log.db")
        with pytest.raises(RuntimeError, match="signer"):
            AuditLog(conn).write_checkpoint(conn, NOW)
