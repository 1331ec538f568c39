"""Group commit: state changes and their audit events in one durable transaction.

Every write of the gateway is a *unit of work*: a function that reads and writes through the
transaction it is given and emits the audit events that describe what it did. The sequencer runs the
units of work of all callers on one writer thread, up to ``max_batch`` of them or ``max_wait``
apart, in ONE transaction:

    begin (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN + lock the coordination row FOR UPDATE)
      adopt what other writers committed to the log meanwhile (``LogWriter.refresh``)
      fn(tx) ...; fn(tx) ...                     (no savepoints: one statement per unit less)
        if a unit fails after it wrote: ROLLBACK, begin again, and run the batch once more with
        SAVEPOINT unit; fn(tx) ...               (a refused unit rolls back to its savepoint and
        SAVEPOINT unit; fn(tx) ...                emits its refusal events instead)
      append every emitted event to the Merkle log (sequencing and integration in one step)
      sign a checkpoint when one is due
    COMMIT                                       (durable on return)

A caller is answered only after that commit, so no acknowledged change or event can be lost, an
event never exists without its change (nor the other way round), leaf indices are dense, and single
use or capacity checks inside a unit of work are race-free because batches run one at a time: one
writer thread per process, and across processes (gateway replicas on one PostgreSQL) the ``begin``
step serializes the batch transactions (see ``gateway.persistence.postgres``).

Batch collection never blocks while it holds a dequeued unit. The writer blocks only to wait
for *new* work with empty hands (``SimpleQueue.get(timeout=checkpoint_interval)``: any submit
wakes it); the rest of a batch is drained with ``get_nowait``, and ``max_wait`` > 0 lingers with
``time.sleep`` and drains again. It used to wait for late joiners with
``SimpleQueue.get(timeout=remaining)`` while holding the batch, and that stalled the writer for
good (issue 14). In CPython 3.11 (our runtime) that C function first takes the queue's internal
lock without blocking; when the lock is free (it is after every get that found an item) but the
queue is empty, it recomputes the time left, and if the thread was descheduled past the deadline
in between, the negative remainder is passed on as "block forever" (``sem_wait``: a futex wait
without timeout) until the next ``put``. When the only callers are the ones in the held batch,
no ``put`` ever comes. ``python -m bench.sequencer_stress --probe`` shows it; later CPython
rewrote ``SimpleQueue.get`` and returns Empty on a negative remainder. A sleep cannot turn into
such a wait: it needs no other thread to wake it. Whatever else might stall the writer,
``Sequencer.progress`` lets a watchdog see it (``gateway.ops.writer_watch``).

The sequencer is storage-agnostic: it speaks ``audit.sql.Connection`` and is given ``begin``. It
reports each batch (units, events, commit time, outcome) to an optional ``on_batch`` callback, which
is how the gateway's metrics see it without this package knowing about any metrics library.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Generic, Protocol, TypeVar

from attestgate.audit.events import AuditEvent, canonical_json
from attestgate.audit.sql import Connection, begin_immediate
from attestgate.audit.store import StoredCheckpoint
from attestgate.protocol.reasons import DomainError, Reason

log = logging.getLogger(__name__)

T = TypeVar("T")

LINGER_STEP = 0.001
"""With ``max_wait`` > 0, how often (seconds) a lingering batch looks for late joiners."""


class Tx:
    """What a unit of work sees: the open transaction and an event collector.

    In the first run of a batch no unit gets a savepoint (a savepoint costs the writer thread a
    statement, and PostgreSQL a subtransaction, per unit). If a unit fails after it wrote, the
    sequencer rolls the batch back and runs it again with ``savepoints=True``: then each unit's
    savepoint is opened on first use of ``conn``, and a failing unit undoes only its own writes.
    """

    def __init__(self, conn: Connection, *, savepoints: bool = True) -> None:
        self._conn = conn
        self._savepoints = savepoints
        self.touched = False
        self.events: list[AuditEvent] = []

    @property
    def savepoint(self) -> bool:
        """Whether this unit opened a savepoint (it used ``conn`` in a batch that has them)."""
        return self.touched and self._savepoints

    @property
    def conn(self) -> Connection:
        """The batch's connection (inside this unit's savepoint when the batch uses them)."""
        if not self.touched:
            self.touched = True
            if self._savepoints:
                self._conn.execute("SAVEPOINT unit")
        return self._conn

    def emit(self, event: AuditEvent) -> None:
        """Record an audit event; it is appended to the log only if the unit of work succeeds."""
        self.events.append(event)


@dataclass(frozen=True)
class Committed(Generic[T]):
    """The durable outcome of a unit of work: its value and the log indices of its events."""

    value: T
    log_indices: tuple[int, ...]


RefusalEvents = Callable[[DomainError], Sequence[AuditEvent]]
Indexer = Callable[[Connection, int, Sequence[AuditEvent]], None]
"""Called inside the batch transaction with the first index and the events appended there."""


def _settle_all(
    batch: list[_Item], outcomes: list[tuple[Committed[object] | None, BaseException | None]]
) -> None:
    """Record every outcome, chain the callers, wake the first: each wakes its successor."""
    for item, (result, error) in zip(batch, outcomes, strict=True):
        item.settle(result, error)
    for item, successor in pairwise(batch):
        item.successor = successor
    if batch:
        batch[0].wake()


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Item:
    fn: Callable[[Tx], object]
    on_refusal: RefusalEvents | None
    # Held from creation until the item is resolved: the cheapest hand-off CPython has (a Future
    # costs a Condition and its bookkeeping per call, on the writer's critical path).
    done: threading.Lock = field(default_factory=_held_lock)
    # The next item of the same batch: its caller is woken by this one's caller, so waking a
    # batch costs the writer one lock release instead of one per caller.
    successor: _Item | None = None
    value: object = None
    error: BaseException | None = None
    events: list[AuditEvent] = field(default_factory=list)
    result: Committed[object] | None = None

    def settle(self, result: Committed[object] | None, error: BaseException | None) -> None:
        """Record the outcome (the caller is woken by ``wake`` or by its predecessor)."""
        self.result, self.error = result, error

    def wake(self) -> None:
        """Let the waiting caller return."""
        self.done.release()

    def wait(self) -> Committed[object]:
        """Block until resolved, wake the next caller of the batch, then return or re-raise."""
        self.done.acquire()
        if self.successor is not None:
            self.successor.wake()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class LogWriter(Protocol):
    """The part of the Merkle log the sequencer drives (see ``audit.tree.AuditLog``)."""

    def append(self, conn: Connection, leaves: Sequence[bytes]) -> tuple[int, int, bytes]:
        """Append leaves inside the caller's transaction: (first index, new size, new root)."""
        ...

    def refresh(self, conn: Connection) -> None:
        """At the start of a write transaction: adopt what other writers committed meanwhile."""
        ...

    def commit_pending(self) -> None:
        """The transaction holding the last appends committed: adopt the new state."""
        ...

    def rollback_pending(self) -> None:
        """The transaction holding the last appends rolled back: forget them."""
        ...

    def checkpoint_due(self) -> tuple[int, bytes] | None:
        """(size, root) when the committed tree is larger than the last checkpoint, else None."""
        ...

    def write_checkpoint(self, conn: Connection, now: datetime) -> StoredCheckpoint:
        """Sign and store a checkpoint of the current tree inside the caller's transaction."""
        ...


