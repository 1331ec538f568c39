"""Consent values: ids, states, the consent request and the consent artefact.

The artefact follows India's Account Aggregator consent artefact (ReBIT AA API spec, "Consent
Artefact"): who (owner, grantee), what (domain, claims, record selector), why (purpose), how long
(valid_from/valid_until, data_life) and how often (max_uses). Every value here is immutable; a state
or usage change is a ``dataclasses.replace`` of the same consent, a change of terms is a new consent
(DESIGN.md "Consent").

All datetimes are timezone-aware UTC; ``__post_init__`` refuses naive ones so that a comparison can
never silently mix local and UTC time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NewType

ConsentId = NewType("ConsentId", str)
"""Gateway-assigned id of a consent artefact."""
RequestId = NewType("RequestId", str)
"""Gateway-assigned id of a consent request."""
OwnerId = NewType("OwnerId", str)
"""The data subject: the ``sub`` of an owner token."""
GranteeId = NewType("GranteeId", str)
"""The relying party (a bank): the ``sub`` of a bank token."""
RecordId = NewType("RecordId", str)
"""A provider-assigned record id, unique within a domain."""

PENDING_REQUEST_LIFETIME = timedelta(days=7)
"""How long a consent request waits for the owner before it expires."""


class RequestState(StrEnum):
    """Lifecycle of a consent request: PENDING -> APPROVED | REJECTED | EXPIRED."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class ConsentState(StrEnum):
    """Lifecycle of a consent: ACTIVE <-> PAUSED, -> REVOKED | EXPIRED | EXHAUSTED."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    EXHAUSTED = "EXHAUSTED"


def require_utc(name: str, value: datetime) -> None:
    """Refuse a naive or non-UTC datetime (a programming error, hence ``ValueError``)."""
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime")


@dataclass(frozen=True)
class RecordSelector:
    """Which record a consent covers: one record by id, or the owner's latest one in the domain."""

    domain: str
    record_id: RecordId | None = None

    @property
    def latest(self) -> bool:
        """True when the consent follows the owner's latest record in the domain."""
        return self.record_id is None


@dataclass(frozen=True)
class ConsentRequest:
    """A bank's request for consent, waiting for (or decided by) the owner."""

    id: RequestId
    owner: OwnerId
    grantee: GranteeId
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record_id: RecordId | None
    valid_for: timedelta
    max_uses: int
    separate_consent: bool
    cross_border: bool
    state: RequestState
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    consent_id: ConsentId | None = None
    request_key: str = ""
    """Idempotency key chosen by the bank; "" when the bank gave none."""
    bounds: Mapping[str, int | str | bool] = field(default_factory=dict)
    """Requested parameter bounds (``consent.bounds``): a maximum for amount and int parameters,
    the exact value for others; empty: none."""

    def __post_init__(self) -> None:
        require_utc("created_at", self.created_at)
        require_utc("expires_at", self.expires_at)
        if self.decided_at is not None:
            require_utc("decided_at", self.decided_at)

    @classmethod
    def new(
        cls,
        *,
        id: RequestId,
        owner: OwnerId,
        grantee: GranteeId,
        domain: str,
        purpose: str,
        claims: tuple[str, ...],
        valid_for: timedelta,
        max_uses: int,
        now: datetime,
        record_id: RecordId | None = None,
        separate_consent: bool = False,
        cross_border: bool = False,
        request_key: str = "",
        lifetime: timedelta = PENDING_REQUEST_LIFETIME,
        bounds: Mapping[str, int | str | bool] | None = None,
    ) -> ConsentRequest:
        """A PENDING request created at ``now`` that expires after ``lifetime``."""
        return cls(
            id=id,
            owner=owner,
            grantee=grantee,
            domain=domain,
            purpose=purpose,
            claims=claims,
            record_id=record_id,
            valid_for=valid_for,
            max_uses=max_uses,
            separate_consent=separate_consent,
            cross_border=cross_border,
            state=RequestState.PENDING,
            created_at=now,
            expires_at=now + lifetime,
            request_key=request_key,
            bounds=dict(bounds or {}),
        )


@dataclass(frozen=True)
class Consent:
    """The consent artefact: the owner's signed, immutable authorization.

    ``artefact_jws`` is the gateway's ES256 signature over the artefact terms (``consent.artefact``)
    and ``artefact_hash`` the base64url SHA-256 of its ASCII bytes; attestations carry the hash.
    ``state`` and ``uses`` are the only fields that change over a consent's life.
    """

    id: ConsentId
    request_id: RequestId
    owner: OwnerId
    grantee: GranteeId
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record: RecordSelector
    valid_from: datetime
    valid_until: datetime
    max_uses: int
    uses: int
    data_life: timedelta
    separate_consent: bool
    cross_border: bool
    created_at: datetime
    state: ConsentState
    artefact_jws: str = ""
    artefact_hash: str = ""
    bounds: Mapping[str, int | str | bool] = field(default_factory=dict)
    """The consented parameter bounds, part of the signed terms (``consent.bounds``); empty: none
    (the artefact then has no ``bounds`` member, as before bounds existed)."""

    def __post_init__(self) -> None:
        require_utc("valid_from", self.valid_from)
        require_utc("valid_until", self.valid_until)
        require_utc("created_at", self.created_at)
        if self.record.domain != self.domain:
            raise ValueError("record selector domain differs from the consent domain")
        if self.max_uses < 1 or not 0 <= self.uses <= self.max_uses:
            raise ValueError("uses must be within 0..max_uses and max_uses at least 1")


@dataclass(frozen=True)
class ConsentEvent:
    """One status change for the WatchConsentEvents feed; ``seq`` is assigned by the store.

    ``consent_id`` is None for request-only changes (rejected, expired); ``state`` is then a
    ``RequestState``, otherwise a ``ConsentState``.
    """

    seq: int
    request_id: RequestId
    consent_id: ConsentId | None
    grantee: GranteeId
    owner: OwnerId
    state: RequestState | ConsentState
    at: datetime

    def __post_init__(self) -> None:
        require_utc("at", self.at)
