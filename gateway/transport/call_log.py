"""One call's outcome, as the interceptor records it: its status code, the refusal mapped from an
exception (``gateway.transport.errors``), one access log line (method, code, duration, role and a
keyed hash
of the subject; never the token, never the request) and the ``CallObserver`` (metrics).

Shared by the synchronous ``GatewayInterceptor`` and any other server flavour wrapping the same
behaviors (the ``grpc.aio`` variant in ``bench/aio_server.py``), so they log and refuse alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

import grpc

from attestgate.gateway.common.auth import Principal
from attestgate.gateway.transport.errors import abort, status_for_exception
from attestgate.protocol.reasons import DomainError, Reason

_access_log = logging.getLogger("attestgate.access")

bound_principal: ContextVar[Principal | None] = ContextVar("attestgate_principal", default=None)
"""The authenticated caller of the call running in this context (``None``: none, or public)."""


class CallObserver(Protocol):
    """Told about every finished call (``gateway.ops.metrics`` implements it)."""

    def call_finished(self, method: str, code: str, seconds: float, reason: str | None) -> None:
        """``method`` ended with status ``code`` after ``seconds``; ``reason``: the refusal's."""
        ...


def preset_code(context: Any) -> str | None:
    """The status code the servicer already set on ``context`` (``None``: none yet)."""
    code = context.code()
    return None if code is None else str(code.name)


class CallLog:
    """Timing and outcome of one call, written as one access line."""

    def __init__(
        self,
        method: str,
        *,
        hash_subject: Callable[[str], str],
        observer: CallObserver | None,
    ) -> None:
        self.method = method
        self.start = time.monotonic()
        self.principal: Principal | None = None
        self.code = "UNKNOWN"
        self.reason: str | None = None
        self.correlation_id: str | None = None
        self._hash_subject = hash_subject
        self._observer = observer

    def succeeded(self, context: Any) -> None:
        """The servicer returned: OK unless it set another code itself."""
        self.code = preset_code(context) or "OK"

    def refusal(self, exc: Exception, context: Any) -> grpc.Status | None:
        """The status ``exc`` maps to, recorded for the log line; ``None`` if the servicer already
        chose a status (``context.abort``): the caller re-raises ``exc`` to keep it."""
        preset = preset_code(context)
        if preset is not None and preset != "OK":
            self.code = preset
            return None
        status, self.correlation_id = status_for_exception(exc, method=self.method)
        self.code = status.code.name
        self.reason = exc.reason.value if isinstance(exc, DomainError) else Reason.INTERNAL.value
        return status

    def fail(self, exc: Exception, context: grpc.ServicerContext) -> None:
        """End the call with the status ``exc`` maps to (synchronous context: always raises)."""
        status = self.refusal(exc, context)
        if status is None:
            raise exc
        abort(context, status)

    def end(self) -> None:
        """Unbind the caller, write the access line, tell the observer."""
        bound_principal.set(None)
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
            fields["subject_hash"] = self._hash_subject(self.principal.subject)
        if self.correlation_id is not None:
            fields["correlation_id"] = self.correlation_id
        _access_log.info(
            "rpc %s %s %.1fms", self.method, self.code, fields["duration_ms"], extra=fields
        )
        if self._observer is not None:
            self._observer.call_finished(self.method, self.code, seconds, self.reason)
