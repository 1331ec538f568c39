"""A ``grpc.aio`` variant of the gateway's server, for the side-by-side in ``bench/rpc.py``.

Same parts as ``gateway.transport.server.build_server`` (``gateway.transport.serving``): TLS
credentials, channel
options, worker pool with admission control (``AdmissionExecutor``, here the aio server's
``migration_thread_pool``) and ``GatewayInterceptor``'s wrapping (bearer token, role table, rate
limit, error mapping, access log), adapted by ``AioGatewayInterceptor``. Health checking and
reflection are not registered: the benchmark never calls them. The server runs on an event loop
of its own, in a background thread, so the synchronous benchmark code drives it like the others.

How ``grpc.aio`` runs the two kinds of behavior (checked on grpcio 1.85.3):

- a coroutine function (``async def``) runs on the event loop with an aio ``ServicerContext``,
  whose ``abort`` / ``abort_with_status`` are coroutines raising ``grpc.aio.AbortError``;
- a plain function runs on the migration thread pool with a ``_SyncServicerContext``, which has
  ``abort(code, details, trailing_metadata)`` (it raises ``AbortError`` and the status, trailers
  included, reaches the client) but no ``abort_with_status``, no ``code()`` and no
  ``is_active()``. The synchronous interceptor's wrapping calls the first two on every call
  (``code()`` even on success), so it is given ``SyncContextOnAio`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, cast

import grpc

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.limits import overloaded_error
from attestgate.gateway.common.tls import server_credentials
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.transport.interceptors import (
    UNLIMITED_METHODS,
    Behavior,
    GatewayInterceptor,
    Handler,
)
from attestgate.gateway.transport.server import GatewayServicers
from attestgate.gateway.transport.services.unimplemented import UnimplementedAttestationService
from attestgate.gateway.transport.serving import (
    add_servicers,
    admission,
    gateway_interceptor,
    server_options,
)
from attestgate.v1 import attestation_pb2

AsyncBehavior = Callable[[Any, Any], Awaitable[Any]]


class SyncContextOnAio:
    """The sync ``ServicerContext`` API the gateway uses, over ``grpc.aio``'s context for a
    plain-function behavior (every other attribute is the wrapped context's)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._code: grpc.StatusCode | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def code(self) -> grpc.StatusCode | None:
        """The status code set so far through this context (``None``: none)."""
        return self._code

    def set_code(self, code: grpc.StatusCode) -> None:
        """Set the status code the call ends with."""
        self._code = code
        self._context.set_code(code)

    def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        """End the call with ``code`` (raises ``grpc.aio.AbortError``)."""
        self._code = code
        self._context.abort(code, details)

    def abort_with_status(self, status: grpc.Status) -> None:
        """End the call with ``status``, rich details included (raises ``AbortError``)."""
        self._code = status.code
        self._context.abort(status.code, status.details, tuple(status.trailing_metadata))

    def is_active(self) -> bool:
        """Always true: ``grpc.aio`` tells a plain-function behavior nothing (its callbacks never
        fire), but once a call ends it stops advancing the stream, so a streaming servicer
        stops at its next ``yield``."""
        return True


class AioGatewayInterceptor(grpc.aio.ServerInterceptor):
    """``GatewayInterceptor``'s checks and log for a ``grpc.aio`` server: plain-function
    behaviors keep the synchronous wrapping (on the migration pool, whose ``AdmissionExecutor``
    enforces the concurrency limit), coroutines get the same steps awaited on the loop and an
    in-flight count against the same limit."""

    def __init__(self, gateway: GatewayInterceptor, *, limit: int) -> None:
        self._gateway = gateway
        self._limit = limit
        self._in_flight = 0  # coroutine behaviors only; touched on the loop thread alone

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Wrap the called method's handler (``None``: unknown method, UNIMPLEMENTED)."""
        handler = await continuation(handler_call_details)
        return self._gateway.wrap_handler(
            handler, handler_call_details.method, unary=self._wrap_unary, stream=self._wrap_stream
        )

    def _wrap_unary(self, method: str, inner: Any) -> Any:
        if inspect.iscoroutinefunction(inner):
            return self._wrap_coroutine(method, inner)
        return _on_sync_context(self._gateway.wrap_unary(method, inner))

    def _wrap_stream(self, method: str, inner: Any) -> Any:
        if inspect.isasyncgenfunction(inner):
            raise TypeError(f"{method}: async streaming behaviors are not wrapped here")
        return _on_sync_context(self._gateway.wrap_stream(method, inner))

    def _admit(self, method: str) -> None:
        if self._in_flight > self._limit and method not in UNLIMITED_METHODS:
            raise overloaded_error()

    def _wrap_coroutine(self, method: str, inner: AsyncBehavior) -> AsyncBehavior:
        gateway = self._gateway

        async def behavior(request: Any, context: Any) -> Any:
            call = gateway.new_call(method)
            self._in_flight += 1
            try:
                self._admit(method)
                gateway.start_call(call, request, context, pool_admission=False)
                response = await inner(request, context)
                call.succeeded(context)
                return response
            except Exception as exc:
                status = call.refusal(exc, context)
                if status is None:
                    raise  # the servicer aborted the call itself
                await context.abort_with_status(status)
            finally:
                self._in_flight -= 1
                call.end()

        return behavior


def _on_sync_context(wrapped: Behavior) -> Behavior:
    def behavior(request: Any, context: Any) -> Any:
        # The adapter has the ServicerContext methods the wrapping calls, the rest by delegation.
        return wrapped(request, cast(grpc.ServicerContext, SyncContextOnAio(context)))

    return behavior


class AsyncNoopAttestationService(UnimplementedAttestationService):
    """``IssueAttestation`` as a coroutine returning a canned response (the aio no-op)."""

    def __init__(self, canned: attestation_pb2.Attestation) -> None:
        self._canned = canned

    async def IssueAttestation(  # noqa: N802 - the RPC's name
        self, request: attestation_pb2.IssueAttestationRequest, context: Any
    ) -> attestation_pb2.Attestation:
        """The canned attestation, whatever the request."""
        return self._canned


@dataclass
class AioGateway:
    """A started ``grpc.aio`` server and the event-loop thread it runs on."""

    server: Any
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    pool: Executor | None

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Stop the server (in-flight calls get ``grace`` seconds), the loop and the pool."""
        asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False)


def start_aio_server(
    config: GatewayConfig, *, keyring: KeyRing, clock: Clock, servicers: GatewayServicers
) -> AioGateway:
    """Build and start the ``grpc.aio`` variant of ``build_server`` for ``config`` on a free
    loopback port; ``servicers`` may mix plain and ``async def`` methods."""
    admitted = admission(config)
    if admitted.health_pool is not None:
        admitted.health_pool.shutdown(wait=False)  # no health service on this variant
    pool = admitted.concurrency
    limit = pool.limit if pool is not None else config.max_concurrent_rpcs
    interceptor = AioGatewayInterceptor(
        gateway_interceptor(config, keyring=keyring, clock=clock, admitted=admitted), limit=limit
    )
    credentials = None if config.insecure else server_credentials(config)

    async def start() -> tuple[Any, int]:
        server = grpc.aio.server(
            migration_thread_pool=pool, interceptors=[interceptor], options=server_options(config)
        )
        add_servicers(servicers, server)
        address = "127.0.0.1:0"
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
        await server.start()
        return server, port

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-aio-loop", daemon=True)
    thread.start()
    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    return AioGateway(server=server, port=port, loop=loop, thread=thread, pool=pool)
