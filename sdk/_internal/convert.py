"""Wire (generated protobuf) <-> public SDK values (``sdk.types``).

Internal: the one place the clients touch generated message fields, so that no generated type
appears in a public signature (STYLE.md, sigstore-python's ``_inner`` pattern). Unset wire
timestamps and empty optional strings become ``None``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from attestgate.protocol.encoding import EncodingError, json_loads
from attestgate.sdk._internal import inputs
from attestgate.sdk.sdjwt import Jti
from attestgate.sdk.types import (
    ActivityEntry,
    Attestation,
    AttestationState,
    ClaimValue,
    Consent,
    ConsentEvent,
    ConsentId,
    ConsentRequest,
    ConsentRequestId,
    ConsentRequestState,
    ConsentState,
    ConsistencyProof,
    ErasureReceipt,
    FxRatesReceipt,
    InclusionProof,
    LogEntry,
    RecordReceipt,
    Redemption,
    Release,
    Withheld,
)
from attestgate.v1 import attestation_pb2, audit_pb2, common_pb2, consent_pb2, record_pb2

_REQUEST_PREFIX = "CONSENT_REQUEST_STATE_"
_CONSENT_PREFIX = "CONSENT_STATE_"


# --- names ---------------------------------------------------------------------------------------


def resource_name(collection: str, id_or_name: str) -> str:
    """``{collection}/{id}`` from a bare id or from the full resource name (AIP-122); an id of
    another kind (``cr_...`` for a consent) is refused, saying which id to pass."""
    if not isinstance(id_or_name, str) or not id_or_name:
        raise inputs.refuse(f"{collection} id", "required: a bare id or {collection}/{{id}}")
    prefix = collection + "/"
    bare = id_or_name.removeprefix(prefix)
    if not bare or "/" in bare:
        raise inputs.refuse(
            f"{collection} id", f"expected an id or a name like {collection}/{{id}}"
        )
    inputs.check_id(collection, bare)
    return prefix + bare


def bare_id(name: str) -> str:
    """The id in a resource name ``collection/{id}`` (``""`` stays ``""``)."""
    return name.rpartition("/")[2]


# --- scalars -------------------------------------------------------------------------------------


def _time(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def duration(delta: timedelta) -> Duration:
    """A wire Duration; negative durations are the caller's mistake."""
    if delta < timedelta(0):
        raise ValueError("durations must not be negative")
    out = Duration()
    out.FromTimedelta(delta)
    return out


def from_value(value: common_pb2.Value) -> ClaimValue:
    """A wire Value as str, int, bool or ``datetime.date``."""
    kind = value.WhichOneof("kind")
    if kind == "date_value":
        return date.fromisoformat(value.date_value)
    if kind is None:
        return ""
    return getattr(value, kind)  # type: ignore[no-any-return]


def _values(values: Mapping[str, common_pb2.Value]) -> dict[str, ClaimValue]:
    return {name: from_value(v) for name, v in values.items()}


# --- consent -------------------------------------------------------------------------------------


def request_state(value: int) -> ConsentRequestState:
    """Wire enum -> ``ConsentRequestState``."""
    name = consent_pb2.ConsentRequestState.Name(value)  # type: ignore[arg-type]
    return ConsentRequestState(name.removeprefix(_REQUEST_PREFIX))


def consent_state(value: int) -> ConsentState:
    """Wire enum -> ``ConsentState``."""
    name = consent_pb2.ConsentState.Name(value)  # type: ignore[arg-type]
    return ConsentState(name.removeprefix(_CONSENT_PREFIX))


def consent_state_filter(state: ConsentState | str | None) -> consent_pb2.ConsentState.ValueType:
    """A ``ListConsents`` state filter; ``None``: every state."""
    if state is None:
        return consent_pb2.ConsentState.CONSENT_STATE_UNSPECIFIED
    return consent_pb2.ConsentState.Value(_CONSENT_PREFIX + ConsentState(state).value)


def consent_request(message: consent_pb2.ConsentRequest) -> ConsentRequest:
    """Wire -> ``ConsentRequest``."""
    return ConsentRequest(
        id=ConsentRequestId(bare_id(message.name)),
        owner=message.owner,
        grantee=message.grantee,
        domain=message.domain,
        purpose=message.purpose,
        claims=tuple(message.claims),
        record_id=message.record_id or None,
        valid_for=message.valid_for.ToTimedelta() if message.HasField("valid_for") else None,
        max_uses=message.max_uses,
        separate_consent=message.separate_consent,
        cross_border=message.cross_border,
        state=request_state(message.state),
        created_at=_time(message, "create_time"),
        expires_at=_time(message, "expire_time"),
        decided_at=_time(message, "decide_time"),
        consent_id=ConsentId(bare_id(message.consent)) if message.consent else None,
        bounds=_values(message.bounds),
    )


def consent(message: consent_pb2.Consent) -> Consent:
    """Wire -> ``Consent``."""
    return Consent(
        id=ConsentId(bare_id(message.name)),
        request_id=ConsentRequestId(bare_id(message.consent_request)),
        owner=message.owner,
        grantee=message.grantee,
        domain=message.domain,
        purpose=message.purpose,
        claims=tuple(message.claims),
        record_id=message.record_id or None,
        valid_from=_time(message, "valid_from"),
        valid_until=_time(message, "valid_until"),
        max_uses=message.max_uses,
        uses=message.uses,
        data_life=message.data_life.ToTimedelta(),
        separate_consent=message.separate_consent,
        cross_border=message.cross_border,
        created_at=_time(message, "create_time"),
        state=consent_state(message.state),
        artefact_jws=message.artefact_jws,
        artefact_hash=message.artefact_hash,
        bounds=_values(message.bounds),
    )


