"""Audit events: what happened, to which objects, decided how. The leaves of the audit log.

An event carries names and ids only, never a personal value: the subject appears as a pseudonym
(HMAC-SHA256 of the subject id under the audit key, ``Pseudonymizer``), so do the record ids of
personal domains, transaction refs and unverified ``jti`` values (each kind keyed apart,
``PseudonymKind``), disclosed claims by name.
Each event is stored as canonical JSON (``canonical_json``): sorted keys, no whitespace, UTF-8, only
strings, integers, booleans, null, lists and objects. The same event always gives the same bytes, so
a leaf hash identifies an event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any, NewType

from attestgate.audit.store import format_time
from attestgate.protocol.encoding import EncodingError, b64url_encode, json_object
from attestgate.protocol.encoding import canonical_json as canonical_bytes

__all__ = [
    "EVENT_VERSION",
    "ActorRole",
    "AuditEvent",
    "Decision",
    "EventFormatError",
    "EventType",
    "Pseudonym",
    "PseudonymKind",
    "Pseudonymizer",
    "canonical_json",
]

EVENT_VERSION = 1
"""Value of the ``v`` member; bumped only with a new event layout."""

_MAX_TEXT = 256  # ids, reasons and names are short; a long value is a bug (or a leaked value)

Pseudonym = NewType("Pseudonym", str)
"""``ps_`` + base64url of a truncated HMAC: stands for a subject id in the log."""


class EventFormatError(ValueError):
    """An event is invalid, or bytes are not a canonical event."""


class EventType(StrEnum):
    """Every kind of audited step."""

    CONSENT_REQUESTED = "consent.requested"
    CONSENT_APPROVED = "consent.approved"
    CONSENT_REJECTED = "consent.rejected"
    CONSENT_PAUSED = "consent.paused"
    CONSENT_RESUMED = "consent.resumed"
    CONSENT_REVOKED = "consent.revoked"
    CONSENT_EXPIRED = "consent.expired"
    CONSENT_EXHAUSTED = "consent.exhausted"
    ATTESTATION_ISSUED = "attestation.issued"
    ATTESTATION_REDEEMED = "attestation.redeemed"
    ATTESTATION_REFUSED = "attestation.refused"
    # Token Status List: an attestation's entry changed (objects.status, objects.cause).
    ATTESTATION_STATUS_CHANGED = "attestation.status_changed"
    # What a redemption consumed, released: by the bank that redeemed, or forced by a regulator
    # (actor_role, actor_id say who, reason the code why).
    PLEDGE_RELEASED = "pledge.released"
    CAPACITY_RELEASED = "capacity.released"
    RECORD_PUT = "record.put"
    # A record version with a new subject: the asset changed holder (objects as record.put).
    RECORD_TRANSFERRED = "record.transferred"
    RECORD_ERASED = "record.erased"
    FX_RATES_PUT = "fx_rates.put"
    KEY_ROTATED = "key.rotated"
    PSEUDONYM_RESOLVED = "pseudonym.resolved"


class ActorRole(StrEnum):
    """Who acted (DESIGN.md §Roles); ``system`` for the gateway's own steps such as expiry."""

    OWNER = "owner"
    BANK = "bank"
    PROVIDER = "provider"
    REGULATOR = "regulator"
    OPERATOR = "operator"
    SYSTEM = "system"


class Decision(StrEnum):
    """Whether the step was allowed or refused."""

    ALLOW = "allow"
    DENY = "deny"


