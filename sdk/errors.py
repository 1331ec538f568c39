"""Exceptions raised by the attestgate SDK.

Every failure, remote or local, is an ``AttestgateError``::

    AttestgateError                       code / reason / message / metadata / violations
    ├── AuthenticationError               UNAUTHENTICATED (TOKEN_*)
    ├── PermissionDenied                  PERMISSION_DENIED
    ├── InvalidArgument                   INVALID_ARGUMENT (field violations)
    │   ├── OutOfRange                    OUT_OF_RANGE
    │   └── InvalidInput                  refused by the SDK before sending (also a ValueError)
    ├── NotFound                          NOT_FOUND
    ├── Conflict                          ALREADY_EXISTS, ABORTED
    ├── FailedPrecondition                FAILED_PRECONDITION
    │   ├── AlreadyRedeemed               ATTESTATION_ALREADY_REDEEMED
    │   ├── AttestationExpired            ATTESTATION_EXPIRED
    │   ├── ConsentRevoked                CONSENT_REVOKED
    │   ├── ConsentPaused                 CONSENT_PAUSED
    │   ├── CapacityExhausted             CAPACITY_EXHAUSTED
    │   ├── NothingToDisclose             NOTHING_TO_DISCLOSE
    │   └── DataErased                    DATA_ERASED
    ├── InvalidAttestation                ATTESTATION_INVALID, and offline verification failures
    │   └── HolderKeyMismatch             bound to another holder key (refused before sending)
    ├── ResourceExhausted                 RESOURCE_EXHAUSTED
    │   ├── EvaluationBudgetExhausted     EVALUATION_BUDGET_EXHAUSTED
    │   └── TooManyPendingRequests        TOO_MANY_PENDING_REQUESTS
    ├── Unavailable                       UNAVAILABLE
    │   └── DeadlineExceeded              DEADLINE_EXCEEDED
    ├── Cancelled                         CANCELLED
    ├── Unimplemented                     UNIMPLEMENTED
    └── InternalError                     INTERNAL, UNKNOWN, DATA_LOSS

``from_rpc_error`` is the one place a ``grpc.RpcError`` becomes one of these: by the ErrorInfo
reason first (``google.rpc.ErrorInfo`` in the status details, domain ``attestgate``), then by
status code. ``tests/unit/sdk/test_errors.py`` fails if a ``Reason`` or a status code is unmapped.
A call that never reached the gateway gets a client-side reason (``TLS_CERTIFICATE_UNTRUSTED``,
``TLS_NOT_SERVED``, ``CONNECTION_CLOSED``, ``TARGET_UNRESOLVED``, ``GATEWAY_UNREACHABLE``).
``str(error)`` is ``REASON: message``, then the field violations and a one-line ``hint`` saying
what to do when there is one. SDK errors are raised ``from None`` (a traceback ends at the SDK
method called); the gRPC error they translate stays available as ``rpc_error``.
"""

# The class names are the public API (api-core style, DESIGN.md "Errors"); "Error" suffixes on
# every one would read worse at the call site: `except AlreadyRedeemed`.
# ruff: noqa: N818

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import grpc

from attestgate.protocol.reasons import ERROR_DOMAIN, FieldViolation, Reason
from attestgate.sdk._internal import hints
from attestgate.sdk._internal.status import status_details

__all__ = [
    "AlreadyRedeemed",
    "AttestationExpired",
    "AttestgateError",
    "AuthenticationError",
    "Cancelled",
    "CapacityExhausted",
    "Conflict",
    "ConsentPaused",
    "ConsentRevoked",
    "DataErased",
    "DeadlineExceeded",
    "EvaluationBudgetExhausted",
    "FailedPrecondition",
    "HolderKeyMismatch",
    "InternalError",
    "InvalidArgument",
    "InvalidAttestation",
    "InvalidInput",
    "NotFound",
    "NothingToDisclose",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "TooManyPendingRequests",
    "Unavailable",
    "Unimplemented",
    "error_class",
    "from_rpc_error",
]


class AttestgateError(Exception):
    """Base of every SDK error.

    ``code`` is the gRPC status code name (``"FAILED_PRECONDITION"``), ``reason`` the stable
    UPPER_SNAKE reason (a ``Reason`` when this SDK knows it, else the raw string; ``""`` when the
    server sent none), ``metadata`` the ErrorInfo metadata, ``violations`` the BadRequest field
    violations, ``hint`` one line saying what to do (``""``: none known) and ``rpc_error`` the
    ``grpc.RpcError`` translated (``None`` for errors raised by the SDK itself).
    """

    grpc_codes: ClassVar[tuple[str, ...]] = ("UNKNOWN",)
    default_reason: ClassVar[Reason] = Reason.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        reason: Reason | str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or self.grpc_codes[0]
        # None: the class default (local errors); "" : the server sent no ErrorInfo.
        self.reason: Reason | str = self.default_reason if reason is None else reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        self.hint = hint
        self.rpc_error: BaseException | None = None

    def __str__(self) -> str:
        text = f"{self.reason or self.code}: {self.message}"
        if self.violations:
            text += " (" + "; ".join(f"{v.field}: {v.description}" for v in self.violations) + ")"
        return f"{text}; hint: {self.hint}" if self.hint else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {str(self.reason)!r}, {self.message!r})"