def consent_event(message: consent_pb2.ConsentEvent) -> ConsentEvent:
    """Wire -> ``ConsentEvent``; the state string names either enum (proto ``state`` field)."""
    text = message.state
    state: ConsentRequestState | ConsentState
    if text.startswith(_REQUEST_PREFIX):
        state = ConsentRequestState(text.removeprefix(_REQUEST_PREFIX))
    else:
        state = ConsentState(text.removeprefix(_CONSENT_PREFIX))
    return ConsentEvent(
        cursor=message.cursor,
        request_id=ConsentRequestId(bare_id(message.consent_request)),
        consent_id=ConsentId(bare_id(message.consent)) if message.consent else None,
        state=state,
        time=_time(message, "time"),
    )


def activity_entry(message: consent_pb2.ActivityEntry) -> ActivityEntry:
    """Wire -> ``ActivityEntry``."""
    return ActivityEntry(
        log_index=message.log_index,
        type=message.type,
        time=_time(message, "time"),
        actor_role=message.actor_role,
        actor_id=message.actor_id,
        objects=dict(message.objects),
        decision=message.decision,
        reason=message.reason or None,
        claims=tuple(message.claims),
    )


# --- attestations --------------------------------------------------------------------------------


def attestation(message: attestation_pb2.Attestation) -> Attestation:
    """Wire -> ``Attestation``."""
    state_name = attestation_pb2.AttestationState.Name(message.state)
    state = None if message.state == 0 else AttestationState(state_name.split("_STATE_", 1)[1])
    return Attestation(
        jti=Jti(message.jti),
        consent_id=ConsentId(bare_id(message.consent)),
        token=message.token,
        claims=_values(message.claims),
        withheld=tuple(Withheld(w.claim, w.reason) for w in message.withheld),
        issued_at=_time(message, "issue_time"),
        expires_at=_time(message, "expire_time"),
        state=state,
        redeemed_at=_time(message, "redeem_time"),
        transaction_ref=message.transaction_ref or None,
    )


def redemption(message: attestation_pb2.Redemption) -> Redemption:
    """Wire -> ``Redemption``."""
    return Redemption(
        jti=Jti(message.jti),
        transaction_ref=message.transaction_ref,
        redeemed_at=_time(message, "redeem_time"),
        consumption=message.consumption,
        consumed_amount=message.consumed_amount,
        consumed_currency=message.consumed_currency,
        log_index=message.log_index,
    )


def release(message: attestation_pb2.Release) -> Release:
    """Wire -> ``Release``."""
    return Release(
        jti=Jti(message.jti),
        consumption=message.consumption,
        released_amount=message.released_amount,
        released_currency=message.released_currency,
        domain=message.domain,
        asset_id=message.asset_id,
        reason=message.reason,
        released_by_role=message.released_by_role,
        released_by=message.released_by,
        released_at=_time(message, "release_time"),
        log_index=message.log_index,
    )


def release_request(
    target: object, *, reason: str, request_id: str | None
) -> attestation_pb2.ReleaseRedemptionRequest:
    """A ReleaseRedemption request for a ``Redemption``, an ``Attestation`` or a jti
    (``request_id`` default: a fresh one, so a resend is answered)."""
    jti = getattr(target, "jti", target)
    if not isinstance(jti, str) or not jti:
        raise inputs.refuse("attestation", "a Redemption, an Attestation or its jti")
    if not isinstance(reason, str) or not reason:
        raise inputs.refuse("reason", "required: a code such as REPAID, CANCELLED or REVERSED")
    return attestation_pb2.ReleaseRedemptionRequest(
        attestation=resource_name("attestations", jti),
        reason=reason,
        request_id=request_id or str(uuid.uuid4()),
    )


# --- records -------------------------------------------------------------------------------------


def record_receipt(message: record_pb2.RecordReceipt) -> RecordReceipt:
    """Wire -> ``RecordReceipt``."""
    return RecordReceipt(
        domain=message.domain,
        record_id=message.record_id,
        version=message.version,
        created_at=_time(message, "create_time"),
        log_index=message.log_index,
    )


def fx_receipt(message: record_pb2.FxRatesReceipt) -> FxRatesReceipt:
    """Wire -> ``FxRatesReceipt``."""
    return FxRatesReceipt(
        table_id=message.table_id,
        rate_count=message.rate_count,
        created_at=_time(message, "create_time"),
        log_index=message.log_index,
    )


def erasure_receipt(message: record_pb2.ErasureReceipt) -> ErasureReceipt:
    """Wire -> ``ErasureReceipt``."""
    return ErasureReceipt(
        subject_pseudonym=message.subject_pseudonym,
        records_erased=message.records_erased,
        erased_at=_time(message, "erase_time"),
        log_index=message.log_index,
    )


# --- audit log -----------------------------------------------------------------------------------


_MAX_LEAF_DEPTH = 16  # an audit event is an object of names, one object and one list


def log_entry(message: audit_pb2.LogEntry) -> LogEntry:
    """Wire -> ``LogEntry``, with the leaf parsed as JSON when it is an object."""
    data = bytes(message.data)
    try:
        parsed: Any = json_loads(data, max_depth=_MAX_LEAF_DEPTH)
    except EncodingError:
        parsed = None
    event = parsed if isinstance(parsed, dict) else {}
    return LogEntry(index=message.index, data=data, event=event)


def inclusion_proof(message: audit_pb2.InclusionProof) -> InclusionProof:
    """Wire -> ``InclusionProof``."""
    return InclusionProof(message.leaf_index, message.tree_size, tuple(message.hashes))


def consistency_proof(message: audit_pb2.ConsistencyProof) -> ConsistencyProof:
    """Wire -> ``ConsistencyProof``."""
    return ConsistencyProof(message.old_size, message.new_size, tuple(message.hashes))