def _check_text(value: object, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise EventFormatError(f"{what} must be a non-empty string of at most {_MAX_TEXT} chars")


def _utc_millis(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise EventFormatError("time must be a timezone-aware datetime")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audited step (keyword-only fields).

    ``time`` is kept in UTC at millisecond precision, as the JSON holds it.

    ``subject`` is a pseudonym (never a subject id); for the ``owner`` role ``actor_id`` must be the
    owner's pseudonym too. ``objects`` maps id names (``consent_id``, ``attestation_jti``,
    ``record_id`` ...) to ids; ``claims`` are disclosed claim names, stored sorted.
    """

    type: EventType
    time: datetime
    actor_role: ActorRole
    actor_id: str
    subject: Pseudonym | None = None
    objects: Mapping[str, str] = field(default_factory=dict)
    decision: Decision
    reason: str | None = None
    claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "type", EventType(self.type))
            object.__setattr__(self, "actor_role", ActorRole(self.actor_role))
            object.__setattr__(self, "decision", Decision(self.decision))
        except ValueError as exc:
            raise EventFormatError(str(exc)) from exc
        object.__setattr__(self, "time", _utc_millis(self.time))
        _check_text(self.actor_id, "actor_id")
        _check_text(self.subject, "subject", optional=True)
        _check_text(self.reason, "reason", optional=True)
        if self.subject is not None and not self.subject.startswith("ps_"):
            raise EventFormatError("subject must be a pseudonym")
        if self.actor_role is ActorRole.OWNER and not self.actor_id.startswith("ps_"):
            raise EventFormatError("an owner actor_id must be a pseudonym")
        if not isinstance(self.objects, Mapping):
            raise EventFormatError("objects must be a mapping")
        for key, value in self.objects.items():
            _check_text(key, "object name")
            _check_text(value, f"object {key}")
        object.__setattr__(self, "objects", MappingProxyType(dict(sorted(self.objects.items()))))
        if isinstance(self.claims, str) or not all(isinstance(c, str) for c in self.claims):
            raise EventFormatError("claims must be a sequence of claim names")
        for claim in self.claims:
            _check_text(claim, "claim name")
        object.__setattr__(self, "claims", tuple(sorted(set(self.claims))))
        self.leaf  # noqa: B018 - encode now, in the thread that builds the event

    @cached_property
    def leaf(self) -> bytes:
        """The canonical JSON bytes of this event: its Merkle leaf (see ``canonical_json``)."""
        return _encode(self)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object form (before canonical serialisation)."""
        return {
            "v": EVENT_VERSION,
            "type": self.type.value,
            "time": format_time(self.time),
            "actor_role": self.actor_role.value,
            "actor_id": self.actor_id,
            "subject": self.subject,
            "objects": dict(self.objects),
            "decision": self.decision.value,
            "reason": self.reason,
            "claims": list(self.claims),
        }

    @classmethod
    def from_json(cls, data: bytes) -> AuditEvent:
        """Decode a leaf; only the exact canonical encoding of a valid event is accepted."""
        try:
            obj = json_object(data, max_depth=_MAX_DEPTH, floats=False)
        except EncodingError as exc:
            raise EventFormatError(f"event is not strict UTF-8 JSON: {exc}") from exc
        event = cls._from_dict(obj)
        if canonical_json(event) != data:
            raise EventFormatError("event is not in canonical form")
        return event

    @classmethod
    def _from_dict(cls, obj: object) -> AuditEvent:
        if not isinstance(obj, dict) or set(obj) != set(_MEMBERS):
            raise EventFormatError("event must have exactly the members " + ", ".join(_MEMBERS))
        if obj["v"] != EVENT_VERSION:
            raise EventFormatError("unsupported event version")
        time_text = obj["time"]
        if not isinstance(time_text, str) or not time_text.endswith("Z"):
            raise EventFormatError("time must be RFC 3339 UTC ending in 'Z'")
        try:
            moment = datetime.fromisoformat(time_text[:-1] + "+00:00")
        except ValueError as exc:
            raise EventFormatError("time must be RFC 3339 UTC ending in 'Z'") from exc
        objects, claims = obj["objects"], obj["claims"]
        if not isinstance(objects, dict) or not isinstance(claims, list):
            raise EventFormatError("objects must be an object and claims a list")
        return cls(
            type=obj["type"],
            time=moment,
            actor_role=obj["actor_role"],
            actor_id=obj["actor_id"],
            decision=obj["decision"],
            subject=obj["subject"],
            objects=objects,
            reason=obj["reason"],
            claims=tuple(claims),
        )


_MEMBERS = (
    "v",
    "type",
    "time",
    "actor_role",
    "actor_id",
    "subject",
    "objects",
    "decision",
    "reason",
    "claims",
)


_MAX_DEPTH = 2  # the event object, then its objects and claims


def canonical_json(event: AuditEvent) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u escapes): the leaf bytes of ``event``.

    Computed once per event (events are immutable): whoever builds an event off the writer thread
    also takes its encoding off the group commit's critical path.
    """
    return event.leaf


def _encode(event: AuditEvent) -> bytes:
    # Every member was checked by __post_init__ (text, pseudonyms, names): no float can get here.
    try:
        return canonical_bytes(event.to_json_dict())
    except EncodingError as exc:  # a lone surrogate in a name
        raise EventFormatError(str(exc)) from exc


_PSEUDONYM_CACHE_SIZE = 10_000


class PseudonymKind(StrEnum):
    """What a pseudonym stands for; the value is its prefix.

    Each kind is an HMAC under a key of its own (derived from the audit key with the kind's label),
    so a record pseudonym can never equal, or be mistaken for, a subject pseudonym.
    """

    SUBJECT = "ps_"
    """A subject (data owner) id; HMAC under the audit key itself (the original layout)."""
    RECORD = "pr_"
    """A record of a personal domain: HMAC of ``domain 0x00 record_id``."""
    TRANSACTION = "pt_"
    """A bank's ``transaction_ref``."""
    UNVERIFIED_JTI = "pj_"
    """The ``jti`` of a presentation that did not verify (attacker-controlled text)."""

    @classmethod
    def of(cls, pseudonym: str) -> PseudonymKind | None:
        """The kind a pseudonym's prefix names, or None."""
        return next((kind for kind in cls if pseudonym.startswith(kind.value)), None)


class Pseudonymizer:
    """Maps ids to stable pseudonyms under a secret audit key (HMAC-SHA256, RFC 2104).

    Without the key a pseudonym cannot be linked to its id; with it, an owner's events can be
    found (``ListActivity``) and a regulator's lawful request resolved (``attestgate audit
    resolve``). The id itself is never stored in the log.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < 32:
            raise ValueError("the pseudonym key must be at least 32 bytes")
        self._keys = {
            kind: key
            if kind is PseudonymKind.SUBJECT
            else hmac.new(
                key, b"attestgate pseudonym " + kind.name.encode(), hashlib.sha256
            ).digest()
            for kind in PseudonymKind
        }
        self._cached = lru_cache(maxsize=_PSEUDONYM_CACHE_SIZE)(self._compute)

    def pseudonym(self, subject_id: str) -> Pseudonym:
        """``ps_`` + base64url (unpadded) of the first 128 bits of HMAC-SHA256(key, subject_id)."""
        return self._cached(PseudonymKind.SUBJECT, subject_id)

    def record(self, domain: str, record_id: str) -> str:
        """``pr_`` + the keyed hash of a record (its domain and id)."""
        if not domain or not record_id:
            raise ValueError("domain and record id must be non-empty")
        return self._cached(PseudonymKind.RECORD, f"{domain}\x00{record_id}")

    def of_kind(self, kind: PseudonymKind, text: str) -> str:
        """The pseudonym of ``text`` as ``kind`` (records: ``domain 0x00 record_id``)."""
        return self._cached(kind, text)

    def _compute(self, kind: PseudonymKind, text: str) -> Pseudonym:
        if not text:
            raise ValueError("the id must be non-empty")
        digest = hmac.new(self._keys[kind], text.encode("utf-8"), hashlib.sha256).digest()
        return Pseudonym(kind.value + b64url_encode(digest[:16]))

    def __repr__(self) -> str:
        return "Pseudonymizer(<key>)"
