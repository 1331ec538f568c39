"""The reason table: every reason has a valid status; names are stable UPPER_SNAKE; the SDK's
public module re-exports the kernel's objects."""

from __future__ import annotations

import re

import grpc
import pytest

from attestgate.protocol import reasons as kernel
from attestgate.protocol.reasons import (
    REASON_STATUS,
    DomainError,
    FieldViolation,
    Reason,
    invalid_argument,
)
from attestgate.sdk import reasons as public


@pytest.mark.parametrize("reason", list(Reason))
def test_reason_has_a_real_status(reason: Reason) -> None:
    assert reason.value == reason.name
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", reason.value)
    code = grpc.StatusCode[REASON_STATUS[reason]]
    assert code is not grpc.StatusCode.OK


def test_auth_reasons() -> None:
    token_reasons = {r for r in Reason if r.name.startswith("TOKEN_")}
    assert {REASON_STATUS[r] for r in token_reasons} == {"UNAUTHENTICATED"}
    assert REASON_STATUS[Reason.ROLE_NOT_ALLOWED] == "PERMISSION_DENIED"
    assert [r for r in Reason if REASON_STATUS[r] == "INTERNAL"] == [Reason.INTERNAL]


def test_domain_error_carries_everything() -> None:
    error = DomainError(Reason.CONSENT_PAUSED, "paused", metadata={"consent": "consents/1"})
    assert error.status_name == "FAILED_PRECONDITION"
    assert error.metadata == {"consent": "consents/1"}
    assert str(error) == "paused"


def test_invalid_argument_helper() -> None:
    error = invalid_argument(FieldViolation("amount", "must be positive"))
    assert error.reason is Reason.INVALID_ARGUMENT
    assert error.message == "amount: must be positive"
    assert error.violations == (FieldViolation("amount", "must be positive"),)


def test_the_sdk_module_re_exports_the_same_objects() -> None:
    names = {"ERROR_DOMAIN", "REASON_STATUS", "DomainError", "FieldViolation", "Reason"}
    assert set(public.__all__) == names | {"invalid_argument"}
    assert all(getattr(public, name) is getattr(kernel, name) for name in public.__all__)
