"""Group commit: concurrency, refusals, failures and crashes never break the log."""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType
from attestgate.audit.sequencer import Sequencer, SequencerSettings, Tx
from attestgate.audit.tree import AuditLog
from attestgate.audit.verify import verify_log
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.storage import connect
from attestgate.protocol.note import NoteSigner, Verifier, generate_vkey_pair
from attestgate.protocol.reasons import DomainError, Reason
from tests.children import Child

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 2, 1, tzinfo=UTC)


def event(n: int, decision: Decision = Decision.ALLOW) -> AuditEvent:
    return AuditEvent(
        type=EventType.RECORD_PUT,
        time=NOW,
        actor_role=ActorRole.PROVIDER,
        actor_id="tax-bureau",
        objects={"record_id": f"r{n}"},
        decision=decision,
    )


class Harness:
    """A sequencer over a real SQLite file with a table for the units' own writes."""

    def __init__(self, path: Path, *, skey: str | None = None, **settings: object) -> None:
        self.path = path
        conn = connect(path)
        migrate(conn, now=NOW)
        conn.execute("CREATE TABLE IF NOT EXISTS things (n INTEGER PRIMARY KEY)")
        conn.close()
        self.signer = (
            NoteSigner.from_skey(skey) if skey else NoteSigner.generate("test.example/log")
        )
        self.log = AuditLog(lambda: connect(path), signer=self.signer)
        self.sequencer = Sequencer(
            lambda: connect(path),
            self.log,
            settings=SequencerSettings(**settings),  # type: ignore[arg-type]
            now=lambda: NOW,
        )
        self.sequencer.start()

    def put(self, n: int) -> tuple[int, ...]:
        def unit(tx: Tx) -> None:
            tx.conn.execute("INSERT INTO things VALUES (?)", (n,))
            tx.emit(event(n))

        return self.sequencer.submit(unit).log_indices

    def verify(self) -> tuple[bool, int]:
        conn = connect(self.path)
        try:
            report = verify_log(conn, [self.signer.verifier()])
        finally:
            conn.close()
        return report.ok, report.size


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "log.db", max_wait=timedelta(milliseconds=2))
    yield h
    h.sequencer.stop()


def test_eight_threads_thousand_appends_one_consistent_tree(harness: Harness) -> None:
    indices: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(1000):
            got = harness.put(t * 1000 + i)
            with lock:
                indices.extend(got)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    harness.sequencer.stop()
    assert sorted(indices) == list(range(8000))  # dense, no duplicates
    assert harness.sequencer.batches < 8000  # appends were grouped
    assert harness.verify() == (True, 8000)


def test_refusal_undoes_the_unit_and_logs_only_its_refusal(harness: Harness) -> None:
    def refused(tx: Tx) -> None:
        tx.conn.execute("INSERT INTO things VALUES (1)")
        tx.emit(event(1))
        raise DomainError(Reason.CAPACITY_EXHAUSTED, "no")

    with pytest.raises(DomainError) as err:
        harness.sequencer.submit(refused, on_refusal=lambda e: [event(99, Decision.DENY)])
    assert err.value.reason is Reason.CAPACITY_EXHAUSTED
    harness.put(2)
    conn = connect(harness.path)
    assert conn.execute("SELECT n FROM things").fetchall() == [(2,)]
    datas = [row[0] for row in conn.execute("SELECT data FROM audit_leaves ORDER BY idx")]
    conn.close()
    assert len(datas) == 2
    assert b'"deny"' in datas[0]
    assert b"r99" in datas[0]
    assert b"r2" in datas[1]


def _one_batch(
    harness: Harness, units: list[object], on_refusal: Any = lambda e: []
) -> list[BaseException | None]:
    """Submit ``units`` so that they share one batch (a blocker holds the writer meanwhile)."""
    gate, entered = threading.Event(), threading.Event()

    def blocker(tx: Tx) -> None:
        entered.set()
        gate.wait(10)

    outcomes: list[BaseException | None] = [None] * len(units)

    def submit(k: int) -> None:
        try:
            harness.sequencer.submit(units[k], on_refusal=on_refusal)  # type: ignore[arg-type]
        except Exception as exc:
            outcomes[k] = exc

    first = threading.Thread(target=harness.sequencer.submit, args=(blocker,))
    first.start()
    assert entered.wait(10)
    threads = [threading.Thread(target=submit, args=(k,)) for k in range(len(units))]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # queued in this order
    gate.set()
    for thread in [first, *threads]:
        thread.join(10)
    return outcomes


