"""The audit log on every SQL backend: appends, RFC 9162 proofs, append-only storage, several
writers, and the group-committing sequencer under concurrency (dense indices, a verifying log)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from attestgate.audit import store
from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType
from attestgate.audit.sequencer import Sequencer, SequencerSettings, Tx
from attestgate.audit.sql import Connection, Dialect
from attestgate.audit.tree import AuditLog
from attestgate.audit.verify import verify_log
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.postgres import PgConnection, lock_batch
from attestgate.protocol.merkle import leaf_hash, verify_consistency, verify_inclusion
from attestgate.protocol.note import NoteSigner
from attestgate.protocol.reasons import DomainError, Reason
from tests.conformance.conftest import Backend

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def append(log: AuditLog, conn: Connection, backend: Backend, leaves: list[bytes]) -> int:
    """One batch transaction holding one append; returns the first index."""
    backend.begin_batch(conn)
    log.refresh(conn)
    first = log.append(conn, leaves).first_index
    conn.execute("COMMIT")
    log.commit_pending()
    return first


def test_append_and_proofs(backend: Backend) -> None:
    conn = backend.connect()
    log = AuditLog(conn)
    leaves = [f"entry-{n}".encode() for n in range(37)]
    assert append(log, conn, backend, leaves[:20]) == 0
    old_size, old_root = 20, log.root(conn, 20)
    assert append(log, conn, backend, leaves[20:]) == 20
    head = log.head()
    assert (head.size, head.root) == (37, log.root(conn, 37))
    for index in (0, 19, 20, 36):
        proof = log.inclusion_proof(conn, index, 37)
        verify_inclusion(
            index=index, size=37, leaf_hash=leaf_hash(leaves[index]), proof=proof, root=head.root
        )
    proof = log.consistency_proof(conn, old_size, 37)
    verify_consistency(
        old_size=old_size, new_size=37, old_root=old_root, new_root=head.root, proof=proof
    )
    assert log.entries(conn, 35, 37) == [(35, leaves[35]), (36, leaves[36])]
    assert isinstance(log.leaf(conn, 0), bytes)


def test_head_reads_size_and_newest_checkpoint_in_one_statement(backend: Backend) -> None:
    conn = backend.connect()
    log = AuditLog(conn, signer=NoteSigner.generate("test.example/log"))
    assert store.head(conn) == (0, None)
    append(log, conn, backend, [b"a", b"b", b"c"])
    assert store.head(conn) == (3, None)
    backend.begin_batch(conn)
    log.write_checkpoint(conn, NOW)
    conn.execute("COMMIT")
    log.commit_pending()
    append(log, conn, backend, [b"d"])
    assert store.head(conn) == (4, 3)


def test_storage_is_append_only(backend: Backend) -> None:
    conn = backend.connect()
    signer = NoteSigner.generate("test.example/log")
    log = AuditLog(conn, signer=signer)
    append(log, conn, backend, [b"a", b"b", b"c"])
    backend.begin_batch(conn)
    log.refresh(conn)
    log.write_checkpoint(conn, NOW)
    conn.execute("COMMIT")
    log.commit_pending()
    attacks = [
        "UPDATE audit_leaves SET data = ? WHERE idx = 1",
        "DELETE FROM audit_leaves WHERE idx = 2",
        "UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = 0",
        "DELETE FROM audit_nodes",
        "UPDATE audit_checkpoints SET note = ?",
        "DELETE FROM audit_checkpoints",
        "INSERT INTO audit_leaves (idx, data, leaf_hash) VALUES (5, ?, ?)",  # a gap
        "INSERT INTO audit_leaves (idx, data, leaf_hash) VALUES (1, ?, ?)",  # an overwrite
    ]
    if backend.dialect is Dialect.POSTGRESQL:
        attacks += ["TRUNCATE audit_leaves", "TRUNCATE audit_nodes", "TRUNCATE audit_checkpoints"]
    for attack in attacks:
        params = (b"x",) * attack.count("?")
        conn.execute("BEGIN")
        with pytest.raises(conn.DatabaseError):
            conn.execute(attack, params)
        conn.execute("ROLLBACK")
    report = verify_log(conn, [signer.verifier()])
    assert (report.ok, report.size) == (True, 3)


def test_writers_on_separate_connections_share_one_tree(backend: Backend) -> None:
    # Two AuditLog objects = two replicas: each adopts the other's appends and checkpoints.
    signer = NoteSigner.generate("test.example/log")
    conn_a, conn_b = backend.connect(), backend.connect()
    log_a, log_b = AuditLog(conn_a, signer=signer), AuditLog(conn_b, signer=signer)
    indices = []
    for n in range(6):
        log, conn = (log_a, conn_a) if n % 2 == 0 else (log_b, conn_b)
        indices.append(append(log, conn, backend, [f"{n}-x".encode(), f"{n}-y".encode()]))
        backend.begin_batch(conn)
        log.refresh(conn)
        if log.checkpoint_due() is not None:
            log.write_checkpoint(conn, NOW)
        conn.execute("COMMIT")
        log.commit_pending()
    assert indices == [0, 2, 4, 6, 8, 10]
    backend.begin_batch(conn_a)
    log_a.refresh(conn_a)
    assert log_a.checkpoint_due() is None  # log_b checkpointed size 12: nothing to sign again
    conn_a.execute("ROLLBACK")
    assert log_a.root(conn_a, 12) == log_b.head().root
    assert verify_log(conn_a, [signer.verifier()]).ok


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        type=EventType.RECORD_PUT,
        time=NOW,
        actor_role=ActorRole.PROVIDER,
        actor_id="tax-bureau",
        objects={"record_id": f"r{n}"},
        decision=Decision.ALLOW,
    )


def test_sequencers_under_concurrency_keep_indices_dense(backend: Backend) -> None:
    # 8 threads x 200 units. On PostgreSQL they are split over two sequencers (two replicas,
    # each with its own writer connection and AuditLog) that take turns through the row lock.
    setup = backend.connect()
    setup.execute("CREATE TABLE things (n INTEGER PRIMARY KEY)")
    signer = NoteSigner.generate("test.example/log")
    replicas = 2 if backend.dialect is Dialect.POSTGRESQL else 1
    sequencers = []
    for _ in range(replicas):
        sequencer = Sequencer(
            backend.connect,
            AuditLog(backend.connect(), signer=signer),
            settings=SequencerSettings(max_wait=timedelta(milliseconds=1)),
            now=lambda: NOW,
            begin=backend.begin_batch,
        )
        sequencer.start()
        sequencers.append(sequencer)
    got: dict[int, int] = {}
    lock = threading.Lock()

    def worker(t: int) -> None:
        sequencer = sequencers[t % replicas]
        for i in range(200):
            n = t * 1000 + i
            refuse = i % 10 == 7  # written, then refused: undone inside a shared batch

            def unit(tx: Tx, n: int = n, refuse: bool = refuse) -> None:
                tx.conn.execute("INSERT INTO things (n) VALUES (?)", (n,))
                tx.emit(_event(n))
                if refuse:
                    raise DomainError(Reason.CAPACITY_EXHAUSTED, "no")

            try:
                (index,) = sequencer.submit(unit, on_refusal=lambda e: [_event(-1)]).log_indices
            except DomainError:
                assert refuse
                continue
            with lock:
                got[n] = index

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sequencer in sequencers:
        sequencer.stop()
    assert len(got) == 1440  # 8 x 180 accepted; the 160 refusals logged their own event
    assert set(got.values()) < set(range(1600))
    (things,) = setup.execute("SELECT COUNT(*) FROM things").fetchone()
    assert things == 1440
    datas = [bytes(row[0]) for row in setup.execute("SELECT data FROM audit_leaves")]
    assert sum(b'"r-1"' in data for data in datas) == 160
    for n, index in list(got.items())[::97]:
        assert (
            f'"r{n}"'.encode()
            in setup.execute("SELECT data FROM audit_leaves WHERE idx = ?", (index,)).fetchone()[0]
        )
    report = verify_log(setup, [signer.verifier()])
    assert (report.ok, report.size) == (True, 1600)


@pytest.mark.postgres
def test_sequencer_survives_a_lost_connection(pg_url: str) -> None:
    # A database restart or a killed session fails the batch that runs into it (callers get
    # STORAGE_UNAVAILABLE, nothing is half-written) and the writer reconnects for the next one.
    conn = PgConnection(psycopg.connect(pg_url, autocommit=True))
    migrate(conn, now=NOW)

    def open_writer() -> Connection:
        return PgConnection(psycopg.connect(pg_url, autocommit=True))

    log = AuditLog(open_writer, signer=NoteSigner.generate("test.example/log"))
    sequencer = Sequencer(open_writer, log, now=lambda: NOW, begin=lock_batch)
    sequencer.start()
    try:
        pid = sequencer.submit(
            lambda tx: int(tx.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        ).value
        conn.execute("SELECT pg_terminate_backend(?)", (pid,))
        with pytest.raises(DomainError) as lost:
            sequencer.submit(lambda tx: tx.emit(_event(1)))
        assert lost.value.reason is Reason.STORAGE_UNAVAILABLE
        assert sequencer.submit(lambda tx: tx.emit(_event(2))).log_indices == (0,)
    finally:
        sequencer.stop()
    assert conn.execute("SELECT COUNT(*) FROM audit_leaves").fetchone() == (1,)
    conn.close()


def test_insert_rows_spans_statements_within_the_parameter_limit(backend: Backend) -> None:
    conn = backend.connect()
    conn.execute("CREATE TABLE pairs (a INTEGER PRIMARY KEY, b TEXT NOT NULL)")
    rows = [(n, f"v{n}") for n in range(1200)]  # 2 400 parameters: three statements
    store.insert_rows(conn, "pairs (a, b)", rows)
    store.insert_rows(conn, "pairs (a, b)", [])
    assert conn.execute("SELECT a, b FROM pairs ORDER BY a").fetchall() == rows


@pytest.mark.postgres
def test_commit_of_an_aborted_transaction_is_an_error_not_a_silent_rollback(pg_url: str) -> None:
    conn = PgConnection(psycopg.connect(pg_url, autocommit=True))
    try:
        conn.execute("CREATE TABLE once (n INTEGER PRIMARY KEY)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO once VALUES (1)")
        with pytest.raises(psycopg.IntegrityError):
            conn.execute("INSERT INTO once VALUES (1)")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("COMMIT")
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT COUNT(*) FROM once").fetchone() == (0,)
    finally:
        conn.close()
