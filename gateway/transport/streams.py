"""Bounded streams: long-lived calls never starve unary calls (issue 14, worker-pool exhaustion).

The synchronous server runs every call on one of ``max_workers`` threads, and a stream keeps its
thread for as long as it is open (a watch waiting for events, a reflection stream waiting for the
client's next request, a health ``Watch``). So streams are admitted by a ``StreamLimiter``:

- at most ``max_streams`` at once (default: half of ``max_workers``); the configuration is refused
  if fewer than ``unary_reserve(max_workers)`` threads would remain for unary calls;
- at most ``max_streams_per_caller`` per caller: a token's principal (role and subject), or, for a
  stream without a token (reflection, health ``Watch``), the peer's address;
- at most ``max_anonymous_streams`` without a token, all peers together.

Past a limit the stream is refused at once: ``RESOURCE_EXHAUSTED`` with reason
``TOO_MANY_STREAMS`` and ``{"scope": "gateway" | "anonymous" | "caller", "limit": N}``.

Lifetimes (one reaper thread for all streams): a stream that only sends (the watches) ends with
status OK once it is ``stream_max_lifetime`` old (``bounded`` makes the servicer see its context as
no longer active, so it ends at its next poll); clients reopen it with their cursor. A stream that
waits for the client's messages (reflection) cannot be ended cleanly while its thread is blocked
reading; it is closed with ``UNAVAILABLE`` and a message after ``stream_idle_timeout`` without a
message either way, or at its maximum lifetime. A sending stream still open ``END_GRACE`` seconds
past its lifetime (stuck on a client that does not read, or a health ``Watch``) is closed alike.

A slot is given back when the stream's thread is free again, not when the client goes away, so
the count is the number of threads streams really hold. Saturation shows in the metrics
(``attestgate_streams_open`` / ``attestgate_streams_limit``, refusals by reason) and in one
warning per minute; it does not change readiness (see docs/scaling-out.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import grpc

from attestgate.gateway.ops.config import ConfigError, GatewayConfig
from attestgate.protocol.reasons import DomainError, Reason

_log = logging.getLogger("attestgate.streams")

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Monotonic = Callable[[], float]

END_GRACE = 2.0
"""Seconds a sending stream may run past its lifetime (to end at its next poll) before it is
closed; the watches poll every second."""

SATURATION_LOG_EVERY = 60.0
"""Seconds between two warnings that the gateway-wide stream limit refuses streams."""


def unary_reserve(max_workers: int) -> int:
    """Worker threads streams can never take: a quarter of the pool, at least one."""
    return max(1, max_workers // 4)


@dataclass(frozen=True)
class StreamLimits:
    """How many streams may be open, and for how long (seconds)."""

    total: int
    per_caller: int
    anonymous: int
    max_lifetime: float
    idle_timeout: float

    @classmethod
    def from_config(cls, config: GatewayConfig) -> StreamLimits:
        """The limits ``config`` asks for; ``ConfigError`` if streams could take every thread."""
        room = config.max_workers - unary_reserve(config.max_workers)
        total = config.max_streams or config.max_workers // 2
        if total > room:
            raise ConfigError(
                f"max_streams = {total} leaves fewer than {unary_reserve(config.max_workers)} of "
                f"max_workers = {config.max_workers} threads for unary calls; set max_streams "
                f"to at most {room} or raise max_workers"
            )
        lifetime = config.stream_max_lifetime.total_seconds()
        idle = config.stream_idle_timeout.total_seconds()
        if lifetime <= 0 or idle <= 0:
            raise ConfigError("stream_max_lifetime and stream_idle_timeout must be positive")
        return cls(
            total=total,
            per_caller=min(config.max_streams_per_caller, total),
            anonymous=min(config.max_anonymous_streams, total),
            max_lifetime=lifetime,
            idle_timeout=idle,
        )


def peer_host(peer: str) -> str:
    """``ipv4:10.0.0.1:5555`` -> ``ipv4:10.0.0.1``, ``ipv6:[::1]:5555`` -> ``ipv6:[::1]``."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() and host not in ("ipv4", "ipv6") else peer


class StreamLease:
    """One admitted stream: whose it is, when it started, when it was last active."""

    def __init__(self, key: str, *, anonymous: bool, reads_client: bool, context: Any, now: float):
        self.key = key
        self.anonymous = anonymous
        self.reads_client = reads_client
        self.context = context
        self.started = now
        self.last_active = now
        self.expired = False
        """Set by the reaper once the stream reached its maximum lifetime."""
        self.closed = False
        """Set once the reaper closed the call itself."""

    def touch(self, now: float) -> None:
        """A message went either way."""
        self.last_active = now


