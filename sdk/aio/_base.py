"""Plumbing shared by the async clients: a ``grpc.aio`` channel, the token, deadlines, retries.

Internal (no stability guarantee). The twin of ``sdk._internal.base`` for ``asyncio``: the same
TLS rules, default channel options, per-call deadline and retry policy (``sdk.retry``), and the
same one translation point for errors (``sdk.errors.from_rpc_error``), applied here to
``grpc.aio.AioRpcError``. Create async clients inside the running event loop that uses them:
a ``grpc.aio`` channel belongs to the loop it was made in. A client may be given an open
``grpc.aio.Channel`` (``channel=``, e.g. to an in-process gateway in a bank's tests): the token
and the error mapping are applied per call, so they hold for it too, and ``close()`` leaves it
open for whoever made it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import grpc.aio

from attestgate.sdk._internal import history
from attestgate.sdk._internal.base import (
    DEFAULT_TIMEOUT,
    MAX_PAGES,
    RECONNECT_PAUSE,
    channel_options,
    check_connection,
)
from attestgate.sdk._internal.channel import TokenSource, authorization
from attestgate.sdk.errors import AttestgateError, from_rpc_error
from attestgate.sdk.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry_async, classify
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import AssetEvent
from attestgate.v1 import record_pb2

T = TypeVar("T")
M = TypeVar("M")
Q = TypeVar("Q")

__all__ = ["DEFAULT_TIMEOUT", "AsyncClientBase", "TokenSource", "follow_pages_async"]


def open_aio_channel(
    target: str,
    *,
    tls: TlsConfig | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]],
) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel: TLS unless ``insecure``; ``tls=None`` trusts the system roots."""
    if insecure and tls is not None:
        raise ValueError("give either tls or insecure=True, not both")
    all_options = channel_options(options)
    if insecure:
        return grpc.aio.insecure_channel(target, options=all_options)
    tls = tls or TlsConfig()
    if tls.server_name:
        all_options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(target, tls.channel_credentials(), options=all_options)


class AsyncClientBase:
    """An async channel with defaults; subclasses add stubs and typed coroutine methods."""

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
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._target = check_connection(
            target, given_channel=channel is not None, tls=tls, insecure=insecure, options=options
        )
        self._token = token
        self._timeout = timeout
        self._retry = retry or DEFAULT_RETRY
        self._owns_channel = channel is None
        self._channel = channel or open_aio_channel(
            self._target, tls=tls, insecure=insecure, options=options
        )
        self._closed = False

    @property
    def target(self) -> str:
        """The ``host:port`` this client talks to (for a given ``channel``: the ``target``
        passed with it, or ``""``)."""
        return self._target

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        """``authorization: Bearer <token>`` (RFC 6750 §2.1), read anew for every call."""
        if self._token is None:
            return ()
        return (("authorization", authorization(self._token)),)

    async def _unary(self, method: grpc.aio.UnaryUnaryMultiCallable[Q, M], request: Q) -> M:
        """Call a unary method with the client's deadline per attempt, retrying what is safe."""

        async def attempt() -> M:
            try:
                return await method(request, timeout=self._timeout, metadata=self._metadata())
            except grpc.aio.AioRpcError as exc:
                raise from_rpc_error(exc) from None  # kept as .rpc_error

        try:
            return await call_with_retry_async(
                attempt, policy=self._retry, idempotency=classify(request)
            )
        except AttestgateError as exc:  # its traceback ends here, without gRPC's frames
            raise exc.with_traceback(None) from None

    async def _stream(
        self, method: grpc.aio.UnaryStreamMultiCallable[Q, M], request: Q, timeout: float | None
    ) -> AsyncIterator[M]:
        """Iterate a server stream; leaving the loop (closing the generator) cancels the call."""
        call = method(request, timeout=timeout, metadata=self._metadata())
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None  # kept as .rpc_error
        finally:
            call.cancel()

    async def _watch(
        self,
        method: grpc.aio.UnaryStreamMultiCallable[Q, M],
        next_request: Callable[[], Q],
        timeout: float | None,
    ) -> AsyncIterator[M]:
        """A watch stream for ``timeout`` seconds in all, reopened with ``next_request()`` each
        time the gateway ends it cleanly (the twin of ``ClientBase._watch``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            opened = time.monotonic()
            remaining = None if deadline is None else max(0.0, deadline - opened)
            async for message in self._stream(method, next_request(), remaining):
                yield message
            pause = RECONNECT_PAUSE - (time.monotonic() - opened)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                await asyncio.sleep(pause)

    async def close(self) -> None:
        """Close the channel the client opened (calls in flight are cancelled); a channel given
        with ``channel=`` stays open for its owner to close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target!r})"


async def follow_pages_async(
    fetch: Callable[[str], Awaitable[tuple[Sequence[T], str]]],
) -> list[T]:
    """Collect every item of a paged List call: ``await fetch(page_token) -> (items, next)``."""
    items: list[T] = []
    token = ""
    for _ in range(MAX_PAGES):
        page, token = await fetch(token)
        items.extend(page)
        if not token:
            return items
    raise RuntimeError("the server kept returning page tokens")


async def asset_history_async(
    call: Callable[
        [record_pb2.GetAssetHistoryRequest], Awaitable[record_pb2.GetAssetHistoryResponse]
    ],
    request: Callable[[str], record_pb2.GetAssetHistoryRequest],
    opener: history.CheckpointOpener | None,
) -> list[AssetEvent]:
    """``attestgate.sdk._internal.history.asset_history`` over an async call."""

    async def fetch(token: str) -> tuple[list[AssetEvent], str]:
        response = await call(request(token))
        return history.history_page(response, opener), response.next_page_token

    return history.check_order(await follow_pages_async(fetch))
