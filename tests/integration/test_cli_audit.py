"""`attestgate audit verify` / `audit vkey` on a real data dir, intact and tampered."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType
from attestgate.audit.sequencer import Tx
from attestgate.gateway.app import build_gateway
from attestgate.gateway.ops.cli import main
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.protocol.note import Verifier, open_checkpoint

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        type=EventType.RECORD_PUT,
        time=NOW,
        actor_role=ActorRole.PROVIDER,
        actor_id="registry",
        objects={"record_id": f"r{n}"},
        decision=Decision.ALLOW,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose log holds 40 events in several checkpoints."""
    directory = tmp_path / "data"
    config = GatewayConfig(data_dir=directory, listen="127.0.0.1:0", insecure=True)
    gateway = build_gateway(config)
    gateway.start()
    parts = gateway.parts
    for n in range(40):

        def unit(tx: Tx, n: int = n) -> None:
            tx.emit(_event(n))

        parts.storage.write(unit)
    gateway.stop(0)
    return directory


def _tamper(db: Path, *statements: str) -> None:
    """What an attacker with file access does: drop the append-only triggers, then edit."""
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_intact_log_verifies(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 0
    assert "audit log intact: size 40" in capsys.readouterr().out


def test_vkey_verifies_the_stored_checkpoints(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "vkey", "--data-dir", str(data_dir)]) == 0
    vkey = capsys.readouterr().out.strip()
    conn = sqlite3.connect(data_dir / "attestgate.db")
    (note,) = conn.execute("SELECT note FROM audit_checkpoints ORDER BY size DESC").fetchone()
    conn.close()
    checkpoint = open_checkpoint(note, [Verifier.from_vkey(vkey)])
    assert checkpoint.size == 40
    assert main(["audit", "verify", "--data-dir", str(data_dir), "--vkey", vkey]) == 0


TAMPERING: dict[str, Callable[[], tuple[str, ...]]] = {
    "edit a leaf": lambda: (
        "UPDATE audit_leaves SET data = CAST(replace(CAST(data AS TEXT), 'r7', 'r8') AS BLOB) "
        "WHERE idx = 7",
    ),
    "delete a row": lambda: ("DELETE FROM audit_leaves WHERE idx = 12",),
    "swap two rows": lambda: (
        "UPDATE audit_leaves SET idx = -1 WHERE idx = 3",
        "UPDATE audit_leaves SET idx = 3 WHERE idx = 4",
        "UPDATE audit_leaves SET idx = 4 WHERE idx = -1",
    ),
    "replace a checkpoint": lambda: (
        "UPDATE audit_checkpoints SET note = replace(note, '40', '41') "
        "WHERE size = (SELECT MAX(size) FROM audit_checkpoints)",
    ),
}


@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_tampering_fails_loudly(
    data_dir: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(data_dir / "attestgate.db", *TAMPERING[attack]())
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 1
    assert "FAILED verification at index" in capsys.readouterr().err


def test_first_bad_index_is_named(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tamper(data_dir / "attestgate.db", *TAMPERING["edit a leaf"]())
    main(["audit", "verify", "--data-dir", str(data_dir)])
    assert "at index 7" in capsys.readouterr().err


def test_missing_database_is_a_clear_error(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "verify", "--data-dir", str(data_dir), "--db", str(tmp_path / "x.db")])
    assert code == 2
    assert "no database at" in capsys.readouterr().err
