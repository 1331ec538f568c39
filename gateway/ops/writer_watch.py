"""The audit writer's watchdog: a stalled group-commit writer makes the gateway NOT_SERVING.

Every write of the gateway waits for the one writer thread of ``audit.sequencer``. If units of
work are waiting (queued, or in an open batch) and no batch has finished for
``audit_writer_stall_timeout``, every write call hangs while health would still say SERVING. The
watch polls ``Sequencer.progress()`` on a daemon thread; on a stall it logs an error with the
writer thread's stack (once per stall) and reports "not ready" to its listeners (the readiness
gate: health NOT_SERVING and ``attestgate_ready`` 0), and "ready" again once a batch finishes.
``stalled`` and ``seconds_since_batch`` are read by the metrics at each scrape.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence

from attestgate.audit.sequencer import WriterProgress

_log = logging.getLogger("attestgate.writer_watch")

Listener = Callable[[bool], None]


def thread_stack(thread_id: int | None) -> str:
    """The current stack of the thread ``thread_id`` (most recent call last)."""
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    if frame is None:
        return "(the writer thread is not running)"
    return "".join(traceback.format_stack(frame))


class WriterWatch:
    """Polls the writer's progress every ``interval`` (default: a quarter of ``stall_after``, at
    most a second); listeners hear each change (and the first state)."""

    def __init__(
        self,
        listeners: Sequence[Listener],
        *,
        stall_after: float,
        interval: float | None = None,
    ) -> None:
        self._listeners = tuple(listeners)
        self._stall_after = stall_after
        self._interval = interval if interval is not None else min(stall_after / 4, 1.0)
        self._progress: Callable[[], WriterProgress] | None = None
        self._pending_since: float | None = None
        self._last_batch_at = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled = False
        """Whether the last check found the writer stalled."""
        self._reported = False

    def follow(self, progress: Callable[[], WriterProgress]) -> None:
        """Watch this writer (``Sequencer.progress``); called once the sequencer exists."""
        self._progress = progress

    def start(self) -> None:
        """Check every ``interval`` on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="writer-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 1)
            self._thread = None

    def seconds_since_batch(self) -> float:
        """Seconds since the writer last finished a batch."""
        return time.monotonic() - self._last_batch_at

    def check(self) -> bool:
        """Look at the writer now and report a change; returns whether it is moving."""
        if self._progress is None:
            return True
        progress = self._progress()
        now = time.monotonic()
        self._last_batch_at = progress.last_batch_at
        if not progress.pending:
            self._pending_since = None
        elif self._pending_since is None:
            self._pending_since = now
        waiting = 0.0
        if self._pending_since is not None:
            waiting = now - max(progress.last_batch_at, self._pending_since)
        stalled = waiting >= self._stall_after
        if stalled and not self.stalled:
            _log.error(
                "audit writer stalled: writes are waiting and no batch finished for %.0f s; "
                "health NOT_SERVING until it moves again. Writer thread's stack:\n%s",
                waiting,
                thread_stack(progress.thread_id),
            )
        elif self.stalled and not stalled:
            _log.warning("audit writer moves again: ready")
        if stalled != self.stalled or not self._reported:
            self.stalled = stalled
            self._reported = True
            for listener in self._listeners:
                listener(not stalled)
        return not stalled

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # a broken check must never end the watch
                _log.exception("audit writer check failed")
