"""Plumbing shared by the SDK clients: the channel, a default deadline per call, paging, closing.

Internal (no stability guarantee). A client builds its channel with ``open_channel`` (TLS by
default, bearer token, errors mapped to ``sdk.errors``) and closes it on ``close()`` or when its
``with`` block ends; or it is given one (``channel=``, e.g. to an in-process gateway in a bank's
tests), which it wraps with the same token and error interceptor (``grpc.intercept_channel``)
and leaves open: whoever made a channel closes it. Unary calls get a deadline (``timeout``,
seconds) so a hung gateway surfaces as ``sdk.errors.DeadlineExceeded`` instead of blocking
forever; streams run without one unless the caller asks. Idempotent unary calls are retried on
transient failures (``sdk.retry``). Channels get keepalive and message-size defaults
(``channel_options``); the caller's win.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from attestgate.sdk._internal import hints, inputs
from attestgate.sdk._internal.channel import SdkClientInterceptor, TokenSource, open_channel
from attestgate.sdk.errors import AttestgateError
from attestgate.sdk.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry, classify
from attestgate.sdk.tls import TlsConfig

T = TypeVar("T")
M = TypeVar("M")
Q = TypeVar("Q")

DEFAULT_TIMEOUT = 10.0
"""Seconds a unary call may take before it fails with ``DeadlineExceeded``."""

PAGE_SIZE = 200
"""Items asked for per page when a client follows ``next_page_token`` (AIP-158)."""

MAX_PAGES = 100_000
"""Safety stop for a server that keeps returning a next page token."""

DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    # Keepalive pings only while calls are open (long watch streams through NAT and load
    # balancers); 5 minutes is the most often a gateway with gRPC's default server policy
    # accepts before it answers with GOAWAY "too_many_pings" (gRFC A8).
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    # The gateway refuses requests over its max_message_bytes (1 MiB by default) itself.
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
)
"""Channel options every client starts from; ``options=`` entries with the same key replace them."""

RECONNECT_PAUSE = 1.0
"""Seconds a watch waits before reopening a stream the gateway ended sooner than this after it
opened (a watch ends cleanly at the gateway's ``stream_max_lifetime``), so it never spins."""


def channel_options(options: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """``DEFAULT_CHANNEL_OPTIONS`` with the caller's ``options`` applied over them."""
    given = {key for key, _ in options}
    return [item for item in DEFAULT_CHANNEL_OPTIONS if item[0] not in given] + list(options)


def check_connection(
    target: str | None,
    *,
    given_channel: bool,
    tls: TlsConfig | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]],
) -> str:
    """The client's ``target`` label after checking that exactly one way to connect was chosen:
    a ``target`` the client opens a channel to (with ``tls``/``insecure``/``options``), or a
    ``channel`` made by the caller (already configured: those three are refused with it; a
    ``target`` given with it is only the name ``.target`` and ``repr`` show)."""
    if not given_channel:
        if not target:
            raise ValueError("give the gateway's host:port as target, or an open channel=")
        if "://" in target:
            raise inputs.refuse("target", f"{target!r} is a URL", hints.TARGET_HINT)
        return target
    if tls is not None or insecure or options:
        raise ValueError(
            "tls, insecure and options configure a channel the client opens; "
            "configure a given channel= where you create it"
        )
    return target or ""


class ClientBase:
    """A channel with defaults; subclasses add stubs and typed methods."""

    def __init__(
        self,
        target: str | None,
        *,
        token: TokenSource | None,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
        retry: RetryPolicy | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._target = check_connection(
            target, given_channel=channel is not None, tls=tls, insecure=insecure, options=options
        )
        self._timeout = timeout
        self._retry = retry or DEFAULT_RETRY
        self._owns_channel = channel is None
        if channel is None:
            self._channel = open_channel(
                self._target,
                tls=tls,
                insecure=insecure,
                token=token,
                options=channel_options(options),
            )
        else:
            self._channel = grpc.intercept_channel(channel, SdkClientInterceptor(token))
        self._closed = False
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        """The ``host:port`` this client talks to (for a given ``channel``: the ``target``
        passed with it, or ``""``)."""
        return self._target

    def _unary(self, method: grpc.UnaryUnaryMultiCallable[Q, M], request: Q) -> M:
        """Call a unary method with the client's deadline per attempt, retrying what is safe.

        An ``AttestgateError`` leaves here without the frames of gRPC's interceptor chain (they
        say nothing to the caller): its traceback ends at the client method called."""
        try:
            return call_with_retry(
                lambda: method(request, timeout=self._timeout),
                policy=self._retry,
                idempotency=classify(request),
            )
        except AttestgateError as exc:
            raise exc.with_traceback(None) from None

    def _stream(
        self, method: grpc.UnaryStreamMultiCallable[Q, M], request: Q, timeout: float | None
    ) -> Iterator[M]:
        """Iterate a server stream; leaving the loop (or closing the generator) cancels the call."""
        call = method(request, timeout=timeout)
        try:
            yield from call
        finally:
            cancel = getattr(call, "cancel", None)
            if callable(cancel):
                cancel()

    def _watch(
        self,
        method: grpc.UnaryStreamMultiCallable[Q, M],
        next_request: Callable[[], Q],
        timeout: float | None,
    ) -> Iterator[M]:
        """Iterate a watch stream for ``timeout`` seconds in all (``None``: forever), reopening it
        with ``next_request()`` (built from what the caller has seen, e.g. its last cursor) each
        time the gateway ends it cleanly (docs/protocol.md, "Stream lifetimes")."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            opened = time.monotonic()
            remaining = None if deadline is None else max(0.0, deadline - opened)
            yield from self._stream(method, next_request(), remaining)
            pause = RECONNECT_PAUSE - (time.monotonic() - opened)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)

    def close(self) -> None:
        """Close the channel the client opened (calls in flight are cancelled); a channel given
        with ``channel=`` stays open for its owner to close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target!r})"


def follow_pages(fetch: Callable[[str], tuple[Sequence[T], str]]) -> list[T]:
    """Collect every item of a paged List call: ``fetch(page_token) -> (items, next_token)``."""
    items: list[T] = []
    token = ""
    for _ in range(MAX_PAGES):
        page, token = fetch(token)
        items.extend(page)
        if not token:
            return items
    raise RuntimeError("the server kept returning page tokens")