class AuthenticationError(AttestgateError):
    """The bearer token is missing or not acceptable."""

    grpc_codes = ("UNAUTHENTICATED",)
    default_reason = Reason.TOKEN_MISSING


class PermissionDenied(AttestgateError):
    """Authenticated, but not allowed (role, ownership, provider)."""

    grpc_codes = ("PERMISSION_DENIED",)
    default_reason = Reason.ROLE_NOT_ALLOWED


class InvalidArgument(AttestgateError):
    """The request was wrong; ``violations`` names the fields. Nothing changed."""

    grpc_codes = ("INVALID_ARGUMENT",)
    default_reason = Reason.INVALID_ARGUMENT


class InvalidInput(InvalidArgument, ValueError):
    """An argument the SDK refused before sending anything (a float amount, a claims string, a
    missing CA file, a URL as target...); ``violations`` names it. Also a ``ValueError``."""


class OutOfRange(InvalidArgument):
    """A tree size or index beyond the log."""

    grpc_codes = ("OUT_OF_RANGE",)
    default_reason = Reason.INDEX_OUT_OF_RANGE


class NotFound(AttestgateError):
    """The named resource does not exist (or is not visible to the caller)."""

    grpc_codes = ("NOT_FOUND",)
    default_reason = Reason.CONSENT_NOT_FOUND


class Conflict(AttestgateError):
    """The request conflicts with an earlier one (e.g. a reused request_id)."""

    grpc_codes = ("ALREADY_EXISTS", "ABORTED")
    default_reason = Reason.REQUEST_ID_CONFLICT


class FailedPrecondition(AttestgateError):
    """Well formed, but the state of the system refuses it."""

    grpc_codes = ("FAILED_PRECONDITION",)
    default_reason = Reason.CONSENT_NOT_ACTIVE


class AlreadyRedeemed(FailedPrecondition):
    """The attestation was redeemed before; it backs one transaction only."""

    default_reason = Reason.ATTESTATION_ALREADY_REDEEMED


class AttestationExpired(FailedPrecondition):
    """The attestation's ``exp`` has passed."""

    default_reason = Reason.ATTESTATION_EXPIRED


class ConsentRevoked(FailedPrecondition):
    """The owner revoked the consent."""

    default_reason = Reason.CONSENT_REVOKED


class ConsentPaused(FailedPrecondition):
    """The owner paused the consent; it may be resumed."""

    default_reason = Reason.CONSENT_PAUSED


class CapacityExhausted(FailedPrecondition):
    """The record cannot back this amount / pledge any more."""

    default_reason = Reason.CAPACITY_EXHAUSTED


class NothingToDisclose(FailedPrecondition):
    """Requested, consented and purpose-allowed claims do not intersect."""

    default_reason = Reason.NOTHING_TO_DISCLOSE


class DataErased(FailedPrecondition):
    """The subject's data was erased (crypto-shredded)."""

    default_reason = Reason.DATA_ERASED


class InvalidAttestation(AttestgateError):
    """An attestation or presentation failed verification (remote or offline).

    One opaque class on purpose: callers get no oracle; the precise cause goes to the audit log.
    """

    grpc_codes = ("INVALID_ARGUMENT",)
    default_reason = Reason.ATTESTATION_INVALID


class HolderKeyMismatch(InvalidAttestation):
    """The attestation is bound (``cnf.jwk``) to another holder key than this client's: the
    gateway would refuse its presentation, so it is not sent. Redeem with the client (or the
    ``holder_key=``) that obtained it; keep the key with ``HolderKey.save``/``load``."""


class ResourceExhausted(AttestgateError):
    """Overloaded, rate limited or a message too large; retry later or send less."""

    grpc_codes = ("RESOURCE_EXHAUSTED",)
    default_reason = Reason.OVERLOADED


class EvaluationBudgetExhausted(ResourceExhausted):
    """The bank has had every predicate evaluation the purpose allows on this record in this
    period; ``metadata["renews_at"]`` (RFC 3339) says when the budget renews. Not retried."""

    default_reason = Reason.EVALUATION_BUDGET_EXHAUSTED


