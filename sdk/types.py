"""The values SDK clients return: frozen dataclasses, no generated protobuf type.

Conventions (STYLE.md): times are aware UTC ``datetime``s, durations ``timedelta``s, amounts
integers in minor units of a named ISO 4217 currency, hashes ``bytes`` (with a ``*_b64`` text twin
where a text form is common), identifiers ``NewType``s of ``str`` holding the bare id (``cr_...``,
``cs_...``, the ``jti``), never the resource name. Mappings are plain ``dict``s and sequences
``tuple``s, so ``json.dumps(attestation.claims)`` works for text, integer and boolean claims; every
result's ``to_dict()`` is its JSON-ready form (dates and times in ISO 8601, durations in seconds,
bytes in standard base64, nested results as objects): ``json.dumps(result.to_dict())``.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, NewType

from attestgate.sdk.sdjwt import Jti

__all__ = [
    "ActivityEntry",
    "AssetEvent",
    "Attestation",
    "AttestationState",
    "Checkpoint",
    "ClaimValue",
    "Consent",
    "ConsentEvent",
    "ConsentId",
    "ConsentRequest",
    "ConsentRequestId",
    "ConsentRequestState",
    "ConsentState",
    "ConsistencyProof",
    "ErasureReceipt",
    "FxRatesReceipt",
    "InclusionProof",
    "Jti",
    "LogEntry",
    "RecordReceipt",
    "Redemption",
    "Withheld",
]

ConsentRequestId = NewType("ConsentRequestId", str)
"""The bare id of a consent request (``cr_...``); its resource name is ``consentRequests/{id}``."""

ConsentId = NewType("ConsentId", str)
"""The bare id of a consent (``cs_...``); its resource name is ``consents/{id}``."""

ClaimValue = str | int | bool | date
"""A claim, field or predicate parameter value: text, an integer (amounts in minor units), a
boolean (predicates) or a calendar date."""


class ConsentRequestState(StrEnum):
    """Where a consent request stands (DESIGN.md "Consent")."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class ConsentState(StrEnum):
    """Where a consent stands: ACTIVE <-> PAUSED, then REVOKED, EXPIRED or EXHAUSTED."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    EXHAUSTED = "EXHAUSTED"


class AttestationState(StrEnum):
    """An attestation is ISSUED, then REDEEMED exactly once, or EXPIRED."""

    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"


def json_value(value: Any) -> Any:
    """``value`` as JSON-ready data: results as objects, ``date``/``datetime`` in ISO 8601,
    ``timedelta`` in seconds, ``bytes`` in standard base64, mappings and sequences recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value  # str, int, bool, float, None


class _Result:
    """``to_dict()`` for every result dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """This result as JSON-ready data (``json.dumps(result.to_dict())``): dates and times in
        ISO 8601, durations in seconds, bytes in standard base64, enums by value."""
        data: dict[str, Any] = json_value(self)
        return data


@dataclass(frozen=True)
class ConsentRequest(_Result):
    """A bank's request for an owner's consent."""

    id: ConsentRequestId
    owner: str
    grantee: str
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record_id: str | None
    """The record covered; ``None``: the owner's latest record in the domain."""
    valid_for: timedelta | None
    max_uses: int
    separate_consent: bool
    cross_border: bool
    state: ConsentRequestState
    created_at: datetime | None
    expires_at: datetime | None
    """A pending request expires at this time."""
    decided_at: datetime | None
    consent_id: ConsentId | None
    """The consent created by approving it, once approved."""
    bounds: Mapping[str, ClaimValue] = field(default_factory=dict)
    """Requested bounds on the predicates' parameters, e.g. ``{"amount": 5_000_000, "currency":
    "USD"}``: an amount or int at most this, any other parameter exactly this; ``{}``: none."""

    @property
    def name(self) -> str:
        """The resource name ``consentRequests/{id}``."""
        return f"consentRequests/{self.id}"


@dataclass(frozen=True)
class Consent(_Result):
    """A consent artefact: what the grantee may learn about the owner, for which purpose."""

    id: ConsentId
    request_id: ConsentRequestId
    owner: str
    grantee: str
    domain: str
    purpose: str
    claims: tuple[str, ...]
    """The claims consented to (possibly narrowed by the owner)."""
    record_id: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    max_uses: int
    uses: int
    data_life: timedelta
    """How long the grantee may keep disclosed data."""
    separate_consent: bool
    cross_border: bool
    created_at: datetime | None
    state: ConsentState
    artefact_jws: str
    """The consent artefact signed by the gateway (JWS compact, ES256)."""
    artefact_hash: str
    """base64url SHA-256 of ``artefact_jws``, carried in every attestation issued under it."""
    bounds: Mapping[str, ClaimValue] = field(default_factory=dict)
    """The consented parameter bounds, signed in the artefact: ``issue`` with parameters outside
    them is refused (``PARAMS_EXCEED_CONSENT``); ``{}``: the consent bounds no parameter."""

    @property
    def name(self) -> str:
        """The resource name ``consents/{id}``."""
        return f"consents/{self.id}"


@dataclass(frozen=True)
class ConsentEvent(_Result):
    """A status change of a bank's consent request or consent, from ``watch_consent_events``."""

    cursor: str
    """Opaque; pass it back as ``cursor=`` to resume after this event."""
    request_id: ConsentRequestId
    consent_id: ConsentId | None
    state: ConsentRequestState | ConsentState
    """The new state: a request state while only a request exists, else a consent state."""
    time: datetime | None


