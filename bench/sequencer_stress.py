"""Stress harness for the group-commit writer (issue 14, section 3): hunts stalls under CPU load.

``python -m bench.sequencer_stress [--minutes M] [--load N] [--watchdog S] [--max-wait-us U]``
runs, in a loop until M minutes passed, the sequencer's 8-thread test and its crash test
(``tests/unit/audit/test_audit_sequencer.py``: a child appends until SIGKILLed, five rounds) while
N busy-looping processes compete for the CPU. Each iteration arms
``faulthandler.dump_traceback_later(S, exit=True)`` (default 300 s): if an iteration stalls,
every thread's stack is written to stderr and the harness exits with status 1. A stalled
crash-test child fails the test first, after its ``LINE_TIMEOUT`` of 60 s, with the child's
stacks (``tests/children.py``): keep S above that.
``--max-wait-us`` runs the 8-thread test with that ``max_wait`` instead of the test's 2 ms:
tiny values make the stall of the old batch collection frequent.

``python -m bench.sequencer_stress --probe [--timeout T] [--tries K]`` isolates the cause: it
calls ``queue.SimpleQueue.get(timeout=T)`` on an empty queue K times, each time right after a
``put``/``get`` pair (which leaves the queue's internal lock released, exactly as the writer leaves
it after taking the first unit of a batch), under the same CPU load; a watchdog thread counts every
call still blocked 0.5 s after its deadline and rescues it with a ``put``. On CPython 3.11 such
calls exist: if the thread is descheduled for longer than T between computing the
deadline and re-checking it, the C code turns the negative remaining time into "wait forever"
(see the module docstring of ``audit.sequencer``).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from tests.unit.audit.test_audit_sequencer import (
    Harness,
    test_eight_threads_thousand_appends_one_consistent_tree,
    test_kill_during_appends_loses_no_acknowledged_event,
)

RESCUE_AFTER = 0.5
"""The probe counts a ``get`` as stuck when it is still blocked this long after its deadline."""


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` busy-looping children for the duration of the block."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for child in busy:
            child.kill()
            child.wait(timeout=10)


def probe(timeout: float, tries: int) -> int:
    """How many of ``tries`` ``SimpleQueue.get(timeout=timeout)`` calls blocked past their deadline
    until a ``put`` rescued them."""
    q: queue.SimpleQueue[int] = queue.SimpleQueue()
    blocked_since: list[float | None] = [None]
    stuck = [0]
    done = threading.Event()

    def rescuer() -> None:
        while not done.wait(0.05):
            since = blocked_since[0]
            if since is not None and time.monotonic() - since > timeout + RESCUE_AFTER:
                stuck[0] += 1
                blocked_since[0] = None
                q.put(-1)

    threading.Thread(target=rescuer, daemon=True).start()
    for i in range(tries):
        q.put(i)
        q.get()  # leaves the internal lock released, as after the writer took a batch's first
        blocked_since[0] = time.monotonic()
        with contextlib.suppress(queue.Empty):
            q.get(timeout=timeout)
        blocked_since[0] = None
    done.set()
    return stuck[0]


def stress(minutes: float, watchdog: float, max_wait: timedelta | None) -> int:
    """Run both tests in a loop for ``minutes``; returns the number of iterations."""
    stop_at = time.monotonic() + 60 * minutes
    iterations = 0
    while time.monotonic() < stop_at:
        started = time.monotonic()
        faulthandler.dump_traceback_later(watchdog, exit=True)
        with tempfile.TemporaryDirectory() as tmp:
            settings = {"max_wait": max_wait or timedelta(milliseconds=2)}
            harness = Harness(Path(tmp) / "log.db", **settings)  # type: ignore[arg-type]
            try:
                test_eight_threads_thousand_appends_one_consistent_tree(harness)
            finally:
                harness.sequencer.stop()
            eight = time.monotonic() - started
            test_kill_during_appends_loses_no_acknowledged_event(Path(tmp))
        faulthandler.cancel_dump_traceback_later()
        iterations += 1
        total = time.monotonic() - started
        print(f"iteration {iterations}: 8 threads {eight:.1f} s, total {total:.1f} s", flush=True)
    return iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sequencer_stress")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=int, default=4, help="busy-looping processes")
    parser.add_argument("--watchdog", type=float, default=300.0, help="seconds per iteration")
    parser.add_argument("--max-wait-us", type=int, default=None)
    parser.add_argument("--probe", action="store_true", help="probe SimpleQueue.get instead")
    parser.add_argument("--timeout", type=float, default=1e-3, help="probe: get's timeout")
    parser.add_argument("--tries", type=int, default=100_000, help="probe: number of gets")
    args = parser.parse_args(argv)
    with cpu_load(args.load):
        if args.probe:
            stuck = probe(args.timeout, args.tries)
            print(f"SimpleQueue.get(timeout={args.timeout:g}): {stuck} of {args.tries} stuck")
            return 0
        max_wait = None if args.max_wait_us is None else timedelta(microseconds=args.max_wait_us)
        iterations = stress(args.minutes, args.watchdog, max_wait)
    print(f"{iterations} iterations, no stall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
