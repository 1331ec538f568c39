"""The server interceptor every call passes through.

For each call it: admits it under the concurrency limit (``gateway.common.limits``; health checks
are
exempt so probes stay answered under overload), authenticates the bearer token (except
``PUBLIC_METHODS``), checks the role table, applies the caller's rate limit, refuses a request that
did not parse (``INVALID_ARGUMENT``, not the ``INTERNAL`` gRPC itself would answer) or is larger
than the configured limit (``MESSAGE_TOO_LARGE``), admits a stream under the stream limits and
bounds its lifetime (``gateway.transport.streams``; health ``Watch`` too), binds the ``Principal``
for the
servicer (``current_principal()``), turns any exception into a status through
``gateway.transport.errors`` (so
servicers just raise ``DomainError``), writes one access log line (method, code, duration, role and
a keyed hash of the subject; never the token, never the request) and tells an optional
``CallObserver`` (metrics) how the call ended (``gateway.transport.call_log``).

``wrap_handler`` and ``wrap_unary`` / ``wrap_stream`` are public so that another server flavour
(the ``grpc.aio`` variant in ``bench/aio_server.py``) wraps handlers exactly like this one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attestgate.gateway.common.auth import Principal, TokenVerifier, check_certificate_binding
from attestgate.gateway.common.limits import AdmissionExecutor, RateLimiter
from attestgate.gateway.common.roles import PUBLIC_METHODS, allowed_roles
from attestgate.gateway.transport.call_log import CallLog, CallObserver, bound_principal
from attestgate.gateway.transport.streams import StreamLease, StreamLimiter, bounded, peer_host
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic in the stubs only
"""A method's handler, as ``grpc.server`` and ``grpc.aio.server`` hand it to interceptors."""
Wrapper = Callable[[str, Any], Any]
"""Wraps a method's behavior: ``(method, behavior) -> behavior``."""

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
UNLIMITED_METHODS: frozenset[str] = frozenset({HEALTH_CHECK, "/grpc.health.v1.Health/Watch"})
"""Methods the concurrency limit never refuses: probes must see a busy gateway as alive (a
health ``Watch`` still counts as a stream: it holds a worker thread while open)."""


@dataclass(frozen=True)
class Admission:
    """What refuses a call before it runs: overload, per-principal rate limits, size; and the
    small pool health checks run on, so they never wait behind queued calls."""

    concurrency: AdmissionExecutor | None = None
    rate: RateLimiter | None = None
    max_message_bytes: int | None = None
    health_pool: ThreadPoolExecutor | None = None
    streams: StreamLimiter | None = None


class _Unparsed:
    """Stands in for a request whose bytes did not parse (or were too many)."""

    def __init__(self, *, too_large: bool) -> None:
        self.too_large = too_large