@dataclass(frozen=True)
class ActivityEntry(_Result):
    """One audit-log event about an owner: a consent change, disclosure or refused attempt."""

    log_index: int
    """The event's index in the audit log (provable with ``RegulatorClient`` proofs)."""
    type: str
    """e.g. ``"attestation.issued"``."""
    time: datetime | None
    actor_role: str
    actor_id: str
    objects: dict[str, str]
    decision: str
    """``"allow"`` or ``"deny"``."""
    reason: str | None
    claims: tuple[str, ...]
    """Names of the claims disclosed, never their values."""


@dataclass(frozen=True)
class Withheld(_Result):
    """A claim that was not disclosed, and why (NOT_CONSENTED, NOT_ALLOWED_FOR_PURPOSE, ...)."""

    claim: str
    reason: str


@dataclass(frozen=True)
class Attestation(_Result):
    """A signed single-use attestation (SD-JWT, RFC 9901) held by a bank."""

    jti: Jti
    consent_id: ConsentId
    token: str
    """The compact SD-JWT ``<issuer-jwt>~<disclosure>~...~`` (no key binding yet)."""
    claims: dict[str, ClaimValue]
    """The disclosed claims (a plain ``dict``); dates are ``datetime.date`` (``to_dict()`` gives
    them in ISO 8601)."""
    withheld: tuple[Withheld, ...]
    issued_at: datetime | None
    expires_at: datetime | None
    state: AttestationState | None
    redeemed_at: datetime | None
    transaction_ref: str | None

    @property
    def name(self) -> str:
        """The resource name ``attestations/{jti}``."""
        return f"attestations/{self.jti}"


@dataclass(frozen=True)
class Redemption(_Result):
    """The outcome of redeeming an attestation (exactly once)."""

    jti: Jti
    transaction_ref: str
    redeemed_at: datetime | None
    consumption: str
    """What was consumed: ``"amount"`` (income capacity), ``"pledge"`` or ``"none"``."""
    consumed_amount: int
    """For ``"amount"``: minor units of ``consumed_currency``; else 0."""
    consumed_currency: str
    log_index: int
    """Index of the redemption event in the audit log."""


@dataclass(frozen=True)
class Release(_Result):
    """The release of what a redemption consumed (``BankClient.release_pledge`` /
    ``release_amount``, ``RegulatorClient.force_release``); releasing again answers the same."""

    jti: Jti
    consumption: str
    """What was released: ``"pledge"`` (the asset is free again) or ``"amount"``."""
    released_amount: int
    """For ``"amount"``: minor units of ``released_currency`` returned to the income; else 0."""
    released_currency: str
    domain: str
    asset_id: str
    """For a pledge: the asset's record id (receipt or patent number); else empty."""
    reason: str
    """The reason code of the first release (``REPAID``, ``CANCELLED``, ``COURT_ORDER``...)."""
    released_by_role: str
    """``"bank"`` (the pledgee) or ``"regulator"`` (a forced release)."""
    released_by: str
    released_at: datetime | None
    log_index: int
    """Index of the ``pledge.released`` / ``capacity.released`` event in the audit log."""


@dataclass(frozen=True)
class RecordReceipt(_Result):
    """What a provider gets back for a record upload."""

    domain: str
    record_id: str
    version: int
    created_at: datetime | None
    log_index: int


@dataclass(frozen=True)
class FxRatesReceipt(_Result):
    """What a provider gets back for an FX rate table."""

    table_id: str
    rate_count: int
    created_at: datetime | None
    log_index: int


@dataclass(frozen=True)
class ErasureReceipt(_Result):
    """The deletion receipt of a subject's erasure (crypto-shredding), also in the audit log."""

    subject_pseudonym: str
    """HMAC pseudonym of the subject, as the audit log shows it (never the id itself)."""
    records_erased: int
    erased_at: datetime | None
    log_index: int


@dataclass(frozen=True)
class Checkpoint(_Result):
    """A verified C2SP tlog-checkpoint of the audit log.

    ``text`` is the whole signed note, so that it can be stored and shown to others as evidence.
    """

    origin: str
    size: int
    root_hash: bytes
    text: str

    @property
    def root_hash_b64(self) -> str:
        """The root hash in standard base64, as written in the checkpoint body."""
        return base64.b64encode(self.root_hash).decode("ascii")


@dataclass(frozen=True)
class LogEntry(_Result):
    """One leaf of the audit log: its index, its bytes and the event they encode."""

    index: int
    data: bytes
    """The leaf as hashed (RFC 9162 §2.1.1): canonical JSON of the event."""
    event: dict[str, Any]
    """``data`` parsed; ``{}`` if it is not a JSON object."""


@dataclass(frozen=True)
class InclusionProof(_Result):
    """An RFC 9162 §2.1.3 inclusion proof of leaf ``leaf_index`` in the tree of ``tree_size``."""

    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof(_Result):
    """An RFC 9162 §2.1.4 consistency proof between two tree sizes."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class AssetEvent(_Result):
    """One event of an asset's history (``asset_history``): the leaf of the audit log, exactly
    as the log holds it (holders as pseudonyms), and its inclusion proof."""

    entry: LogEntry
    proof: InclusionProof
    """The RFC 9162 proof of ``entry`` in the tree of ``proof.tree_size`` leaves."""
    checkpoint: Checkpoint | None
    """The signed checkpoint the proof was checked against; ``None`` when not verified."""

    @property
    def type(self) -> str:
        """The event type (``record.put``, ``record.transferred``, ``attestation.redeemed``,
        ``pledge.released``, ``record.erased``)."""
        return str(self.entry.event.get("type", ""))
