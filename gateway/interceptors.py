"""The server interceptor every call passes through.

For each call it: authenticates the bearer token (except ``PUBLIC_METHODS``), checks the role table,
binds the ``Principal`` for the servicer (``current_principal()``), turns any exception into a
status through ``gateway.errors`` (so servicers just raise ``DomainError``), and writes one access
log line: method, code, duration, role and a keyed hash of the subject. Never the token, never the
request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.auth import Principal, TokenVerifier, check_certificate_binding
from gateway.errors import abort, status_for_exception
from gateway.roles import PUBLIC_METHODS, allowed_roles
from sdk.reasons import DomainError, Reason

_access_log = logging.getLogger("attestgate.access")
_principal: ContextVar[Principal | None] = ContextVar("attestgate_principal", default=None)

Behavior = Callable[[Any, grpc.ServicerContext], Any]


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
    """Authentication, authorization, error mapping and access logging for every call."""

    def __init__(self, verifier: TokenVerifier, *, log_key: bytes) -> None:
        self._verifier = verifier
        self._log_key = log_key

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """Wrap the handler of the called method (``None``: unknown method, UNIMPLEMENTED)."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            wrapped = self._wrap_unary(method, handler.unary_unary)
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
        principal = self._verifier.verify(bearer_token(context.invocation_metadata()))
        if principal.cnf_x5t is not None:  # RFC 8705 §3: bound tokens only over their certificate
            check_certificate_binding(principal, _peer_certificate_der(context))
        if principal.role not in allowed_roles(method):
            raise DomainError(
                Reason.ROLE_NOT_ALLOWED,
                f"role '{principal.role}' may not call this method",
                metadata={"role": str(principal.role)},
            )
        return principal

    def _wrap_unary(self, method: str, inner: Behavior) -> Behavior:
        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            call = _CallLog(self, method)
            try:
                call.principal = self.authenticate(method, context)
                _principal.set(call.principal)
                response = inner(request, context)
                call.code = _preset_code(context) or "OK"
                return response
            except Exception as exc:
                call.fail(exc, context)
            finally:
                _principal.set(None)
                call.write()

        return behavior

    def _wrap_stream(self, method: str, inner: Behavior) -> Behavior:
        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _CallLog(self, method)
            try:
                call.principal = self.authenticate(method, context)
                _principal.set(call.principal)
                yield from inner(request, context)
                call.code = _preset_code(context) or "OK"
            except GeneratorExit:
                call.code = "CANCELLED"
                raise
            except Exception as exc:
                call.fail(exc, context)
            finally:
                _principal.set(None)
                call.write()

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
        self.correlation_id: str | None = None

    def fail(self, exc: Exception, context: grpc.ServicerContext) -> None:
        preset = _preset_code(context)
        if preset is not None and preset != "OK":
            # The servicer already chose a status (context.abort); keep it.
            self.code = preset
            raise exc
        status, self.correlation_id = status_for_exception(exc, method=self.method)
        self.code = status.code.name
        abort(context, status)

    def write(self) -> None:
        fields: dict[str, object] = {
            "method": self.method,
            "code": self.code,
            "duration_ms": round((time.monotonic() - self.start) * 1000, 3),
        }
        if self.principal is not None:
            fields["role"] = str(self.principal.role)
            fields["subject_hash"] = self.interceptor.hashed_subject(self.principal.subject)
        if self.correlation_id is not None:
            fields["correlation_id"] = self.correlation_id
        _access_log.info(
            "rpc %s %s %.1fms", self.method, self.code, fields["duration_ms"], extra=fields
        )
