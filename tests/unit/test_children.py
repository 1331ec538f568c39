"""A test reading a child's output never hangs: a silent child fails it with the child's stacks."""

from __future__ import annotations

import sys
import time

import pytest

from tests.children import Child

SILENT = """
import threading, time
print("ready", flush=True)
def stuck_in_a_helper_thread():
    threading.Event().wait()
threading.Thread(target=stuck_in_a_helper_thread, daemon=True).start()
time.sleep(600)
"""


def test_readline_returns_lines_then_none_at_end() -> None:
    with Child([sys.executable, "-c", "print('a'); print('b')"]) as child:
        assert child.readline(timeout=30) == "a\n"
        assert child.readline(timeout=30) == "b\n"
        assert child.readline(timeout=30) is None


def test_a_silent_child_fails_the_read_with_every_thread_stack() -> None:
    started = time.monotonic()
    with Child([sys.executable, "-c", SILENT]) as child:
        assert child.readline(timeout=30) == "ready\n"
        with pytest.raises(AssertionError) as failed:
            child.readline(timeout=0.5)
    assert time.monotonic() - started < 25
    report = str(failed.value)
    assert "no line within 0.5 s" in report
    assert "stuck_in_a_helper_thread" in report  # the other thread's stack
    assert "<module>" in report  # the main thread's, in time.sleep
    assert "ready" in report  # its output
    assert child.process.returncode == -6  # SIGABRT: faulthandler dumped, then it aborted
