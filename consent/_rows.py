"""Rows of the SQL consent stores (SQLite and PostgreSQL share one schema shape).

Private to ``consent``: converting values to and from columns, and the paged listings, written once
for both SQL stores. Datetimes are ISO 8601 UTC text with microseconds (fixed width, so text order
is time order); timedeltas integer microseconds; claim lists JSON arrays.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
from attestgate.consent.store import Page, listing_sql, make_page


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
        "separate_consent": int(request.separate_consent),
        "cross_border": int(request.cross_border),
        "state": request.state.value,
        "created_at": _ts(request.created_at),
        "expires_at": _ts(request.expires_at),
        "decided_at": None if request.decided_at is None else _ts(request.decided_at),
        "consent_id": request.consent_id,
        "request_key": request.request_key,
    }


def _request(row: Mapping[str, Any]) -> ConsentRequest:
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
        "separate_consent": int(consent.separate_consent),
        "cross_border": int(consent.cross_border),
        "created_at": _ts(consent.created_at),
        "state": consent.state.value,
        "artefact_jws": consent.artefact_jws,
        "artefact_hash": consent.artefact_hash,
    }


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


class SqlListing(ABC):
    """``list_consents`` and ``list_requests`` for a store that can run one SELECT."""

    @abstractmethod
    def _select(self, table: str, sql: str, params: list[object]) -> list[dict[str, Any]]:
        """Rows of ``sql`` as column -> value mappings (``table`` names the columns' source)."""

    def _columns(self, table: str) -> str:
        """The select list for ``table``."""
        return "*"

    def list_consents(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[ConsentState] | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[Consent]:
        """Consents matching every given filter, by ascending id."""
        sql, params = listing_sql(
            "consents",
            self._columns("consents"),
            owner=owner,
            grantee=grantee,
            states=states,
            page_size=page_size,
            after_id=after_id,
        )
        rows = self._select("consents", sql, params)
        return make_page([_consent(row) for row in rows], page_size, "id")

    def list_requests(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[RequestState] | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[ConsentRequest]:
        """Requests matching every given filter, by ascending id."""
        sql, params = listing_sql(
            "consent_requests",
            self._columns("consent_requests"),
            owner=owner,
            grantee=grantee,
            states=states,
            page_size=page_size,
            after_id=after_id,
        )
        rows = self._select("consent_requests", sql, params)
        return make_page([_request(row) for row in rows], page_size, "id")
