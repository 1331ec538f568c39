"""Child processes whose output a test reads: never without a deadline.

``Child`` starts a Python child with ``PYTHONFAULTHANDLER=1`` and pumps its stdout and stderr on
reader threads (a buffered text pipe and ``select()`` do not mix), so ``readline(timeout)`` waits
at most ``timeout`` seconds. When a line does not come in time, the child gets SIGABRT: its
faulthandler writes every thread's stack to stderr before it dies, and the test fails with those
stacks and everything the child printed, within a bounded time instead of hanging until CI's limit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import IO, NoReturn

EXIT_GRACE = 10.0
"""How long a killed or aborted child may take to exit and close its pipes."""


class Child:
    """A child process with deadline-bound reads of its output lines."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        child_env = dict(os.environ if env is None else env, PYTHONFAULTHANDLER="1")
        self.process = subprocess.Popen(
            list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str], is_stdout: bool) -> None:
        for line in stream:
            if is_stdout:
                self._stdout.append(line)
                self._lines.put(line)
            else:
                self._stderr.append(line)
        if is_stdout:
            self._lines.put(None)

    def readline(self, timeout: float) -> str | None:
        """The next stdout line (with its newline), None at end of output; if none comes within
        ``timeout`` seconds, fail with the child's stacks and output."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            self.fail(f"the child printed no line within {timeout:g} s")

    def fail(self, why: str) -> NoReturn:
        """Abort the child (faulthandler dumps every thread's stack) and fail with its output."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=EXIT_GRACE)  # the dump, then the abort
        self.kill()
        raise AssertionError(
            f"{why}\n--- child stderr (stacks at the time of the SIGABRT) ---\n"
            f"{''.join(self._stderr)}\n--- child stdout (last 20 lines) ---\n"
            f"{''.join(self._stdout[-20:])}"
        )

    def kill(self) -> None:
        """SIGKILL (if still running), reap, and collect the rest of its output."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=EXIT_GRACE)
        for reader in self._readers:
            reader.join(EXIT_GRACE)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
