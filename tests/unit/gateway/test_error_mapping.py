"""gateway.transport.errors: DomainError -> status with ErrorInfo/BadRequest; others -> bare
INTERNAL."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from attestgate.gateway.ops.logs import JsonFormatter, redact
from attestgate.gateway.transport.errors import domain_status, status_for_exception
from attestgate.protocol.reasons import REASON_STATUS, DomainError, FieldViolation, Reason


def decode(status: grpc.Status) -> status_pb2.Status:
    (value,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    return status_pb2.Status.FromString(value)


def unpack(detail: Any, cls: type) -> Any:
    message = cls()
    detail.Unpack(message)
    return message


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_gets_its_status_and_error_info(reason: Reason) -> None:
    status = domain_status(DomainError(reason, "refused", metadata={"k": "v"}))
    assert status.code == grpc.StatusCode[REASON_STATUS[reason]]
    assert status.details == "refused"
    rich = decode(status)
    assert rich.code == status.code.value[0]
    (detail,) = rich.details
    info = unpack(detail, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        reason.value,
        "attestgate",
        {"k": "v"},
    )


def test_field_violations_become_bad_request() -> None:
    error = DomainError(
        Reason.INVALID_ARGUMENT,
        "bad",
        violations=[FieldViolation("amount", "must be > 0"), FieldViolation("currency", "ISO")],
    )
    info, bad = decode(domain_status(error)).details
    assert info.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    request = unpack(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in request.field_violations] == [
        ("amount", "must be > 0"),
        ("currency", "ISO"),
    ]


def test_unexpected_exception_is_internal_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="attestgate.errors")
    status, correlation_id = status_for_exception(
        RuntimeError("db password is hunter2"), method="/m"
    )
    assert correlation_id is not None
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == f"internal error (correlation id {correlation_id})"
    (detail,) = decode(status).details
    info = unpack(detail, error_details_pb2.ErrorInfo)
    assert info.reason == "INTERNAL"
    assert dict(info.metadata) == {"correlation_id": correlation_id}
    assert b"hunter2" not in repr(status).encode()
    (record,) = caplog.records
    assert getattr(record, "correlation_id", None) == correlation_id
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


def test_domain_error_is_not_logged_as_internal(caplog: pytest.LogCaptureFixture) -> None:
    status, correlation_id = status_for_exception(
        DomainError(Reason.CONSENT_PAUSED, "paused"), method="/m"
    )
    assert correlation_id is None
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION
    assert not caplog.records


def test_log_redaction_safety_net() -> None:
    token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    line = redact(f"calling with authorization: Bearer {token} and again {token}~WyJ~")
    assert "eyJ" not in line
    assert "c2lnbmF0dXJl" not in line
    assert line.count("[REDACTED]") == 2


def test_json_log_lines_are_redacted() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("attestgate.test.redaction")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        logger.warning("token %s", "eyJa.eyJb.sig", extra={"method": "/m"})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "token [REDACTED]"
    assert entry["method"] == "/m"
    assert entry["level"] == "WARNING"