def test_refused_unit_between_two_others_in_one_batch_undoes_only_itself(
    harness: Harness,
) -> None:
    def put(n: int, *, refuse: bool = False) -> object:
        def unit(tx: Tx) -> None:
            tx.conn.execute("INSERT INTO things VALUES (?)", (n,))
            tx.emit(event(n))
            if refuse:
                raise DomainError(Reason.CAPACITY_EXHAUSTED, "no")

        return unit

    batches_before = harness.sequencer.batches
    outcomes = _one_batch(
        harness,
        [put(1), put(2, refuse=True), put(3)],
        on_refusal=lambda e: [event(92, Decision.DENY)],
    )
    assert isinstance(outcomes[1], DomainError)
    assert harness.sequencer.batches == batches_before + 2  # the blocker's, then the three
    conn = connect(harness.path)
    things = conn.execute("SELECT n FROM things ORDER BY n").fetchall()
    datas = [row[0] for row in conn.execute("SELECT data FROM audit_leaves ORDER BY idx")]
    conn.close()
    assert things == [(1,), (3,)]
    assert [b"r1" in datas[0], b"r92" in datas[1], b"r3" in datas[2]] == [True, True, True]
    assert harness.verify() == (True, 3)


def test_a_unit_failing_after_its_writes_reruns_the_batch_with_savepoints(
    harness: Harness,
) -> None:
    runs = {"a": 0, "b": 0, "c": 0}

    def writer(name: str, n: int, *, refuse: bool = False) -> object:
        def unit(tx: Tx) -> None:
            runs[name] += 1
            tx.conn.execute("INSERT INTO things VALUES (?)", (n,))
            if refuse:
                raise DomainError(Reason.CAPACITY_EXHAUSTED, "no")

        return unit

    outcomes = _one_batch(harness, [writer("a", 1), writer("b", 2, refuse=True), writer("c", 3)])
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "DomainError", "NoneType"]
    # First pass without savepoints: a, then b fails after writing; the batch is rolled back
    # and run again, each unit in its own savepoint.
    assert runs == {"a": 2, "b": 2, "c": 1}
    conn = connect(harness.path)
    assert conn.execute("SELECT n FROM things ORDER BY n").fetchall() == [(1,), (3,)]
    conn.close()


def test_a_refusal_before_any_write_needs_no_rerun(harness: Harness) -> None:
    runs = {"a": 0, "b": 0}

    def unit_a(tx: Tx) -> None:
        runs["a"] += 1
        tx.conn.execute("INSERT INTO things VALUES (1)")

    def unit_b(tx: Tx) -> None:
        runs["b"] += 1
        raise DomainError(Reason.CAPACITY_EXHAUSTED, "no")

    outcomes = _one_batch(harness, [unit_a, unit_b])
    assert isinstance(outcomes[1], DomainError)
    assert runs == {"a": 1, "b": 1}


def test_a_failing_unit_does_not_sink_its_batch(harness: Harness) -> None:
    results: dict[str, object] = {}

    def boom(tx: Tx) -> None:
        raise RuntimeError("bug")

    def run_boom() -> None:
        try:
            harness.sequencer.submit(boom)
        except RuntimeError as exc:
            results["boom"] = exc

    thread = threading.Thread(target=run_boom)
    thread.start()
    results["ok"] = harness.put(5)
    thread.join()
    assert isinstance(results["boom"], RuntimeError)
    assert results["ok"] == (0,)


