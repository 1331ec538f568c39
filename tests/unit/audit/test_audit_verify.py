"""audit.verify: an intact log verifies; every kind of tampering names the first bad index."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attestgate.audit.hashing import CompactRange
from attestgate.audit.tree import AuditLog
from attestgate.audit.verify import verify_log
from attestgate.protocol.merkle import leaf_hash
from attestgate.protocol.note import NoteSigner, Verifier, format_checkpoint
from tests.unit.audit import merkle_reference as ref
from tests.unit.audit.log_helpers import append_committed, drop_triggers, new_log_db

ORIGIN = "audit.test/log"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SIZE = 45
CHECKPOINTS = (0, 10, 20, 33, 45)  # batches end here and a checkpoint is signed after each


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def conn(tmp_path: Path, signer: NoteSigner) -> sqlite3.Connection:
    conn = new_log_db(tmp_path / "log.db")
    log = AuditLog(conn, signer=signer)
    leaves = ref.sample_leaves(SIZE)
    for i, (start, end) in enumerate(itertools.pairwise(CHECKPOINTS)):
        if i == 0:
            log.write_checkpoint(conn, NOW)
        append_committed(log, conn, leaves[start:end])
        log.write_checkpoint(conn, NOW + timedelta(seconds=end))
    drop_triggers(conn)  # the attacker in these tests can write to the file
    return conn


def _verify(
    conn: sqlite3.Connection, signer: NoteSigner, chunk_size: int = 7
) -> tuple[bool, int | None, str]:
    report = verify_log(conn, [signer.verifier()], origin=ORIGIN, chunk_size=chunk_size)
    return report.ok, report.first_bad_index, report.problem or ""


class TestIntact:
    @pytest.mark.parametrize("chunk_size", [1, 7, 4096])
    def test_verifies_with_progress(
        self, conn: sqlite3.Connection, signer: NoteSigner, chunk_size: int
    ) -> None:
        seen: list[tuple[int, int]] = []
        report = verify_log(
            conn,
            [signer.verifier()],
            origin=ORIGIN,
            progress=lambda done, total: seen.append((done, total)),
            chunk_size=chunk_size,
        )
        assert report.ok, report.problem
        assert (report.size, report.root) == (SIZE, ref.mth(ref.sample_leaves(SIZE)))
        assert (report.first_bad_index, report.problem) == (None, None)
        assert seen[-1] == (SIZE, SIZE)
        assert [done for done, _ in seen] == sorted(
            {min(SIZE, c) for c in range(chunk_size, SIZE + chunk_size, chunk_size)}
        )

    def test_empty_log(self, tmp_path: Path, signer: NoteSigner) -> None:
        conn = new_log_db(tmp_path / "empty.db")
        report = verify_log(conn, [signer.verifier()])
        assert (report.ok, report.size, report.root) == (True, 0, ref.mth([]))

    def test_wrong_key_fails_at_the_first_checkpoint(self, conn: sqlite3.Connection) -> None:
        stranger = NoteSigner.generate(ORIGIN)
        assert _verify(conn, stranger)[:2] == (False, 0)

    def test_wrong_origin(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        report = verify_log(conn, [signer.verifier()], origin="other.test/log")
        assert (report.ok, report.first_bad_index) == (False, 0)


class TestTampering:
    def test_edited_leaf_data(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("UPDATE audit_leaves SET data = x'deadbeef' WHERE idx = 23")
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 23)
        assert "leaf 23" in problem

    def test_edited_leaf_with_its_hash(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute(
            "UPDATE audit_leaves SET data = x'00', leaf_hash = ? WHERE idx = 23",
            (leaf_hash(b"\x00"),),
        )
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 23)
        assert "(0, 23)" in problem

    def test_deleted_leaf(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("DELETE FROM audit_leaves WHERE idx = 17")
        assert _verify(conn, signer)[:2] == (False, 17)

    def test_deleted_last_leaf(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("DELETE FROM audit_leaves WHERE idx = ?", (SIZE - 1,))
        assert _verify(conn, signer)[:2] == (False, SIZE - 1)

    def test_deleted_node(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("DELETE FROM audit_nodes WHERE level = 2 AND idx = 5")  # leaves 20..23
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 20)
        assert "missing" in problem

    def test_extra_node(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("INSERT INTO audit_nodes VALUES (0, 999, x'00')")
        assert _verify(conn, signer)[:2] == (False, SIZE)

    def test_swapped_rows(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        query = "SELECT idx, data, leaf_hash FROM audit_leaves WHERE idx IN (12, 31)"
        rows = {idx: (data, hashed) for idx, data, hashed in conn.execute(query)}
        for idx, other in ((12, 31), (31, 12)):
            conn.execute(
                "UPDATE audit_leaves SET data = ?, leaf_hash = ? WHERE idx = ?", (*rows[other], idx)
            )
        assert _verify(conn, signer)[:2] == (False, 12)

    def test_replaced_checkpoint(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        forger = NoteSigner.generate(ORIGIN)  # same name, different key
        fake_root = bytes(32)
        note = forger.sign(format_checkpoint(ORIGIN, 33, fake_root))
        conn.execute(
            "UPDATE audit_checkpoints SET root = ?, note = ? WHERE size = 33", (fake_root, note)
        )
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 20)  # the last checkpoint that still verifies
        assert "checkpoint at size 33" in problem

    def test_checkpoint_moved_to_another_size(
        self, conn: sqlite3.Connection, signer: NoteSigner
    ) -> None:
        note_10 = conn.execute("SELECT note FROM audit_checkpoints WHERE size = 10").fetchone()[0]
        conn.execute("UPDATE audit_checkpoints SET note = ? WHERE size = 20", (note_10,))
        assert _verify(conn, signer)[:2] == (False, 10)

    def test_checkpoint_beyond_the_leaves(
        self, conn: sqlite3.Connection, signer: NoteSigner
    ) -> None:
        conn.execute("DELETE FROM audit_checkpoints WHERE size = 45")
        conn.execute("DELETE FROM audit_leaves WHERE idx >= 40")
        conn.execute("DELETE FROM audit_nodes")
        tree = CompactRange()
        for data in ref.sample_leaves(40):
            for node, value in tree.append(leaf_hash(data)):
                conn.execute(
                    "INSERT INTO audit_nodes VALUES (?, ?, ?)", (node.level, node.idx, value)
                )
        assert _verify(conn, signer)[:2] == (True, None)
        signed = signer.sign(format_checkpoint(ORIGIN, 45, bytes(32)))
        conn.execute("INSERT INTO audit_checkpoints VALUES (45, ?, ?, 'x')", (bytes(32), signed))
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 40)
        assert "beyond" in problem

    def test_rewritten_history_is_caught_by_the_signatures(
        self, conn: sqlite3.Connection, signer: NoteSigner
    ) -> None:
        """Leaves and every node rewritten consistently: only the signed checkpoints disagree."""
        leaves = ref.sample_leaves(SIZE)
        leaves[25] = b"rewritten"
        conn.execute("DELETE FROM audit_leaves")
        conn.execute("DELETE FROM audit_nodes")
        tree = CompactRange()
        for idx, data in enumerate(leaves):
            hashed = leaf_hash(data)
            conn.execute("INSERT INTO audit_leaves VALUES (?, ?, ?)", (idx, data, hashed))
            for node, value in tree.append(hashed):
                conn.execute(
                    "INSERT INTO audit_nodes VALUES (?, ?, ?)", (node.level, node.idx, value)
                )
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 20)
        assert "checkpoint at size 33" in problem
        assert "leaves give" in problem

    def test_negative_size_checkpoint(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("INSERT INTO audit_checkpoints VALUES (-5, x'00', 'n', 'x')")
        assert _verify(conn, signer)[:2] == (False, 0)

    def test_text_instead_of_blob(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("UPDATE audit_leaves SET data = 'text' WHERE idx = 4")
        conn.execute("UPDATE audit_nodes SET hash = 'text' WHERE level = 3 AND idx = 3")
        assert _verify(conn, signer)[:2] == (False, 4)

    def test_node_stored_as_text(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("UPDATE audit_nodes SET hash = 'text' WHERE level = 3 AND idx = 3")
        assert _verify(conn, signer)[:2] == (False, 24)

    def test_dropped_table(self, conn: sqlite3.Connection, signer: NoteSigner) -> None:
        conn.execute("DROP TABLE audit_nodes")
        ok, first_bad, problem = _verify(conn, signer)
        assert (ok, first_bad) == (False, 0)
        assert "cannot be read" in problem


def test_report_has_no_event_contents(tmp_path: Path, signer: NoteSigner) -> None:
    conn = new_log_db(tmp_path / "log.db")
    log = AuditLog(conn, signer=signer)
    append_committed(log, conn, [b'{"secret":"value-123"}'] * 3)
    drop_triggers(conn)
    conn.execute("UPDATE audit_leaves SET data = x'00' WHERE idx = 1")
    report = verify_log(conn, [Verifier.from_vkey(signer.vkey())])
    assert report.first_bad_index == 1
    assert "value-123" not in (report.problem or "")
