"""Stable error reasons: the one table shared by the gateway, the SDK and the cores.

Every refusal the gateway sends carries a ``google.rpc.ErrorInfo`` with domain ``attestgate``
and one of these UPPER_SNAKE reasons. The reason decides the gRPC status code
(``REASON_STATUS``); the SDK maps the reason back to an exception class
(``attestgate.sdk.errors``). Reasons are public contracts: add new ones, never rename or
repurpose one. ``attestgate.sdk.reasons`` re-exports these same objects (the public name in
docs/errors.md).

``DomainError`` is what server-side code (``consent``, ``audit``, ``gateway``) raises for an
expected refusal. It carries no gRPC type so that the kernel and the core packages stay free of
grpc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

ERROR_DOMAIN = "attestgate"


class Reason(StrEnum):
    """Every stable error reason, grouped by the gRPC status it maps to."""

    # UNAUTHENTICATED: the bearer token is missing or not acceptable.
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_MALFORMED = "TOKEN_MALFORMED"
    TOKEN_ALGORITHM_NOT_ALLOWED = "TOKEN_ALGORITHM_NOT_ALLOWED"
    TOKEN_UNKNOWN_KEY = "TOKEN_UNKNOWN_KEY"
    TOKEN_SIGNATURE_INVALID = "TOKEN_SIGNATURE_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_NOT_YET_VALID = "TOKEN_NOT_YET_VALID"
    TOKEN_WRONG_ISSUER = "TOKEN_WRONG_ISSUER"
    TOKEN_WRONG_AUDIENCE = "TOKEN_WRONG_AUDIENCE"
    TOKEN_CLAIMS_INVALID = "TOKEN_CLAIMS_INVALID"
    TOKEN_CERTIFICATE_MISMATCH = "TOKEN_CERTIFICATE_MISMATCH"

    # PERMISSION_DENIED: authenticated, but not allowed to do this.
    ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"
    NOT_CONSENT_OWNER = "NOT_CONSENT_OWNER"
    NOT_CONSENT_GRANTEE = "NOT_CONSENT_GRANTEE"
    NOT_ATTESTATION_HOLDER = "NOT_ATTESTATION_HOLDER"
    UNKNOWN_PROVIDER = "UNKNOWN_PROVIDER"
    PROVIDER_NOT_ALLOWED_FOR_DOMAIN = "PROVIDER_NOT_ALLOWED_FOR_DOMAIN"
    PROVIDER_ROLE_MISSING = "PROVIDER_ROLE_MISSING"
    FX_RATES_NOT_ALLOWED = "FX_RATES_NOT_ALLOWED"
    NOT_PLEDGEE = "NOT_PLEDGEE"
    CONSENT_NOT_FOR_ASSET = "CONSENT_NOT_FOR_ASSET"
    HISTORY_NOT_ALLOWED_FOR_PURPOSE = "HISTORY_NOT_ALLOWED_FOR_PURPOSE"
    PARAMS_EXCEED_CONSENT = "PARAMS_EXCEED_CONSENT"

    # INVALID_ARGUMENT: the request itself is wrong; nothing was changed.
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_DOMAIN = "UNKNOWN_DOMAIN"
    UNKNOWN_PURPOSE = "UNKNOWN_PURPOSE"
    UNKNOWN_CLAIM = "UNKNOWN_CLAIM"
    INVALID_PREDICATE_PARAMS = "INVALID_PREDICATE_PARAMS"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    VALIDITY_EXCEEDS_PURPOSE = "VALIDITY_EXCEEDS_PURPOSE"
    USES_EXCEED_PURPOSE = "USES_EXCEED_PURPOSE"
    CLAIM_NOT_ALLOWED_FOR_PURPOSE = "CLAIM_NOT_ALLOWED_FOR_PURPOSE"
    RECORD_SIGNATURE_INVALID = "RECORD_SIGNATURE_INVALID"
    RECORD_INVALID = "RECORD_INVALID"
    ATTESTATION_INVALID = "ATTESTATION_INVALID"

    # NOT_FOUND
    CONSENT_REQUEST_NOT_FOUND = "CONSENT_REQUEST_NOT_FOUND"
    CONSENT_NOT_FOUND = "CONSENT_NOT_FOUND"
    RECORD_NOT_FOUND = "RECORD_NOT_FOUND"
    ATTESTATION_NOT_FOUND = "ATTESTATION_NOT_FOUND"
    CHECKPOINT_NOT_FOUND = "CHECKPOINT_NOT_FOUND"

    # ALREADY_EXISTS
    REQUEST_ID_CONFLICT = "REQUEST_ID_CONFLICT"

    # FAILED_PRECONDITION: the request is well formed, but the state of the system refuses it.
    CONSENT_REQUEST_NOT_PENDING = "CONSENT_REQUEST_NOT_PENDING"
    CONSENT_REQUEST_EXPIRED = "CONSENT_REQUEST_EXPIRED"
    CONSENT_NOT_ACTIVE = "CONSENT_NOT_ACTIVE"
    CONSENT_NOT_PAUSED = "CONSENT_NOT_PAUSED"
    CONSENT_PAUSED = "CONSENT_PAUSED"
    CONSENT_REVOKED = "CONSENT_REVOKED"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_EXHAUSTED = "CONSENT_EXHAUSTED"
    NOTHING_TO_DISCLOSE = "NOTHING_TO_DISCLOSE"
    DATA_ERASED = "DATA_ERASED"
    FX_RATE_UNAVAILABLE = "FX_RATE_UNAVAILABLE"
    ATTESTATION_ALREADY_REDEEMED = "ATTESTATION_ALREADY_REDEEMED"
    ATTESTATION_EXPIRED = "ATTESTATION_EXPIRED"
    CAPACITY_EXHAUSTED = "CAPACITY_EXHAUSTED"
    RECORD_VERSION_CONFLICT = "RECORD_VERSION_CONFLICT"
    FX_TABLE_OUT_OF_ORDER = "FX_TABLE_OUT_OF_ORDER"
    NOTHING_TO_RELEASE = "NOTHING_TO_RELEASE"
    RECORD_CONTRADICTS_PLEDGE = "RECORD_CONTRADICTS_PLEDGE"
    RECORD_TRANSFERRED = "RECORD_TRANSFERRED"
    ASSET_PLEDGED = "ASSET_PLEDGED"

    # OUT_OF_RANGE
    TREE_SIZE_OUT_OF_RANGE = "TREE_SIZE_OUT_OF_RANGE"
    INDEX_OUT_OF_RANGE = "INDEX_OUT_OF_RANGE"

    # RESOURCE_EXHAUSTED
    OVERLOADED = "OVERLOADED"
    RATE_LIMITED = "RATE_LIMITED"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    EVALUATION_BUDGET_EXHAUSTED = "EVALUATION_BUDGET_EXHAUSTED"
    TOO_MANY_PENDING_REQUESTS = "TOO_MANY_PENDING_REQUESTS"
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"

    # UNAVAILABLE
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    SHUTTING_DOWN = "SHUTTING_DOWN"

    # UNIMPLEMENTED
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"

    # INTERNAL (never with details)
    INTERNAL = "INTERNAL"


def _status_table() -> dict[Reason, str]:
    groups: dict[str, Sequence[Reason]] = {
        "UNAUTHENTICATED": [r for r in Reason if r.name.startswith("TOKEN_")],
        "PERMISSION_DENIED": [
            Reason.ROLE_NOT_ALLOWED,
            Reason.NOT_CONSENT_OWNER,
            Reason.NOT_CONSENT_GRANTEE,
            Reason.NOT_ATTESTATION_HOLDER,
            Reason.UNKNOWN_PROVIDER,
            Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
            Reason.PROVIDER_ROLE_MISSING,
            Reason.FX_RATES_NOT_ALLOWED,
            Reason.NOT_PLEDGEE,
            Reason.CONSENT_NOT_FOR_ASSET,
            Reason.HISTORY_NOT_ALLOWED_FOR_PURPOSE,
            Reason.PARAMS_EXCEED_CONSENT,
        ],
        "INVALID_ARGUMENT": [
            Reason.INVALID_ARGUMENT,
            Reason.UNKNOWN_DOMAIN,
            Reason.UNKNOWN_PURPOSE,
            Reason.UNKNOWN_CLAIM,
            Reason.INVALID_PREDICATE_PARAMS,
            Reason.INVALID_PAGE_TOKEN,
            Reason.VALIDITY_EXCEEDS_PURPOSE,
            Reason.USES_EXCEED_PURPOSE,
            Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE,
            Reason.RECORD_SIGNATURE_INVALID,
            Reason.RECORD_INVALID,
            Reason.ATTESTATION_INVALID,
        ],
        "NOT_FOUND": [r for r in Reason if r.name.endswith("_NOT_FOUND")],
        "ALREADY_EXISTS": [Reason.REQUEST_ID_CONFLICT],
        "FAILED_PRECONDITION": [
            Reason.CONSENT_REQUEST_NOT_PENDING,
            Reason.CONSENT_REQUEST_EXPIRED,
            Reason.CONSENT_NOT_ACTIVE,
            Reason.CONSENT_NOT_PAUSED,
            Reason.CONSENT_PAUSED,
            Reason.CONSENT_REVOKED,
            Reason.CONSENT_EXPIRED,
            Reason.CONSENT_EXHAUSTED,
            Reason.NOTHING_TO_DISCLOSE,
            Reason.DATA_ERASED,
            Reason.FX_RATE_UNAVAILABLE,
            Reason.ATTESTATION_ALREADY_REDEEMED,
            Reason.ATTESTATION_EXPIRED,
            Reason.CAPACITY_EXHAUSTED,
            Reason.RECORD_VERSION_CONFLICT,
            Reason.FX_TABLE_OUT_OF_ORDER,
            Reason.NOTHING_TO_RELEASE,
            Reason.RECORD_CONTRADICTS_PLEDGE,
            Reason.RECORD_TRANSFERRED,
            Reason.ASSET_PLEDGED,
        ],
        "OUT_OF_RANGE": [Reason.TREE_SIZE_OUT_OF_RANGE, Reason.INDEX_OUT_OF_RANGE],
        "RESOURCE_EXHAUSTED": [
            Reason.OVERLOADED,
            Reason.RATE_LIMITED,
            Reason.MESSAGE_TOO_LARGE,
            Reason.EVALUATION_BUDGET_EXHAUSTED,
            Reason.TOO_MANY_PENDING_REQUESTS,
            Reason.TOO_MANY_STREAMS,
        ],
        "UNAVAILABLE": [Reason.STORAGE_UNAVAILABLE, Reason.SHUTTING_DOWN],
        "UNIMPLEMENTED": [Reason.NOT_IMPLEMENTED],
        "INTERNAL": [Reason.INTERNAL],
    }
    table = {reason: code for code, reasons in groups.items() for reason in reasons}
    missing = [r for r in Reason if r not in table]
    if missing:  # pragma: no cover - guarded by tests/unit/sdk/test_reasons.py
        raise RuntimeError(f"reasons without a status: {missing}")
    return table


REASON_STATUS: Mapping[Reason, str] = _status_table()
"""Reason -> gRPC status code name (``grpc.StatusCode[name]``)."""


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field (``google.rpc.BadRequest.FieldViolation``)."""

    field: str
    description: str


class DomainError(Exception):
    """An expected refusal with a stable reason; the gateway turns it into a gRPC status.

    ``message`` is shown to the caller, so it must never contain a personal value, a token or a key.
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: tuple[FieldViolation, ...] = tuple(violations)

    @property
    def status_name(self) -> str:
        """The gRPC status code name this error maps to."""
        return REASON_STATUS[self.reason]

    def __repr__(self) -> str:
        return f"DomainError({self.reason.value}, {self.message!r})"


def invalid_argument(*violations: FieldViolation, message: str = "") -> DomainError:
    """A ``INVALID_ARGUMENT`` error listing the bad fields."""
    text = message or "; ".join(f"{v.field}: {v.description}" for v in violations)
    return DomainError(Reason.INVALID_ARGUMENT, text or "invalid argument", violations=violations)
