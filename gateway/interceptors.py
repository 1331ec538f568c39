"""The server interceptor every call passes through.

For each call it: admits it under the concurrency limit (``gateway.limits``; health checks are
exempt so probes stay answered under overload), authenticates the bearer token (except
``PUBLIC_METHODS``), checks the role table, applies the caller's rate limit, refuses a request that
did not parse (``INVALID_ARGUMENT``, not the ``INTERNAL`` gRPC itself would answer) or is larger
than the configured limit (``MESSAGE_TOO_LARGE``), binds the ``Principal`` for the servicer
(``current_principal()``), turns any exception into a status through ``gateway.errors`` (so
servicers just raise ``DomainError``), writes one access log line (method, code, duration, role and
a keyed hash of the subject; never the token, never the request) and tells an optional
``CallObserver`` (metrics) how the call ended.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.auth import Principal, TokenVerifier, check_certificate_binding
from gateway.errors import abort, status_for_exception
from gateway.limits import AdmissionExecutor, RateLimiter
from gateway.roles import PUBLIC_METHODS, allowed_roles
from sdk.reasons import DomainError, FieldViolation, Reason

_access_log = logging.getLogger("attestgate.access")
_principal: ContextVar[Principal | None] = ContextVar("attestgate_principal", default=None)

Behavior = Callable[[Any, grpc.ServicerContext], Any]

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
UNLIMITED_METHODS: frozenset[str] = frozenset({HEALTH_CHECK, "/grpc.health.v1.Health/Watch"})
"""Methods the concurrency limit never refuses: probes must see a busy gateway as alive."""


class CallObserver(Protocol):
    """Told about every finished call (``gateway.metrics`` implements it)."""

    def call_finished(self, method: str, code: str, seconds: float, reason: str | None) -> None:
        """``method`` ended with status ``code`` after ``seconds``; ``reason``: the refusal's."""
        ...


@dataclass(frozen=True)
class Admission:
    """What refuses a call before it runs: overload, per-principal rate limits, size; and the
    small pool health checks run on, so they never wait behind queued calls."""

    concurrency: AdmissionExecutor | None = None
    rate: RateLimiter | None = None
    max_message_bytes: int | None = None
    health_pool: ThreadPoolExecutor | None = None


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
    principal = _principal.get()
    if principal is None:
        # Only reachable from a public method, which must not depend on a caller identity.
        raise DomainError(Reason.TOKEN_MISSING, "this call is not authenticated")
    return principal


def current_principal_or_none() -> Principal | None:
    """The caller of the current call, or ``None`` in a public method."""
    return _principal.get()


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
    pems = context.auth_context().get("x509_pem_cert") or []
    if not pems:
        return None
    cert = x509.load_pem_x509_certificate(pems[0])
    return cert.public_bytes(serialization.Encoding.DER)


class GatewayInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
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
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """Wrap the handler of the called method (``None``: unknown method, UNIMPLEMENTED)."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        deserializer = handler.request_deserializer
        if handler.unary_unary is not None or handler.unary_stream is not None:
            deserializer = _tolerant(deserializer, self._admission.max_message_bytes)
        kwargs = {
            "request_deserializer": deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            wrapped = self._wrap_unary(method, handler.unary_unary)
            if method == HEALTH_CHECK and self._admission.health_pool is not None:
                # grpc._server runs a behavior with this attribute on that pool instead.
                wrapped.experimental_thread_pool = self._admission.health_pool  # type: ignore[attr-defined]
            return grpc.unary_unary_rpc_method_handler(wrapped, **kwargs)
        if handler.stream_unary is not None:
            wrapped = self._wrap_unary(method, handler.stream_unary)
            return grpc.stream_unary_rpc_method_handler(wrapped, **kwargs)
        if handler.unary_stream is not None:
            wrapped = self._wrap_stream(method, handler.unary_stream)
            return grpc.unary_stream_rpc_method_handler(wrapped, **kwargs)
        wrapped = self._wrap_stream(method, handler.stream_stream)
        return grpc.stream_stream_rpc_method_handler(wrapped, **kwargs)

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

    def _start(self, call: _CallLog, request: Any, context: grpc.ServicerContext) -> None:
        """Everything before the servicer runs; raises the refusal, if any."""
        limiter = self._admission.concurrency
        if limiter is not None and call.method not in UNLIMITED_METHODS:
            limiter.admit()  # first and cheap: an overloaded gateway does no crypto
        call.principal = self.authenticate(call.method, context)
        if call.principal is not None and self._admission.rate is not None:
            self._admission.rate.admit(call.principal.subject, call.principal.role.value)
        _check_parsed(request)  # after authentication: strangers learn nothing from parsing
        _principal.set(call.principal)

    def _wrap_unary(self, method: str, inner: Behavior) -> Behavior:
        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            call = _CallLog(self, method)
            try:
                self._start(call, request, context)
                response = inner(request, context)
                call.code = _preset_code(context) or "OK"
                return response
            except Exception as exc:
                call.fail(exc, context)
            finally:
                _principal.set(None)
                call.end()

        return behavior

    def _wrap_stream(self, method: str, inner: Behavior) -> Behavior:
        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _CallLog(self, method)
            try:
                self._start(call, request, context)
                yield from inner(request, context)
                call.code = _preset_code(context) or "OK"
            except GeneratorExit:
                call.code = "CANCELLED"
                raise
            except Exception as exc:
                call.fail(exc, context)
            finally:
                _principal.set(None)
                call.end()

        return behavior

    def hashed_subject(self, subject: str) -> str:
        """A keyed hash of a subject id: correlates log lines without naming anyone."""
        return hmac.new(self._log_key, subject.encode(), hashlib.sha256).hexdigest()[:16]


def _preset_code(context: grpc.ServicerContext) -> str | None:
    code = context.code()
    return None if code is None else str(code.name)


class _CallLog:
    """Timing and outcome of one call, written as one access line."""

    def __init__(self, interceptor: GatewayInterceptor, method: str) -> None:
        self.interceptor = interceptor
        self.method = method
        self.start = time.monotonic()
        self.principal: Principal | None = None
        self.code = "UNKNOWN"
        self.reason: str | None = None
        self.correlation_id: str | None = None

    def fail(self, exc: Exception, context: grpc.ServicerContext) -> None:
        preset = _preset_code(context)
        if preset is not None and preset != "OK":
            # The servicer already chose a status (context.abort); keep it.
            self.code = preset
            raise exc
        status, self.correlation_id = status_for_exception(exc, method=self.method)
        self.code = status.code.name
        self.reason = exc.reason.value if isinstance(exc, DomainError) else Reason.INTERNAL.value
        abort(context, status)

    def end(self) -> None:
        """Write the access line, tell the observer."""
        seconds = time.monotonic() - self.start
        fields: dict[str, object] = {
            "method": self.method,
            "code": self.code,
            "duration_ms": round(seconds * 1000, 3),
        }
        if self.reason is not None:
            fields["reason"] = self.reason
        if self.principal is not None:
            fields["role"] = str(self.principal.role)
            fields["subject_hash"] = self.interceptor.hashed_subject(self.principal.subject)
        if self.correlation_id is not None:
            fields["correlation_id"] = self.correlation_id
        _access_log.info(
            "rpc %s %s %.1fms", self.method, self.code, fields["duration_ms"], extra=fields
        )
        observer = self.interceptor.observer
        if observer is not None:
            observer.call_finished(self.method, self.code, seconds, self.reason)
