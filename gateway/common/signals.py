"""Wake-ups between threads: a writer says "something changed", waiting streams re-read storage.

The composition root makes two: consent changes (a use case stages one; ``WatchConsentEvents``
waits) and commits (the audit sequencer's hook after each commit; ``WatchCheckpoints`` waits, and
consent streams are woken too, since a staged change is readable once committed).
"""

from __future__ import annotations

import threading


class ChangeSignal:
    """A condition variable without a predicate: ``wait`` returns on the next ``notify`` or after
    ``timeout`` seconds, and the waiter re-reads whatever it watches."""

    def __init__(self) -> None:
        self._condition = threading.Condition()

    def notify(self) -> None:
        """Wake every waiting thread."""
        with self._condition:
            self._condition.notify_all()

    def wait(self, timeout: float) -> None:
        """Block until the next ``notify`` or ``timeout`` seconds."""
        with self._condition:
            self._condition.wait(timeout)
