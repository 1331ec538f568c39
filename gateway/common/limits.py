"""Overload protection: bounded concurrency and per-principal rate limits (issue 9).

Both answer at once with ``RESOURCE_EXHAUSTED`` instead of letting callers queue into timeouts:

- ``AdmissionExecutor``: the server's thread pool; at most ``limit`` calls are in flight (running
  or waiting for a thread), later ones are refused with reason ``OVERLOADED`` the moment a thread
  picks them up, before any work. Health checks are exempt (and run on a pool of their own, see
  ``gateway.transport.server``), so probes stay answered while the gateway sheds load.
- ``RateLimiter``: a token bucket per principal (token subject and role): ``rate`` calls per second
  on average, bursts of up to ``burst``. Reason ``RATE_LIMITED`` with a ``google.rpc.RetryInfo``
  detail saying when the next call will be admitted (https://google.aip.dev/194).

Time comes from an injected monotonic ``now`` (seconds), so tests drive the buckets exactly.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from attestgate.protocol.reasons import DomainError, Reason

T = TypeVar("T")
Monotonic = Callable[[], float]
"""Seconds from an arbitrary origin that never go backwards (``time.monotonic``)."""

MAX_BUCKETS = 100_000
"""Principals tracked at once; the least recently seen bucket is dropped first (a full one)."""


class RetryLaterError(DomainError):
    """A ``RESOURCE_EXHAUSTED`` refusal that tells the caller how long to back off."""

    def __init__(self, reason: Reason, message: str, *, retry_after: timedelta) -> None:
        millis = max(1, math.ceil(retry_after.total_seconds() * 1000))
        super().__init__(reason, message, metadata={"retry_after_ms": str(millis)})
        self.retry_after = timedelta(milliseconds=millis)


class AdmissionExecutor(ThreadPoolExecutor):
    """The server's worker pool, counting the calls it holds (running or waiting for a thread).

    gRPC submits one task per call; a task submitted while more than ``limit`` are in flight is
    marked over the limit, and the interceptor refuses it (``OVERLOADED``) as soon as it runs,
    before any work. So at most ``limit`` calls are ever admitted at once, the queue in front of
    the threads stays bounded, and a refusal takes microseconds of a worker's time. A task is
    counted until its future completes, even if gRPC drops the call before it runs (cancelled).
    """

    def __init__(self, max_workers: int, *, limit: int, thread_name_prefix: str = "") -> None:
        if limit <= 0:
            raise ValueError("the concurrency limit must be positive")
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._limit = limit
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._task = threading.local()  # gRPC runs tasks in their own contextvars.Context

    @property
    def limit(self) -> int:
        """Calls admitted at once."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Tasks submitted and not yet finished."""
        with self._count_lock:
            return self._in_flight

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn``, marking it over the limit if ``limit`` tasks are already in flight."""
        with self._count_lock:
            self._in_flight += 1
            over = self._in_flight > self._limit

        def run() -> T:
            self._task.over_limit = over
            try:
                return fn(*args, **kwargs)
            finally:
                self._task.over_limit = False

        try:
            future = super().submit(run)
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(lambda _: self._finished())
        return future

    def _finished(self) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def over_limit(self) -> bool:
        """Whether the task running on this thread arrived past the limit."""
        return bool(getattr(self._task, "over_limit", False))

    def admit(self) -> None:
        """Raise ``OVERLOADED`` (with a short back-off hint) if this task is over the limit."""
        if self.over_limit():
            raise overloaded_error()


def overloaded_error() -> RetryLaterError:
    """The refusal of a call past the concurrency limit, with a short back-off hint."""
    return RetryLaterError(
        Reason.OVERLOADED,
        "the gateway is at its concurrency limit; retry shortly",
        retry_after=timedelta(milliseconds=100),
    )


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets per principal key; ``rate`` tokens per second up to ``burst`` tokens."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        now: Monotonic = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive (0 disables rate limiting)")
        self._rate = float(rate)
        self._burst = float(burst)
        self._now = now
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def wait_time(self, subject: str, role: str) -> float:
        """Take one token for ``(subject, role)``: 0.0 if admitted, else seconds until one is."""
        key = (role, subject)
        with self._lock:
            now = self._now()
            bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.stamp = now
            self._buckets[key] = bucket  # most recently used last
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate

    def admit(self, subject: str, role: str) -> None:
        """Take a token or raise ``RATE_LIMITED`` with the time until the next one."""
        wait = self.wait_time(subject, role)
        if wait > 0:
            raise RetryLaterError(
                Reason.RATE_LIMITED,
                "too many calls from this principal; retry after the indicated delay",
                retry_after=timedelta(seconds=wait),
            )
