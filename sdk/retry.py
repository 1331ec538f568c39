"""Which failed calls the SDK retries, and how long it waits: a policy made of plain callables.

As in google-api-core's ``retry`` module, the policy is a predicate (``(error, idempotency) ->
bool``: may this failure be retried?) and a backoff generator (the delays to sleep between
attempts). ``RetryPolicy`` bundles them with the limits; the sync clients (``call_with_retry``)
and the async clients (``call_with_retry_async``) share it, so both retry exactly alike.

The rules (AIP-194, "Automatic retry configuration"):

- Only idempotent calls are retried: reads (``Get*`` / ``List*``) and writes that carry a
  ``request_id`` (AIP-155: the gateway answers a resend with the stored response and applies
  nothing twice). ``RedeemAttestation``, pause, resume, revoke and reject carry no request id and
  are never retried: a lost answer is not proof that nothing happened.
- Only transient failures: ``UNAVAILABLE``; ``RESOURCE_EXHAUSTED`` when the gateway says it is
  temporary (reason ``OVERLOADED`` or ``RATE_LIMITED``, or a ``google.rpc.RetryInfo`` detail);
  ``DEADLINE_EXCEEDED`` for reads only (a write that ran out of time may still be running).
- Between attempts: full-jitter exponential backoff (each delay uniform in ``[0, ceiling)``, the
  ceiling growing by ``multiplier`` up to ``max_backoff``), or exactly the delay the server asked
  for in ``RetryInfo``; no attempt starts once ``total_timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

import grpc

from attestgate.protocol.reasons import Reason
from attestgate.sdk._internal.status import status_details
from attestgate.sdk.errors import AttestgateError

__all__ = [
    "DEFAULT_RETRY",
    "NO_RETRY",
    "Idempotency",
    "RetryPolicy",
    "call_with_retry",
    "call_with_retry_async",
    "classify",
    "exponential_backoff",
    "is_retryable",
    "retry_delay_hint",
]

T = TypeVar("T")

_TEMPORARY_EXHAUSTION = frozenset({Reason.OVERLOADED, Reason.RATE_LIMITED})


class Idempotency(Enum):
    """How safe it is to send a call again."""

    READ = "read"
    """Reads nothing but state: always safe to resend."""
    IDEMPOTENT_WRITE = "idempotent_write"
    """A write carrying a ``request_id``: a resend is answered, not applied again (AIP-155)."""
    UNSAFE = "unsafe"
    """A write without a request id: never resent."""


def classify(request: Any) -> Idempotency:
    """The idempotency of the call a request message belongs to, from its message type.

    ``GetFooRequest`` / ``ListFooRequest`` are reads (AIP-131, AIP-132); any other request with a
    non-empty ``request_id`` field is an idempotent write; everything else is unsafe.
    """
    descriptor = request.DESCRIPTOR
    if descriptor.name.startswith(("Get", "List")):
        return Idempotency.READ
    if "request_id" in descriptor.fields_by_name and request.request_id:
        return Idempotency.IDEMPOTENT_WRITE
    return Idempotency.UNSAFE


def retry_delay_hint(error: BaseException) -> float | None:
    """Seconds the server asked the caller to wait (``google.rpc.RetryInfo``), or ``None``.

    Looks at ``error`` itself when it is a ``grpc.RpcError``, else at the gRPC error it translates
    (``AttestgateError.rpc_error``, or its ``__cause__``).
    """
    cause = error if isinstance(error, grpc.RpcError) else getattr(error, "rpc_error", None)
    cause = cause or error.__cause__
    if not isinstance(cause, grpc.RpcError):
        return None
    delays = status_details(cause).retry_delays
    return max(0.0, delays[0]) if delays else None


def is_retryable(error: BaseException, idempotency: Idempotency) -> bool:
    """The default predicate: a transient failure of an idempotent call (see the module doc)."""
    if idempotency is Idempotency.UNSAFE or not isinstance(error, AttestgateError):
        return False
    if error.code == "UNAVAILABLE":
        return True
    if error.code == "RESOURCE_EXHAUSTED":
        # Without the gateway's word it may be a message over the size limit: retrying won't help.
        return error.reason in _TEMPORARY_EXHAUSTION or retry_delay_hint(error) is not None
    return error.code == "DEADLINE_EXCEEDED" and idempotency is Idempotency.READ


def exponential_backoff(
    initial: float = 0.1,
    maximum: float = 5.0,
    multiplier: float = 2.0,
    *,
    jitter: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless full-jitter delays: the n-th is ``jitter() * min(maximum, initial * multiplier**n)``.

    Full jitter spreads clients that failed together over the whole window, so they do not come
    back together ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015). ``jitter``
    returns a float in ``[0, 1)``; pass ``lambda: 1.0`` for the plain ceilings.
    """
    ceiling = initial
    while True:
        yield jitter() * ceiling
        ceiling = min(maximum, ceiling * multiplier)


@dataclass(frozen=True)
class RetryPolicy:
    """Limits and callables of the retry loop; ``NO_RETRY`` turns retries off.

    ``max_attempts`` counts the first call; ``total_timeout`` (seconds) is the time after which no
    new attempt starts (each attempt still has the client's own deadline); ``retryable`` is the
    predicate; ``jitter`` feeds ``exponential_backoff`` (inject it for deterministic tests).
    """

    max_attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    total_timeout: float = 30.0
    retryable: Callable[[BaseException, Idempotency], bool] = field(default=is_retryable)
    jitter: Callable[[], float] = field(default=random.random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.initial_backoff, self.max_backoff, self.total_timeout) < 0:
            raise ValueError("backoff and timeout values must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def backoff(self) -> Iterator[float]:
        """A fresh delay generator for one call."""
        return exponential_backoff(
            self.initial_backoff, self.max_backoff, self.multiplier, jitter=self.jitter
        )

    def next_delay(
        self,
        error: BaseException,
        idempotency: Idempotency,
        *,
        attempt: int,
        elapsed: float,
        delays: Iterator[float],
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up and raise."""
        if attempt >= self.max_attempts or not self.retryable(error, idempotency):
            return None
        delay = next(delays)
        hint = retry_delay_hint(error)
        if hint is not None:
            delay = hint  # the server knows when it will have room again (AIP-194)
        if elapsed + delay > self.total_timeout:
            return None
        return delay


DEFAULT_RETRY = RetryPolicy()
"""Four attempts, 0.1 s initial backoff doubling up to 5 s, 30 s in total."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""Every call is made exactly once."""


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    idempotency: Idempotency,
    sleep: Callable[[float], object] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``call`` until it succeeds or ``policy`` gives up; the last error is raised as is."""
    started = monotonic()
    delays = policy.backoff()
    attempt = 1
    while True:
        try:
            return call()
        except AttestgateError as exc:
            delay = policy.next_delay(
                exc, idempotency, attempt=attempt, elapsed=monotonic() - started, delays=delays
            )
            if delay is None:
                raise
        sleep(delay)
        attempt += 1


async def call_with_retry_async(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotency: Idempotency,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """``call_with_retry`` for coroutines: the same policy, waiting with ``asyncio.sleep``."""
    started = monotonic()
    delays = policy.backoff()
    attempt = 1
    while True:
        try:
            return await call()
        except AttestgateError as exc:
            delay = policy.next_delay(
                exc, idempotency, attempt=attempt, elapsed=monotonic() - started, delays=delays
            )
            if delay is None:
                raise
        await sleep(delay)
        attempt += 1
