"""Log tampering by someone with the database (and even the signing key): an edited leaf, a
truncated tail, and a rollback to an older copy that then grows differently (a fork). A regulator
following the log with the SDK detects each: the inclusion proof fails, the tree shrank, or the
new checkpoint is not consistent with the last one it saw (split view). ``audit verify`` on a
tampered database is covered in ``tests/integration/test_cli_audit.py``, whose ``_tamper`` this
reuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import LogMonitor, errors
from attestgate.sdk.log_errors import LogVerificationError, SplitViewError
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.integration.test_cli_audit import _tamper as tamper


def _put(gw: LiveGateway, *subjects: str) -> int:
    provider = gw.provider("tax-bureau")
    for subject in subjects:
        provider.put_record(
            domain="income", subject=subject, record_id=f"inc-{subject}", fields=live.INCOME_FIELDS
        )
    regulator = gw.regulator()
    size = gw.parts.storage.read().execute("SELECT COUNT(*) FROM audit_leaves").fetchone()[0]
    assert live.wait_for_checkpoint(regulator, int(size)).size == size
    return int(size)


def _db_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.glob("attestgate.db*") if p.is_file()]


def test_an_edited_leaf_fails_its_inclusion_proof(tmp_path: Path, clock: FixedClock) -> None:
    data_dir = tmp_path / "gw"
    gw = live.start_live(data_dir, clock)
    size = _put(gw, "alice", "bob", "carol")
    seen = gw.regulator().checkpoint()
    gw.close()
    edit = "CAST(replace(CAST(data AS TEXT), 'record.put', 'record.got') AS BLOB)"
    tamper(data_dir / "attestgate.db", f"UPDATE audit_leaves SET data = {edit} WHERE idx = 2")
    gw = live.start_live(data_dir, clock)
    try:
        regulator = gw.regulator()
        (entry,) = regulator.entries(2, 3)
        assert b"record.got" in entry.data  # the operator serves the edited leaf ...
        with pytest.raises(LogVerificationError):  # ... which the checkpoint does not contain
            regulator.verify_inclusion(entry, 2, seen)
        assert seen.size == size
    finally:
        gw.close()


def test_a_truncated_tail_is_noticed(tmp_path: Path, clock: FixedClock) -> None:
    data_dir = tmp_path / "gw"
    gw = live.start_live(data_dir, clock)
    _put(gw, "alice", "bob")
    monitor = LogMonitor(gw.regulator(), tmp_path / "regulator" / "checkpoint")
    seen = monitor.update()
    gw.close()
    # Hide the newest events: drop the leaves, their nodes and every checkpoint covering them.
    tamper(
        data_dir / "attestgate.db",
        f"DELETE FROM audit_leaves WHERE idx >= {seen.size - 2}",
        f"DELETE FROM audit_checkpoints WHERE size >= {seen.size - 2}",
    )
    gw = live.start_live(data_dir, clock)
    try:
        monitor = LogMonitor(gw.regulator(), monitor.state_file)
        with pytest.raises((errors.OutOfRange, SplitViewError)):
            monitor.update()  # the log cannot prove it extends what the regulator saw
        assert monitor.last_verified() == seen  # the monitor keeps what it had verified
    finally:
        gw.close()


def test_a_rollback_that_forks_the_log_is_a_split_view(tmp_path: Path, clock: FixedClock) -> None:
    data_dir, backup = tmp_path / "gw", tmp_path / "backup"
    gw = live.start_live(data_dir, clock)
    _put(gw, "alice")
    gw.close()
    backup.mkdir()
    for path in _db_files(data_dir):
        shutil.copy2(path, backup / path.name)
    gw = live.start_live(data_dir, clock)
    _put(gw, "bob", "carol")
    state = tmp_path / "regulator" / "checkpoint"
    seen = LogMonitor(gw.regulator(), state).update()
    gw.close()
    for path in _db_files(data_dir):  # the operator restores the old copy ...
        path.unlink()
    for path in backup.iterdir():
        shutil.copy2(path, data_dir / path.name)
    gw = live.start_live(data_dir, clock)
    try:
        grown = _put(gw, "dave", "erin", "frank", "grace")  # ... and the log grows differently
        assert grown > seen.size
        with pytest.raises(SplitViewError):
            LogMonitor(gw.regulator(), state).update()
    finally:
        gw.close()
