"""``attestgate.sdk._internal.status``: the SDK's mirrors of the google.rpc error messages are wire
compatible with googleapis-common-protos, and statuses the gateway encodes decode as sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from attestgate.gateway.common.limits import RetryLaterError
from attestgate.gateway.transport.errors import domain_status, internal_status
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason
from attestgate.sdk._internal import status
from attestgate.sdk._internal.status import DETAILS_KEY, ErrorInfo, StatusDetails, status_details


class Failed(grpc.RpcError):
    """A failed call as grpc raises it: code, message and trailers."""

    def __init__(self, code: grpc.StatusCode, message: str, trailers: Any) -> None:
        super().__init__(message)
        self._code, self._message, self._trailers = code, message, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    # grpc's trailers are (key, value) namedtuples; types-grpcio 1.85 declares RpcError's as a
    # `_Metadatum` class that is no tuple (and cannot be built outside the stubs).
    def trailing_metadata(self) -> Any:
        return self._trailers


def _failed(sent: grpc.Status) -> Failed:
    return Failed(sent.code, sent.details, sent.trailing_metadata)


@pytest.mark.parametrize(
    ("mirror", "real", "read"),
    [
        ("Status", status_pb2.Status, {"code", "message", "details"}),
        ("ErrorInfo", error_details_pb2.ErrorInfo, {"reason", "domain", "metadata"}),
        ("BadRequest", error_details_pb2.BadRequest, {"field_violations"}),
        ("RetryInfo", error_details_pb2.RetryInfo, {"retry_delay"}),
    ],
)
def test_each_mirror_has_the_full_name_and_fields_of_the_real_message(
    mirror: str, real: Any, read: set[str]
) -> None:
    def fields(message: Any) -> set[tuple[Any, ...]]:  # a Descriptor (upb or Python)
        found = {
            (f.name, f.number, f.type, f.is_repeated, f.message_type and f.message_type.full_name)
            for f in message.fields
        }
        for nested in message.nested_types:
            found |= {(nested.full_name, *field) for field in fields(nested)}
        return found

    ours = status._CLASSES[mirror].DESCRIPTOR
    assert ours.full_name == real.DESCRIPTOR.full_name  # the Any type URL's last segment
    assert {f.name for f in ours.fields} == read
    assert fields(ours) <= fields(real.DESCRIPTOR)  # as the real proto defines them, nested too


def test_a_domain_refusal_decodes_as_the_gateway_sent_it() -> None:
    error = DomainError(
        Reason.INVALID_ARGUMENT,
        "fix the fields",
        metadata={"field": "claims"},
        violations=[FieldViolation("claims", "unknown claim"), FieldViolation("amount", "< 0")],
    )
    assert status_details(_failed(domain_status(error))) == StatusDetails(
        error_infos=(ErrorInfo("INVALID_ARGUMENT", "attestgate", {"field": "claims"}),),
        field_violations=(("claims", "unknown claim"), ("amount", "< 0")),
    )


def test_a_retry_hint_decodes_in_seconds() -> None:
    error = RetryLaterError(Reason.OVERLOADED, "busy", retry_after=timedelta(milliseconds=1500))
    details = status_details(_failed(domain_status(error)))
    assert details.retry_delays == (1.5,)
    assert [i.reason for i in details.error_infos] == ["OVERLOADED"]


def test_an_internal_error_carries_only_its_correlation_id() -> None:
    details = status_details(_failed(internal_status("abc123")))
    assert details == StatusDetails(
        (ErrorInfo("INTERNAL", "attestgate", {"correlation_id": "abc123"}),)
    )


def test_details_that_contradict_the_status_line_are_ignored() -> None:
    sent = domain_status(DomainError(Reason.CONSENT_REVOKED, "revoked"))
    assert status_details(_failed(sent)).error_infos
    assert (
        status_details(Failed(grpc.StatusCode.NOT_FOUND, sent.details, sent.trailing_metadata))
        == StatusDetails()
    )
    assert (
        status_details(Failed(sent.code, "other message", sent.trailing_metadata))
        == StatusDetails()
    )


@pytest.mark.parametrize(
    "trailers",
    [None, (), (("other-bin", b"\x08\x05"),), ((DETAILS_KEY, b"\xff\xff\xff"),)],
    ids=["none", "empty", "no-details", "garbage"],
)
def test_no_or_unreadable_details_say_nothing(trailers: Any) -> None:
    assert status_details(Failed(grpc.StatusCode.UNAVAILABLE, "m", trailers)) == StatusDetails()
    assert status_details(ValueError("not a call")) == StatusDetails()
