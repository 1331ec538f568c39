"""Readiness follows storage health: gRPC health says NOT_SERVING while the database is gone.

A ``ReadinessWatch`` probes the storage every ``interval`` on a background thread and reports each
*change* (ready -> not ready and back) to its listeners: the gateway's health service (so load
balancers and ``grpc_health_probe`` drain a replica whose database is unreachable) and the
metrics gauge. A probe that does not answer within ``timeout`` counts as a failure: a PostgreSQL
pool waiting for a server that does not come back must not keep the gateway "ready" meanwhile.

The SQLite probe opens the file afresh (``mode=rw``: never creates it) besides asking the open
connection, because an open SQLite connection keeps answering on a file that was moved or deleted
from under it, while every new connection and the next restart would fail.

A ``ReadinessGate`` combines the storage watch with other conditions (the audit writer's,
``gateway.ops.writer_watch``): ready only while every one of them is.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from attestgate.gateway.persistence.storage import SqliteStorage, Storage

_log = logging.getLogger("attestgate.readiness")

Probe = Callable[[], bool]
Listener = Callable[[bool], None]


def sqlite_file_answers(path: Path) -> bool:
    """Whether the SQLite file at ``path`` exists, opens read-write and answers a query."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=1)
    except sqlite3.Error:
        return False
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return True


def storage_probe(storage: Storage) -> Probe:
    """The probe for ``storage``: ``healthy()``, and for SQLite the file itself."""
    if isinstance(storage, SqliteStorage):
        path = storage.path
        return lambda: storage.healthy() and sqlite_file_answers(path)
    return storage.healthy


class ReadinessWatch:
    """Probes on a daemon thread; listeners hear every change of readiness (and the first)."""

    def __init__(
        self,
        probe: Probe,
        listeners: Sequence[Listener],
        *,
        interval: float,
        timeout: float | None = None,
    ) -> None:
        self._probe = probe
        self._listeners = tuple(listeners)
        self._interval = interval
        self._timeout = timeout if timeout is not None else max(interval, 1.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness-probe")
        self._pending: Future[bool] | None = None
        self.ready: bool | None = None
        """The last state reported (``None`` before the first probe)."""

    def start(self) -> None:
        """Probe once now, then every ``interval`` seconds."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="readiness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (a probe still running is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + self._interval + 1)
            self._thread = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    def check(self) -> bool:
        """Probe now and report a change; returns the current readiness."""
        ready = self._probe_once()
        if ready != self.ready:
            self.ready = ready
            if ready:
                _log.info("storage answers: ready")
            else:
                _log.warning("storage does not answer: not ready (health NOT_SERVING)")
            for listener in self._listeners:
                listener(ready)
        return ready

    def _probe_once(self) -> bool:
        if self._pending is None or self._pending.done():
            self._pending = self._executor.submit(self._safe_probe)
        try:
            return self._pending.result(timeout=self._timeout)
        except FutureTimeout:
            return False  # still waiting on the database: not ready; the probe runs on

    def _safe_probe(self) -> bool:
        try:
            return bool(self._probe())
        except Exception:  # a probe that breaks says "not ready", it never kills the watch
            _log.exception("storage probe failed")
            return False

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()


class ReadinessGate:
    """Ready while every named condition is (storage answers, the audit writer moves, ...).

    Each source reports through its own ``condition(name)`` listener; the gate's listeners (health,
    the ``attestgate_ready`` gauge) hear every change of the whole, so a storage probe that
    recovers does not make a gateway whose writer is stalled SERVING again, nor the other way round.
    A condition that has not reported yet does not count.
    """

    def __init__(self, listeners: Sequence[Listener]) -> None:
        self._listeners = tuple(listeners)
        self._conditions: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.ready: bool | None = None
        """The last state reported (``None`` before the first report)."""

    def condition(self, name: str) -> Listener:
        """The listener through which the condition ``name`` reports."""
        return lambda ok: self._report(name, ok)

    def _report(self, name: str, ok: bool) -> None:
        with self._lock:  # listeners in order of the changes, one change at a time
            self._conditions[name] = ok
            ready = all(self._conditions.values())
            if ready == self.ready:
                return
            self.ready = ready
            for listener in self._listeners:
                listener(ready)