class StreamLimiter:
    """Counts open streams per caller and in total; its reaper thread enforces lifetimes."""

    def __init__(self, limits: StreamLimits, *, now: Monotonic = time.monotonic) -> None:
        self.limits = limits
        self._now = now
        self._lock = threading.Lock()
        self._open: set[StreamLease] = set()
        self._per_key: Counter[str] = Counter()
        self._anonymous = 0
        self._last_warning = -SATURATION_LOG_EVERY
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def in_use(self) -> int:
        """Streams open now (each holds a worker thread)."""
        with self._lock:
            return len(self._open)

    def acquire(
        self, key: str, *, anonymous: bool, reads_client: bool, context: Any
    ) -> StreamLease:
        """Admit a stream of caller ``key`` or raise ``TOO_MANY_STREAMS``."""
        with self._lock:
            refusal = self._refusal(key, anonymous)
            if refusal is None:
                lease = StreamLease(
                    key, anonymous=anonymous, reads_client=reads_client, context=context,
                    now=self._now(),
                )  # fmt: skip
                self._open.add(lease)
                self._per_key[key] += 1
                self._anonymous += anonymous
                return lease
        raise refusal

    def _refusal(self, key: str, anonymous: bool) -> DomainError | None:
        limits = self.limits
        if len(self._open) >= limits.total:
            self._warn_saturated()
            return _too_many(
                "gateway", limits.total,
                "the gateway has as many streams open as it allows; retry later",
            )  # fmt: skip
        if anonymous and self._anonymous >= limits.anonymous:
            return _too_many(
                "anonymous", limits.anonymous,
                "as many streams without a token are open as the gateway allows; retry later "
                "or call with a token",
            )  # fmt: skip
        if self._per_key[key] >= limits.per_caller:
            return _too_many(
                "caller", limits.per_caller,
                "this caller has as many streams open as the gateway allows; close one it no "
                "longer needs or retry later",
            )  # fmt: skip
        return None

    def _warn_saturated(self) -> None:
        now = self._now()
        if now - self._last_warning >= SATURATION_LOG_EVERY:
            self._last_warning = now
            _log.warning(
                "stream limit reached: %d streams open; new streams are refused "
                "(TOO_MANY_STREAMS) while unary calls keep their threads",
                len(self._open),
                extra={"streams_open": len(self._open), "max_streams": self.limits.total},
            )

    def release(self, lease: StreamLease) -> None:
        """Give ``lease``'s slot back (idempotent)."""
        with self._lock:
            if lease not in self._open:
                return
            self._open.discard(lease)
            self._per_key[lease.key] -= 1
            if not self._per_key[lease.key]:
                del self._per_key[lease.key]
            self._anonymous -= lease.anonymous

    def touch(self, lease: StreamLease) -> None:
        """A message of ``lease``'s stream went either way."""
        lease.touch(self._now())

    def sweep(self) -> None:
        """One pass of the reaper: mark streams past their lifetime, close what cannot end."""
        now = self._now()
        limits = self.limits
        with self._lock:
            leases = list(self._open)
        for lease in leases:
            age = now - lease.started
            lease.expired = lease.expired or age >= limits.max_lifetime
            if lease.closed:
                continue
            if lease.reads_client and now - lease.last_active >= limits.idle_timeout:
                _close(lease, f"stream idle for {limits.idle_timeout:g}s; open a new one")
            elif lease.expired and (lease.reads_client or age >= limits.max_lifetime + END_GRACE):
                _close(
                    lease, f"stream reached its maximum lifetime of {limits.max_lifetime:g}s; "
                    "open a new one",
                )  # fmt: skip

    def start(self) -> None:
        """Start the reaper thread."""
        tick = min(1.0, max(0.05, min(self.limits.idle_timeout, self.limits.max_lifetime) / 10))
        self._stop.clear()
        self._reaper = threading.Thread(
            target=self._reap, args=(tick,), name="attestgate-stream-reaper", daemon=True
        )
        self._reaper.start()

    def stop(self) -> None:
        """Stop the reaper thread."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None

    def _reap(self, tick: float) -> None:
        while not self._stop.wait(tick):
            try:
                self.sweep()
            except Exception:  # the reaper must outlive any one stream's trouble
                _log.exception("stream reaper pass failed")


def _too_many(scope: str, limit: int, message: str) -> DomainError:
    return DomainError(
        Reason.TOO_MANY_STREAMS,
        f"too many streams: {message} (limit {limit})",
        metadata={"scope": scope, "limit": str(limit)},
    )


def _close(lease: StreamLease, message: str) -> None:
    """End ``lease``'s call from the reaper thread with ``UNAVAILABLE`` and ``message``.

    A thread blocked reading the client's next message cannot return a status itself; the core
    call's cancel-with-status sends one (grpcio has no public API for it). Without that call the
    stream is cancelled plainly."""
    lease.closed = True
    call = getattr(getattr(lease.context, "_rpc_event", None), "call", None)
    try:
        call.cancel(grpc.StatusCode.UNAVAILABLE.value[0], message)  # type: ignore[union-attr]
    except Exception:
        lease.context.cancel()


class _LeaseContext:
    """The servicer's view of the context: no longer active once the lease has expired."""

    def __init__(self, context: grpc.ServicerContext, lease: StreamLease) -> None:
        self._context = context
        self._lease = lease

    def is_active(self) -> bool:
        return not self._lease.expired and bool(self._context.is_active())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def bounded(
    limiter: StreamLimiter,
    lease: StreamLease,
    inner: Behavior,
    request: Any,
    context: grpc.ServicerContext,
) -> Iterator[Any]:
    """``inner``'s responses to ``request`` within ``lease``'s lifetime; every message either way
    counts as activity, and the stream ends cleanly once the lease expired."""
    if lease.reads_client:
        request = _touching(limiter, lease, request)
    # _LeaseContext overrides is_active and delegates every other ServicerContext method.
    view = cast(grpc.ServicerContext, _LeaseContext(context, lease))
    for response in inner(request, view):
        limiter.touch(lease)
        yield response
        if lease.expired:
            return


def _touching(limiter: StreamLimiter, lease: StreamLease, requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        limiter.touch(lease)
        yield request