@dataclass(frozen=True)
class BatchReport:
    """One batch transaction, as ``on_batch`` observers see it."""

    units: int
    events: int
    seconds: float
    committed: bool
    checkpoint: int | None = None
    """The size of the checkpoint this batch signed and committed (None: it signed none)."""


@dataclass(frozen=True)
class WriterProgress:
    """A snapshot of the writer for a watchdog (``Sequencer.progress``)."""

    pending: bool
    """Units are queued or a batch is open."""
    last_batch_at: float
    """``time.monotonic()`` when the writer last finished a batch (or was created)."""
    thread_id: int | None
    """The writer thread's ident (``sys._current_frames`` key), None before ``start``."""


@dataclass(frozen=True)
class SequencerSettings:
    """Batching knobs: a batch takes what is queued when the writer is free, up to ``max_batch``
    units; ``max_wait`` > 0 additionally holds a batch open that long for late joiners.

    With the default ``max_wait`` of 0 batching is natural group commit: while one batch commits
    (fsync), the next callers queue up and go together in the next one. Waiting only adds latency
    when the writer is idle, and never raises throughput under load.
    """

    max_batch: int = 256
    max_wait: timedelta = timedelta(0)
    checkpoint_interval: timedelta = timedelta(seconds=1)


class Sequencer:
    """Runs units of work on one writer thread with group commit (see module docstring).

    ``connect`` opens the writer's connection; ``begin`` opens each batch transaction in a way that
    serializes it with every other writer of the database (default: SQLite ``BEGIN IMMEDIATE``).
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        log_writer: LogWriter,
        *,
        settings: SequencerSettings | None = None,
        now: Callable[[], datetime],
        on_commit: Callable[[int], None] | None = None,
        indexer: Indexer | None = None,
        begin: Callable[[Connection], None] = begin_immediate,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._connect = connect
        self._on_batch = on_batch
        self._begin = begin
        self._log = log_writer
        self._settings = settings or SequencerSettings()
        self._now = now
        self._on_commit = on_commit
        self._indexer = indexer
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_checkpoint = 0.0
        self._batch_taken_at: float | None = None  # monotonic; None while no batch is open
        self._last_batch_at = time.monotonic()
        self.batches = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish every queued unit of work, write a final checkpoint, stop the writer."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def submit(
        self, fn: Callable[[Tx], T], *, on_refusal: RefusalEvents | None = None
    ) -> Committed[T]:
        """Run ``fn`` in the next batch; return once its transaction is durable.

        A ``DomainError`` raised by ``fn`` undoes everything ``fn`` wrote, appends the events that
        ``on_refusal`` returns for it (so refused attempts are audited too), and is re-raised here.
        """
        if self._thread is None or self._stopping.is_set():
            raise DomainError(Reason.SHUTTING_DOWN, "the gateway is shutting down")
        item = _Item(fn=fn, on_refusal=on_refusal)
        self._queue.put(item)
        return item.wait()  # type: ignore[return-value]

    # -- writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                batch, stop = self._next_batch()
                if batch or self._checkpoint_is_due(force=stop):
                    conn = self._commit_batch(conn, batch)
                    self._last_batch_at = time.monotonic()
                self._batch_taken_at = None
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _next_batch(self) -> tuple[list[_Item], bool]:
        """The next batch (empty when the checkpoint interval passed idle) and whether to stop.

        The one blocking call waits for *new* work with empty hands; everything after the first
        unit is drained with ``get_nowait`` and the optional ``max_wait`` is a ``time.sleep``, so
        no dequeued unit ever waits on a wake-up that might not come (module docstring).
        """
        interval = self._settings.checkpoint_interval.total_seconds()
        try:
            first = self._queue.get(timeout=interval)
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        self._batch_taken_at = time.monotonic()
        batch = [first]
        more = self._drain(batch)
        linger = self._settings.max_wait.total_seconds()
        deadline = self._batch_taken_at + linger
        while more and len(batch) < self._settings.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # A sleep returns by itself, whether or not anyone submits: it never turns a missed
            # deadline into "wait for the next put" as SimpleQueue.get(timeout) can.
            time.sleep(min(left, LINGER_STEP))
            more = self._drain(batch)
        return batch, False

    def _drain(self, batch: list[_Item]) -> bool:
        """Move queued units into ``batch`` without blocking, up to ``max_batch``; False once
        the stop marker was seen (it is queued again for ``_run`` after this batch)."""
        while len(batch) < self._settings.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                self._queue.put(None)
                return False
            batch.append(item)
        return True

    def progress(self) -> WriterProgress:
        """What a watchdog needs: is work waiting, and when did the writer last finish a batch."""
        thread = self._thread
        return WriterProgress(
            pending=self._batch_taken_at is not None or not self._queue.empty(),
            last_batch_at=self._last_batch_at,
            thread_id=thread.ident if thread is not None else None,
        )

    def _checkpoint_is_due(self, *, force: bool = False) -> bool:
        if self._log.checkpoint_due() is None:
            return False
        elapsed = time.monotonic() - self._last_checkpoint
        return force or elapsed >= self._settings.checkpoint_interval.total_seconds()

    def _commit_batch(self, conn: Connection | None, batch: list[_Item]) -> Connection | None:
        """Run one batch; returns the connection for the next one (None once it broke)."""
        started = time.monotonic()
        try:
            # Opened lazily and again after a failure: a database restart costs the batches that
            # ran into it, not the writer thread.
            conn = conn if conn is not None else self._connect()
            self._begin(conn)
            self._log.refresh(conn)
            if not self._run_units(conn, batch, savepoints=False):
                # A unit failed after writing: its writes are mixed into the batch's. Start over,
                # this time with a savepoint per unit, so that it undoes only its own.
                conn.execute("ROLLBACK")
                self._begin(conn)
                self._log.refresh(conn)
                self._run_units(conn, batch, savepoints=True)
            first_index = self._append_events(conn, batch)
            checkpoint = self._checkpoint_is_due(force=self._stopping.is_set())
            written = self._log.write_checkpoint(conn, self._now()) if checkpoint else None
            conn.execute("COMMIT")
        except Exception as exc:  # storage failure: nothing of this batch happened
            self._report(batch, time.monotonic() - started, committed=False)
            return self._abort(conn, batch, exc)
        elapsed = time.monotonic() - started
        self._log.commit_pending()
        self.batches += 1
        if checkpoint:
            self._last_checkpoint = time.monotonic()
        self._resolve(batch, first_index)
        size = None if written is None else written.size
        self._report(batch, elapsed, committed=True, checkpoint=size)  # after callers answered
        return conn

    def _report(
        self, batch: list[_Item], seconds: float, *, committed: bool, checkpoint: int | None = None
    ) -> None:
        if self._on_batch is None:
            return
        events = sum(len(item.events) for item in batch) if committed else 0
        report = BatchReport(len(batch), events, seconds, committed, checkpoint)
        try:
            self._on_batch(report)
        except Exception:  # an observer must never sink the writer thread
            log.exception("on_batch observer failed")

    def _run_units(self, conn: Connection, batch: list[_Item], *, savepoints: bool) -> bool:
        """Run every unit; False (at once) if, without savepoints, one failed after writing."""
        return all(self._run_unit(conn, item, savepoints=savepoints) for item in batch)

    def _run_unit(self, conn: Connection, item: _Item, *, savepoints: bool) -> bool:
        tx = Tx(conn, savepoints=savepoints)
        item.value, item.error, item.events = None, None, []
        try:
            item.value = item.fn(tx)
        except DomainError as exc:
            if tx.touched and not savepoints:
                return False
            self._undo(conn, tx)
            item.error = exc
            item.events = list(item.on_refusal(exc)) if item.on_refusal else []
        except Exception as exc:  # a bug in a unit of work must not sink the batch
            if tx.touched and not savepoints:
                return False
            self._undo(conn, tx)
            item.error = exc
        else:
            item.events = tx.events
        # No RELEASE: the savepoint stays open until COMMIT. The next unit's "SAVEPOINT unit"
        # nests inside it and "ROLLBACK TO unit" goes back to the newest savepoint of that name
        # (SQLite and PostgreSQL alike), so a refusal still undoes only its own unit.
        return True

    @staticmethod
    def _undo(conn: Connection, tx: Tx) -> None:
        if tx.savepoint:
            conn.execute("ROLLBACK TO unit")

    def _append_events(self, conn: Connection, batch: list[_Item]) -> int:
        events = [event for item in batch for event in item.events]
        if not events:
            return -1
        first_index, _size, _root = self._log.append(conn, [canonical_json(e) for e in events])
        if self._indexer is not None:
            self._indexer(conn, first_index, events)
        return first_index

    def _abort(
        self, conn: Connection | None, batch: list[_Item], exc: Exception
    ) -> Connection | None:
        log.error("audit batch of %d units failed to commit: %s", len(batch), type(exc).__name__)
        usable = conn
        if conn is not None:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except Exception:  # the connection itself broke: drop it, reconnect next batch
                with contextlib.suppress(Exception):
                    conn.close()
                usable = None
        self._log.rollback_pending()
        error = DomainError(
            Reason.STORAGE_UNAVAILABLE, "storage is unavailable; nothing was changed"
        )
        _settle_all(batch, [(None, error)] * len(batch))
        return usable

    def _resolve(self, batch: list[_Item], first_index: int) -> None:
        index = first_index
        outcomes: list[tuple[Committed[object] | None, BaseException | None]] = []
        for item in batch:
            indices = tuple(range(index, index + len(item.events)))
            index += len(item.events)
            if item.error is not None:
                outcomes.append((None, item.error))
            else:
                outcomes.append((Committed(item.value, indices), None))
        _settle_all(batch, outcomes)
        if self._on_commit is not None:
            self._on_commit(index)