def _tolerant(deserializer: Any, max_bytes: int | None) -> Any:
    """A deserializer returning ``_Unparsed`` instead of raising (gRPC would answer INTERNAL)."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        if max_bytes is not None and len(data) > max_bytes:
            return _Unparsed(too_large=True)
        try:
            return deserializer(data)
        except Exception:  # protobuf DecodeError and the like: the client's bytes are bad
            return _Unparsed(too_large=False)

    return parse


def _check_parsed(request: Any) -> None:
    if not isinstance(request, _Unparsed):
        return
    if request.too_large:
        raise DomainError(Reason.MESSAGE_TOO_LARGE, "the request message is too large")
    raise DomainError(
        Reason.INVALID_ARGUMENT,
        "the request is not a valid message of this method's type",
        violations=[FieldViolation("request", "not a valid protobuf message of the request type")],
    )


def current_principal() -> Principal:
    """The authenticated caller of the current call (inside a servicer method)."""
    principal = bound_principal.get()
    if principal is None:
        # Only reachable from a public method, which must not depend on a caller identity.
        raise DomainError(Reason.TOKEN_MISSING, "this call is not authenticated")
    return principal


def current_principal_or_none() -> Principal | None:
    """The caller of the current call, or ``None`` in a public method."""
    return bound_principal.get()


def bearer_token(metadata: Any) -> str:
    """The token of the single ``authorization: Bearer <token>`` header (RFC 6750 §2.1)."""
    values = [v for k, v in (metadata or ()) if k == "authorization"]
    if not values:
        raise DomainError(Reason.TOKEN_MISSING, "no authorization header")
    if len(values) > 1:
        raise DomainError(Reason.TOKEN_MALFORMED, "more than one authorization header")
    value: object = values[0]
    if not isinstance(value, str):
        raise DomainError(Reason.TOKEN_MALFORMED, "authorization header must be text")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(Reason.TOKEN_MALFORMED, "authorization header must be 'Bearer <token>'")
    return token.strip()


def _peer_certificate_der(context: grpc.ServicerContext) -> bytes | None:
    # grpc maps each auth property to a list of values; types-grpcio 1.85 types the map as
    # ``Mapping[str, bytes]`` (its own FIXME on ``auth_context``), hence the ignore.
    pems: list[bytes] = context.auth_context().get("x509_pem_cert") or []  # type: ignore[assignment]
    if not pems:
        return None
    cert = x509.load_pem_x509_certificate(pems[0])
    return cert.public_bytes(serialization.Encoding.DER)


class GatewayInterceptor(grpc.ServerInterceptor):
    """Admission, authentication, authorization, error mapping and access logging."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        log_key: bytes,
        admission: Admission | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._verifier = verifier
        self._log_key = log_key
        self._admission = admission or Admission()
        self.observer = observer

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Wrap the handler of the called method (``None``: unknown method, UNIMPLEMENTED)."""
        return self.wrap_handler(continuation(handler_call_details), handler_call_details.method)

    def wrap_handler(
        self,
        handler: Handler | None,
        method: str,
        *,
        unary: Wrapper | None = None,
        stream: Wrapper | None = None,
    ) -> Handler | None:
        """``handler`` with each behavior wrapped by ``unary`` / ``stream`` (default: this
        server's ``wrap_unary`` / ``wrap_stream``) and a tolerant request deserializer;
        ``None`` (unknown method) stays ``None``."""
        if handler is None:
            return None
        unary = unary or self.wrap_unary
        stream = stream or self.wrap_stream
        deserializer = handler.request_deserializer
        if handler.unary_unary is not None or handler.unary_stream is not None:
            deserializer = _tolerant(deserializer, self._admission.max_message_bytes)
        kwargs = {
            "request_deserializer": deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            wrapped: Any = unary(method, handler.unary_unary)
            if method == HEALTH_CHECK and self._admission.health_pool is not None:
                # grpc._server runs a behavior with this attribute on that pool instead.
                wrapped.experimental_thread_pool = self._admission.health_pool
            return grpc.unary_unary_rpc_method_handler(wrapped, **kwargs)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                unary(method, handler.stream_unary), **kwargs
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                stream(method, handler.unary_stream), **kwargs
            )
        assert handler.stream_stream is not None  # a handler has one of the four behaviors
        return grpc.stream_stream_rpc_method_handler(
            stream(method, handler.stream_stream), **kwargs
        )

    def authenticate(self, method: str, context: grpc.ServicerContext) -> Principal | None:
        """The caller of ``method``, or ``None`` for a public method; ``DomainError`` if refused."""
        if method in PUBLIC_METHODS:
            return None
        token = bearer_token(context.invocation_metadata())
        try:
            principal = self._verifier.verify(token)
        except RecursionError:  # JSON nested past the parser's depth: not a JWT anyone issued
            raise DomainError(Reason.TOKEN_MALFORMED, "token is not a well-formed JWT") from None
        if principal.cnf_x5t is not None:  # RFC 8705 §3: bound tokens only over their certificate
            check_certificate_binding(principal, _peer_certificate_der(context))
        if principal.role not in allowed_roles(method):
            raise DomainError(
                Reason.ROLE_NOT_ALLOWED,
                f"role '{principal.role}' may not call this method",
                metadata={"role": str(principal.role)},
            )
        return principal

    def new_call(self, method: str) -> CallLog:
        """The access-log record of a call to ``method`` starting now."""
        return CallLog(method, hash_subject=self.hashed_subject, observer=self.observer)

    def start_call(
        self, call: CallLog, request: Any, context: Any, *, pool_admission: bool = True
    ) -> None:
        """Everything before the servicer runs; raises the refusal, if any.

        ``pool_admission``: apply the worker pool's concurrency limit (a behavior that does not
        run on that pool, e.g. a coroutine, passes ``False`` and admits the call itself)."""
        limiter = self._admission.concurrency
        if pool_admission and limiter is not None and call.method not in UNLIMITED_METHODS:
            limiter.admit()  # first and cheap: an overloaded gateway does no crypto
        call.principal = self.authenticate(call.method, context)
        if call.principal is not None and self._admission.rate is not None:
            self._admission.rate.admit(call.principal.subject, call.principal.role.value)
        _check_parsed(request)  # after authentication: strangers learn nothing from parsing
        bound_principal.set(call.principal)

    def wrap_unary(self, method: str, inner: Behavior) -> Behavior:
        """``inner`` (a synchronous unary-response behavior) behind the checks and the log."""

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            call = self.new_call(method)
            try:
                self.start_call(call, request, context)
                response = inner(request, context)
                call.succeeded(context)
                return response
            except Exception as exc:
                call.fail(exc, context)
            finally:
                call.end()

        return behavior

    def wrap_stream(self, method: str, inner: Behavior) -> Behavior:
        """``inner`` (a synchronous streaming-response behavior) behind the checks and the log."""

        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = self.new_call(method)
            lease: StreamLease | None = None
            try:
                self.start_call(call, request, context)
                lease = self.open_stream(call, request, context)
                if lease is None:
                    yield from inner(request, context)
                else:
                    yield from bounded(self._streams, lease, inner, request, context)
                call.succeeded(context)
            except GeneratorExit:
                call.code = "CANCELLED"
                raise
            except Exception as exc:
                if isinstance(exc, grpc.RpcError) and not context.is_active():
                    # Reading the next request of a call that already ended: nothing to answer.
                    call.code = "UNAVAILABLE" if lease is not None and lease.closed else "CANCELLED"
                else:
                    call.fail(exc, context)
            finally:
                if lease is not None:
                    self._streams.release(lease)
                call.end()

        return behavior

    @property
    def _streams(self) -> StreamLimiter:
        """The stream limiter (only asked for once a stream holds a lease from it)."""
        assert self._admission.streams is not None
        return self._admission.streams

    def open_stream(
        self, call: CallLog, request: Any, context: grpc.ServicerContext
    ) -> StreamLease | None:
        """Admit a stream under the stream limits (``gateway.transport.streams``; ``None``: no
        limits):
        counted per principal, or per peer address without a token."""
        if self._admission.streams is None:
            return None
        principal = call.principal
        if principal is None:
            key = "peer " + peer_host(context.peer())
        else:
            key = f"{principal.role} {principal.subject}"
        return self._admission.streams.acquire(
            key,
            anonymous=principal is None,
            reads_client=isinstance(request, Iterator),
            context=context,
        )

    def hashed_subject(self, subject: str) -> str:
        """A keyed hash of a subject id: correlates log lines without naming anyone."""
        return hmac.new(self._log_key, subject.encode(), hashlib.sha256).hexdigest()[:16]
