"""The one place that turns errors into gRPC statuses (DESIGN.md "Errors").

``DomainError`` -> ``grpc.StatusCode[REASON_STATUS[reason]]`` with rich details in the
``grpc-status-details-bin`` trailer (https://google.aip.dev/193): a ``google.rpc.ErrorInfo``
(reason, domain ``attestgate``, metadata), for bad input a ``google.rpc.BadRequest`` listing
the field violations, and for a refusal that should be retried later (``RetryLaterError``:
overload, rate limits) a ``google.rpc.RetryInfo`` with the delay (https://google.aip.dev/194).
Any other exception becomes ``INTERNAL`` with the fixed message ``internal error (correlation id
X)`` and an ErrorInfo carrying only that id; the traceback is logged under the same id, the
request never is.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from attestgate.gateway.common.limits import RetryLaterError
from attestgate.protocol.reasons import ERROR_DOMAIN, DomainError, FieldViolation, Reason

_log = logging.getLogger("attestgate.errors")

MAX_VIOLATIONS = 20
"""Field violations sent per refusal: the trailers carrying them are capped (16 KiB by default
in gRPC), and an upload with 10,000 bad fields must still get its refusal through."""
MAX_MESSAGE_CHARS = 1024


def new_correlation_id() -> str:
    """A random id that ties a client-visible INTERNAL error to its server log line."""
    return uuid.uuid4().hex[:16]


def _to_status(status: status_pb2.Status) -> grpc.Status:
    """``grpc_status.rpc_status.to_status`` (untyped: grpcio-status ships no annotations)."""
    result: grpc.Status = rpc_status.to_status(status)
    return result


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def domain_status(error: DomainError) -> grpc.Status:
    """The gRPC status (code, message, rich details) for a domain refusal."""
    code = grpc.StatusCode[error.status_name]
    violations = list(error.violations[:MAX_VIOLATIONS])
    if len(error.violations) > MAX_VIOLATIONS:
        more = len(error.violations) - MAX_VIOLATIONS
        violations.append(FieldViolation("", f"and {more} more"))
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "\u2026"
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason.value, domain=ERROR_DOMAIN, metadata=error.metadata
            )
        )
    ]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in violations
                    ]
                )
            )
        )
    if isinstance(error, RetryLaterError):
        delay = duration_pb2.Duration()
        delay.FromTimedelta(error.retry_after)
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return _to_status(status)


def internal_status(correlation_id: str) -> grpc.Status:
    """The status for an unexpected failure: no detail beyond the correlation id."""
    info = error_details_pb2.ErrorInfo(
        reason=Reason.INTERNAL.value,
        domain=ERROR_DOMAIN,
        metadata={"correlation_id": correlation_id},
    )
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error (correlation id {correlation_id})",
        details=[_pack(info)],
    )
    return _to_status(status)


def status_for_exception(exc: BaseException, *, method: str) -> tuple[grpc.Status, str | None]:
    """Map any exception to a status; unexpected ones are logged with a new correlation id.

    Returns the status and the correlation id (``None`` for a domain refusal).
    """
    if isinstance(exc, DomainError):
        return domain_status(exc), None
    correlation_id = new_correlation_id()
    # exc_info logs the traceback; the request message is deliberately not part of this line.
    _log.error(
        "unexpected error in %s (correlation id %s)",
        method,
        correlation_id,
        exc_info=exc,
        extra={"correlation_id": correlation_id, "method": method},
    )
    return internal_status(correlation_id), correlation_id


def abort(context: grpc.ServicerContext, status: grpc.Status) -> NoReturn:
    """End the call with ``status`` (``abort_with_status`` always raises)."""
    context.abort_with_status(status)
    raise AssertionError("abort_with_status returned")  # pragma: no cover
