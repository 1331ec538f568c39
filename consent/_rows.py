"""Rows of the SQL consent store (``consent.sql_store``): values to and from columns.

Private to ``consent``. Datetimes are ISO 8601 UTC text with microseconds (fixed width, so text
order is time order); timedeltas integer microseconds; claim lists JSON arrays; flags Python
``bool`` (SQLite stores them as INTEGER 0/1, PostgreSQL as BOOLEAN; ``bool()`` reads both back).
Rows come back as tuples in the order of the ``*_COLUMNS`` constants, which every SELECT names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from attestgate.consent.artefact import ArtefactError, artefact_bounds
from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentId,
    ConsentRequest,
    ConsentState,
    GranteeId,
    OwnerId,
    RecordId,
    RecordSelector,
    RequestId,
    RequestState,
)

REQUEST_COLUMNS = (
    "id", "owner", "grantee", "domain", "purpose", "claims", "record_id", "valid_for_us",
    "max_uses", "separate_consent", "cross_border", "state", "created_at", "expires_at",
    "decided_at", "consent_id", "request_key",
)  # fmt: skip
CONSENT_COLUMNS = (
    "id", "request_id", "owner", "grantee", "domain", "purpose", "claims", "record_domain",
    "record_id", "valid_from", "valid_until", "max_uses", "uses", "data_life_us",
    "separate_consent", "cross_border", "created_at", "state", "artefact_jws", "artefact_hash",
)  # fmt: skip
EVENT_COLUMNS = (
    "seq", "request_id", "consent_id", "grantee", "owner", "state_kind", "state", "at",
)  # fmt: skip


def named(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A fetched row as column -> value."""
    return dict(zip(columns, row, strict=True))


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _request_row(request: ConsentRequest) -> dict[str, object]:
    return {
        "id": request.id,
        "owner": request.owner,
        "grantee": request.grantee,
        "domain": request.domain,
        "purpose": request.purpose,
        "claims": json.dumps(list(request.claims)),
        "record_id": request.record_id,
        "valid_for_us": _us(request.valid_for),
        "max_uses": request.max_uses,
        "separate_consent": request.separate_consent,
        "cross_border": request.cross_border,
        "state": request.state.value,
        "created_at": _ts(request.created_at),
        "expires_at": _ts(request.expires_at),
        "decided_at": None if request.decided_at is None else _ts(request.decided_at),
        "consent_id": request.consent_id,
        "request_key": request.request_key,
    }


def bounds_text(bounds: Mapping[str, object]) -> str:
    """A request's bounds as stored: sorted, compact JSON."""
    return json.dumps(dict(bounds), sort_keys=True, separators=(",", ":"))


def _request(row: Mapping[str, Any]) -> ConsentRequest:
    text = row.get("bounds")
    return ConsentRequest(
        id=RequestId(row["id"]),
        owner=OwnerId(row["owner"]),
        grantee=GranteeId(row["grantee"]),
        domain=row["domain"],
        purpose=row["purpose"],
        claims=tuple(json.loads(row["claims"])),
        record_id=None if row["record_id"] is None else RecordId(row["record_id"]),
        valid_for=timedelta(microseconds=row["valid_for_us"]),
        max_uses=row["max_uses"],
        separate_consent=bool(row["separate_consent"]),
        cross_border=bool(row["cross_border"]),
        state=RequestState(row["state"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        decided_at=_from_ts(row["decided_at"]),
        consent_id=None if row["consent_id"] is None else ConsentId(row["consent_id"]),
        request_key=row["request_key"],
        bounds=json.loads(text) if text else {},
    )


def _consent_row(consent: Consent) -> dict[str, object]:
    return {
        "id": consent.id,
        "request_id": consent.request_id,
        "owner": consent.owner,
        "grantee": consent.grantee,
        "domain": consent.domain,
        "purpose": consent.purpose,
        "claims": json.dumps(list(consent.claims)),
        "record_domain": consent.record.domain,
        "record_id": consent.record.record_id,
        "valid_from": _ts(consent.valid_from),
        "valid_until": _ts(consent.valid_until),
        "max_uses": consent.max_uses,
        "uses": consent.uses,
        "data_life_us": _us(consent.data_life),
        "separate_consent": consent.separate_consent,
        "cross_border": consent.cross_border,
        "created_at": _ts(consent.created_at),
        "state": consent.state.value,
        "artefact_jws": consent.artefact_jws,
        "artefact_hash": consent.artefact_hash,
    }


def _stored_bounds(jws: str) -> dict[str, int | str | bool]:
    """A consent's bounds, read from its signed artefact (the one place they are stored); none
    when the row holds no artefact (rows written by store tests)."""
    try:
        return artefact_bounds(jws)
    except ArtefactError:
        return {}


def _consent(row: Mapping[str, Any]) -> Consent:
    record_id = None if row["record_id"] is None else RecordId(row["record_id"])
    return Consent(
        id=ConsentId(row["id"]),
        request_id=RequestId(row["request_id"]),
        owner=OwnerId(row["owner"]),
        grantee=GranteeId(row["grantee"]),
        domain=row["domain"],
        purpose=row["purpose"],
        claims=tuple(json.loads(row["claims"])),
        record=RecordSelector(row["record_domain"], record_id),
        valid_from=datetime.fromisoformat(row["valid_from"]),
        valid_until=datetime.fromisoformat(row["valid_until"]),
        max_uses=row["max_uses"],
        uses=row["uses"],
        data_life=timedelta(microseconds=row["data_life_us"]),
        separate_consent=bool(row["separate_consent"]),
        cross_border=bool(row["cross_border"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        state=ConsentState(row["state"]),
        artefact_jws=row["artefact_jws"],
        artefact_hash=row["artefact_hash"],
        bounds=_stored_bounds(row["artefact_jws"]),
    )


def _event(row: Mapping[str, Any]) -> ConsentEvent:
    kind = RequestState if row["state_kind"] == "request" else ConsentState
    return ConsentEvent(
        seq=row["seq"],
        request_id=RequestId(row["request_id"]),
        consent_id=None if row["consent_id"] is None else ConsentId(row["consent_id"]),
        grantee=GranteeId(row["grantee"]),
        owner=OwnerId(row["owner"]),
        state=kind(row["state"]),
        at=datetime.fromisoformat(row["at"]),
    )
