"""Injected time: every time-dependent decision takes a ``Clock`` (or an explicit ``now``).

Nothing in the gateway calls ``datetime.now()`` directly, so tests pin time with ``FixedClock``
instead of monkeypatching ``time`` (STYLE.md, pyca/cryptography's ``*_at_time`` twins).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of aware UTC datetimes."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A settable clock for tests; thread-safe because servers read it from worker threads."""

    def __init__(self, now: datetime) -> None:
        self._lock = threading.Lock()
        self._now = _require_aware(now)

    def now(self) -> datetime:
        """The time last set."""
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        """Jump to ``now`` (may go backwards, to test clock skew)."""
        with self._lock:
            self._now = _require_aware(now)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._now = self._now + delta
            return self._now


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("clock times must be timezone-aware")
    return value.astimezone(UTC)