class TooManyPendingRequests(ResourceExhausted):
    """The bank already has the maximum of undecided requests to this owner
    (``metadata["limit"]``); ask again once the owner decided some or they expired."""

    default_reason = Reason.TOO_MANY_PENDING_REQUESTS


class Unavailable(AttestgateError):
    """The gateway (or its storage) is not reachable right now; safe to retry idempotent calls."""

    grpc_codes = ("UNAVAILABLE",)
    default_reason = Reason.STORAGE_UNAVAILABLE


class DeadlineExceeded(Unavailable):
    """The call did not finish within its deadline; its outcome is unknown."""

    grpc_codes = ("DEADLINE_EXCEEDED",)


class Cancelled(AttestgateError):
    """The call was cancelled (usually by the caller)."""

    grpc_codes = ("CANCELLED",)


class Unimplemented(AttestgateError):
    """The gateway does not implement this method (yet)."""

    grpc_codes = ("UNIMPLEMENTED",)
    default_reason = Reason.NOT_IMPLEMENTED


class InternalError(AttestgateError):
    """The gateway failed unexpectedly; ``metadata["correlation_id"]`` ties it to its logs."""

    grpc_codes = ("INTERNAL", "UNKNOWN", "DATA_LOSS")


_BY_REASON: Mapping[Reason, type[AttestgateError]] = {
    Reason.ATTESTATION_ALREADY_REDEEMED: AlreadyRedeemed,
    Reason.ATTESTATION_EXPIRED: AttestationExpired,
    Reason.CONSENT_REVOKED: ConsentRevoked,
    Reason.CONSENT_PAUSED: ConsentPaused,
    Reason.CAPACITY_EXHAUSTED: CapacityExhausted,
    Reason.NOTHING_TO_DISCLOSE: NothingToDisclose,
    Reason.DATA_ERASED: DataErased,
    Reason.ATTESTATION_INVALID: InvalidAttestation,
    Reason.EVALUATION_BUDGET_EXHAUSTED: EvaluationBudgetExhausted,
    Reason.TOO_MANY_PENDING_REQUESTS: TooManyPendingRequests,
    Reason.PARAMS_EXCEED_CONSENT: PermissionDenied,
}
_CODE_CLASSES: tuple[type[AttestgateError], ...] = (
    AuthenticationError,
    PermissionDenied,
    InvalidArgument,
    OutOfRange,
    NotFound,
    Conflict,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    DeadlineExceeded,
    Cancelled,
    Unimplemented,
    InternalError,
)
_BY_CODE: Mapping[str, type[AttestgateError]] = {
    code: cls for cls in _CODE_CLASSES for code in cls.grpc_codes
}


def error_class(reason: str | None, code: str) -> type[AttestgateError]:
    """The exception class for a reason and status code name: by reason when the reason's class
    agrees with the code, else by code (unknown codes: ``InternalError``)."""
    if reason is not None and reason in Reason.__members__:
        by_reason = _BY_REASON.get(Reason(reason))
        if by_reason is not None and code in by_reason.grpc_codes:
            return by_reason
    return _BY_CODE.get(code, InternalError)


def _details(error: grpc.RpcError) -> tuple[str | None, dict[str, str], list[FieldViolation]]:
    """The last ErrorInfo of our domain (reason, metadata) and the BadRequest field violations."""
    details = status_details(error)
    reason: str | None = None
    metadata: dict[str, str] = {}
    for info in details.error_infos:
        if info.domain == ERROR_DOMAIN:
            reason, metadata = info.reason, dict(info.metadata)
    violations = [FieldViolation(field, text) for field, text in details.field_violations]
    return reason, metadata, violations


def from_rpc_error(error: grpc.RpcError) -> AttestgateError:
    """Translate a failed call into the matching ``AttestgateError`` subclass."""
    code_fn = getattr(error, "code", None)
    status_code = code_fn() if callable(code_fn) else None
    code = status_code.name if isinstance(status_code, grpc.StatusCode) else "UNKNOWN"
    details_fn = getattr(error, "details", None)
    message = (details_fn() if callable(details_fn) else None) or code.lower().replace("_", " ")
    reason, metadata, violations = _details(error)
    cls = error_class(reason, code)
    known: Reason | str = reason or ""
    if known in Reason.__members__:
        known = Reason(known)
    hint = hints.hint(known)
    transport = None if reason else hints.transport_failure(code, str(message))
    if transport is not None:
        known, hint = transport
    mapped = cls(
        str(message), code=code, reason=known, metadata=metadata, violations=violations, hint=hint
    )
    mapped.rpc_error = error
    return mapped