def test_commit_failure_fails_the_batch_and_keeps_the_log_consistent(harness: Harness) -> None:
    conn = connect(harness.path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS child (parent INTEGER REFERENCES things(n) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    conn.close()
    harness.put(1)

    def orphan(tx: Tx) -> None:  # passes every statement, fails at COMMIT (deferred FK)
        tx.conn.execute("INSERT INTO child VALUES (12345)")
        tx.emit(event(3))

    with pytest.raises(DomainError) as err:
        harness.sequencer.submit(orphan)
    assert err.value.reason is Reason.STORAGE_UNAVAILABLE
    assert harness.put(4) == (1,)  # the failed batch left no trace in the tree
    harness.sequencer.stop()
    assert harness.verify() == (True, 2)


def test_checkpoint_follows_batches(harness: Harness) -> None:
    harness.put(1)
    harness.sequencer.stop()  # stop writes a final checkpoint
    conn = connect(harness.path)
    latest = harness.log.latest_checkpoint(conn)
    conn.close()
    assert latest is not None
    assert latest.size == 1


class _WatchedQueue:
    """The writer's queue, recording every blocking ``get`` made while a batch is open."""

    def __init__(self, sequencer: Sequencer) -> None:
        self._queue: queue.SimpleQueue[Any] = sequencer._queue
        self._sequencer = sequencer
        self.blocking_gets_while_holding = 0

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        if block and self._sequencer._batch_taken_at is not None:
            self.blocking_gets_while_holding += 1
        return self._queue.get(block, timeout)

    def get_nowait(self) -> object:
        return self._queue.get_nowait()

    def put(self, item: object) -> None:
        self._queue.put(item)

    def empty(self) -> bool:
        return self._queue.empty()


def test_batch_collection_never_blocks_on_the_queue_while_holding_units(tmp_path: Path) -> None:
    # Issue 14: SimpleQueue.get(timeout) can wait for the next put instead of its timeout, and
    # the callers of a held batch never put again. max_wait > 0 lingers with a sleep instead.
    h = Harness(tmp_path / "log.db", max_wait=timedelta(milliseconds=300))
    watched = _WatchedQueue(h.sequencer)
    h.sequencer._queue = watched  # type: ignore[assignment]
    try:
        first = threading.Thread(target=h.put, args=(1,))
        first.start()
        time.sleep(0.01)
        late = threading.Thread(target=h.put, args=(2,))  # joins the lingering batch
        late.start()
        first.join(10)
        late.join(10)
        assert h.sequencer.batches == 1  # the late joiner shared the first batch
        for n in range(3, 6):
            h.put(n)
    finally:
        h.sequencer.stop()
    assert watched.blocking_gets_while_holding == 0
    assert h.verify() == (True, 5)


def test_a_full_batch_does_not_wait_out_max_wait(tmp_path: Path) -> None:
    h = Harness(tmp_path / "log.db", max_batch=2, max_wait=timedelta(seconds=30))
    try:
        started = time.monotonic()
        threads = [threading.Thread(target=h.put, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        assert time.monotonic() - started < 10
    finally:
        h.sequencer.stop()


LINE_TIMEOUT = 60.0
"""How long the crash test waits for one acknowledgement of its child (start-up included)."""

CHILD = """
import sys, time
sys.path[:0] = [{repo!r}, {proto!r}]
from datetime import timedelta
from tests.unit.audit.test_audit_sequencer import Harness
h = Harness(__import__('pathlib').Path({db!r}), skey={skey!r}, max_wait=timedelta(milliseconds=1))
n = int(sys.argv[1])
while True:
    got = h.put(n)
    print(n, got[0], flush=True)  # acknowledged only after the durable commit
    n += 1
"""


@pytest.mark.slow
def test_kill_during_appends_loses_no_acknowledged_event(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    script = tmp_path / "child.py"
    skey, vkey = generate_vkey_pair("test.example/log")
    script.write_text(
        CHILD.format(repo=str(REPO), proto=str(REPO / "proto"), db=str(db), skey=skey)
    )
    acknowledged: dict[int, int] = {}
    next_n = 0
    for round_ in range(5):
        with Child([sys.executable, str(script), str(next_n)]) as child:
            deadline = None  # counted from the first acknowledgement: start-up time varies
            while deadline is None or time.monotonic() < deadline:
                # A stalled writer fails here within LINE_TIMEOUT, with the child's stacks.
                line = child.readline(timeout=LINE_TIMEOUT)
                if line is None:
                    break
                n, index = map(int, line.split())
                acknowledged[n] = index
                deadline = deadline or time.monotonic() + 0.3 + 0.2 * round_
        next_n = max(acknowledged, default=-1) + 1 + 100_000 * (round_ + 1)
    assert len(acknowledged) > 50
    conn = sqlite3.connect(db)
    stored = dict(conn.execute("SELECT n, rowid FROM things").fetchall())
    leaves = dict(conn.execute("SELECT idx, data FROM audit_leaves").fetchall())
    conn.close()
    for n, index in acknowledged.items():
        assert n in stored, f"acknowledged change {n} lost"
        assert f'"r{n}"'.encode() in leaves[index], f"acknowledged event {n} lost"
    conn = connect(db)
    report = verify_log(conn, [Verifier.from_vkey(vkey)])
    conn.close()
    assert report.ok, report
