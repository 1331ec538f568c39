"""sdk.errors: every reason and status code maps to a class; rich details survive the trip."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from attestgate.gateway.transport.errors import domain_status, internal_status
from attestgate.protocol.reasons import REASON_STATUS, DomainError, FieldViolation, Reason
from attestgate.sdk import errors


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a failed blocking call raises, built from a server-side status."""

    def __init__(self, status: grpc.Status | None, code: grpc.StatusCode = grpc.StatusCode.OK):
        self._code = status.code if status else code
        self._details = status.details if status else "plain"
        self._trailing = status.trailing_metadata if status else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_maps_to_a_class_of_its_status(reason: Reason) -> None:
    code = REASON_STATUS[reason]
    mapped = errors.from_rpc_error(FakeRpcError(domain_status(DomainError(reason, "m"))))
    assert code in type(mapped).grpc_codes
    assert mapped.reason is reason
    assert mapped.code == code
    assert mapped.message == "m"


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
def test_every_status_code_maps_without_details(code: grpc.StatusCode) -> None:
    mapped = errors.from_rpc_error(FakeRpcError(None, code))
    assert code.name in type(mapped).grpc_codes
    assert mapped.reason == ""


@pytest.mark.parametrize(
    ("reason", "cls"),
    [
        (Reason.ATTESTATION_ALREADY_REDEEMED, errors.AlreadyRedeemed),
        (Reason.ATTESTATION_EXPIRED, errors.AttestationExpired),
        (Reason.CONSENT_REVOKED, errors.ConsentRevoked),
        (Reason.CONSENT_PAUSED, errors.ConsentPaused),
        (Reason.CAPACITY_EXHAUSTED, errors.CapacityExhausted),
        (Reason.NOTHING_TO_DISCLOSE, errors.NothingToDisclose),
        (Reason.DATA_ERASED, errors.DataErased),
        (Reason.ATTESTATION_INVALID, errors.InvalidAttestation),
        (Reason.TOKEN_EXPIRED, errors.AuthenticationError),
        (Reason.ROLE_NOT_ALLOWED, errors.PermissionDenied),
        (Reason.REQUEST_ID_CONFLICT, errors.Conflict),
        (Reason.NOT_IMPLEMENTED, errors.Unimplemented),
        (Reason.INDEX_OUT_OF_RANGE, errors.OutOfRange),
    ],
)
def test_specific_classes(reason: Reason, cls: type[errors.AttestgateError]) -> None:
    assert type(errors.from_rpc_error(FakeRpcError(domain_status(DomainError(reason, "m"))))) is cls


def test_failed_precondition_family() -> None:
    mapped = errors.from_rpc_error(
        FakeRpcError(domain_status(DomainError(Reason.ATTESTATION_ALREADY_REDEEMED, "once")))
    )
    assert isinstance(mapped, errors.FailedPrecondition)
    assert isinstance(mapped, errors.AttestgateError)


def test_violations_and_metadata_survive() -> None:
    error = DomainError(
        Reason.INVALID_ARGUMENT,
        "bad",
        metadata={"field_count": "1"},
        violations=[FieldViolation("amount", "must be positive")],
    )
    mapped = errors.from_rpc_error(FakeRpcError(domain_status(error)))
    assert isinstance(mapped, errors.InvalidArgument)
    assert mapped.violations == (FieldViolation("amount", "must be positive"),)
    assert mapped.metadata == {"field_count": "1"}


def test_internal_carries_the_correlation_id() -> None:
    mapped = errors.from_rpc_error(FakeRpcError(internal_status("abc123")))
    assert isinstance(mapped, errors.InternalError)
    assert mapped.metadata == {"correlation_id": "abc123"}


def test_reason_class_disagreeing_with_code_falls_back_to_code() -> None:
    assert errors.error_class("ATTESTATION_ALREADY_REDEEMED", "INTERNAL") is errors.InternalError
    assert errors.error_class("SOMETHING_NEW", "FAILED_PRECONDITION") is errors.FailedPrecondition


def test_local_construction_uses_class_defaults() -> None:
    error = errors.InvalidAttestation("signature does not verify")
    assert (error.code, error.reason) == ("INVALID_ARGUMENT", Reason.ATTESTATION_INVALID)
    assert str(error) == "ATTESTATION_INVALID: signature does not verify"


def test_public_surface_is_pinned() -> None:
    assert set(errors.__all__) == {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.AttestgateError)
    } | {"error_class", "from_rpc_error"}
