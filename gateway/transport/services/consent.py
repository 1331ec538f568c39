"""ConsentService: wire <-> domain translation only; the rules live in
``gateway.usecases.consents``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import grpc

from attestgate.audit.events import AuditEvent
from attestgate.consent.machine import ConsentAction
from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentRequest,
    ConsentState,
    RequestState,
)
from attestgate.gateway.common.cursors import parse_cursor
from attestgate.gateway.common.signals import ChangeSignal
from attestgate.gateway.transport.services import wire
from attestgate.gateway.usecases.activity import OwnerActivity
from attestgate.gateway.usecases.consents import ConsentManager, RequestDraft
from attestgate.protocol.reasons import FieldViolation, invalid_argument
from attestgate.v1 import common_pb2, consent_pb2, consent_pb2_grpc

_SERVICE = "/attestgate.v1.ConsentService/"
_WATCH_POLL_SECONDS = 1.0


def _request_state(state: RequestState) -> int:
    return int(consent_pb2.ConsentRequestState.Value(f"CONSENT_REQUEST_STATE_{state.value}"))


def _consent_state(state: ConsentState) -> int:
    return int(consent_pb2.ConsentState.Value(f"CONSENT_STATE_{state.value}"))


def request_message(request: ConsentRequest) -> consent_pb2.ConsentRequest:
    """A consent request on the wire."""
    return consent_pb2.ConsentRequest(
        name=f"consentRequests/{request.id}",
        owner=request.owner,
        grantee=request.grantee,
        domain=request.domain,
        purpose=request.purpose,
        claims=list(request.claims),
        record_id=request.record_id or "",
        valid_for=wire.duration(request.valid_for),
        max_uses=request.max_uses,
        separate_consent=request.separate_consent,
        cross_border=request.cross_border,
        state=_request_state(request.state),  # type: ignore[arg-type]
        create_time=wire.timestamp(request.created_at),
        expire_time=wire.timestamp(request.expires_at),
        decide_time=wire.timestamp(request.decided_at),
        consent=f"consents/{request.consent_id}" if request.consent_id else "",
        bounds={k: wire.to_value(v) for k, v in request.bounds.items()},
    )


def consent_message(consent: Consent) -> consent_pb2.Consent:
    """A consent artefact on the wire."""
    return consent_pb2.Consent(
        name=f"consents/{consent.id}",
        consent_request=f"consentRequests/{consent.request_id}",
        owner=consent.owner,
        grantee=consent.grantee,
        domain=consent.domain,
        purpose=consent.purpose,
        claims=list(consent.claims),
        record_id=consent.record.record_id or "",
        valid_from=wire.timestamp(consent.valid_from),
        valid_until=wire.timestamp(consent.valid_until),
        max_uses=consent.max_uses,
        uses=consent.uses,
        data_life=wire.duration(consent.data_life),
        separate_consent=consent.separate_consent,
        cross_border=consent.cross_border,
        create_time=wire.timestamp(consent.created_at),
        state=_consent_state(consent.state),  # type: ignore[arg-type]
        artefact_jws=consent.artefact_jws,
        artefact_hash=consent.artefact_hash,
        bounds={k: wire.to_value(v) for k, v in consent.bounds.items()},
    )


def _bounds(field: str, values: Mapping[str, common_pb2.Value]) -> dict[str, int | str | bool]:
    """Wire bounds as plain values (ints, strings, booleans; a date stays ISO text)."""
    return {
        key: value
        for key, value in wire.from_values(field, values).items()
        if isinstance(value, int | str | bool)
    }


def event_message(event: ConsentEvent) -> consent_pb2.ConsentEvent:
    """A consent status change on the wire; the cursor is the feed sequence number."""
    if isinstance(event.state, ConsentState):
        state = f"CONSENT_STATE_{event.state.value}"
    else:
        state = f"CONSENT_REQUEST_STATE_{event.state.value}"
    return consent_pb2.ConsentEvent(
        cursor=str(event.seq),
        consent_request=f"consentRequests/{event.request_id}",
        consent=f"consents/{event.consent_id}" if event.consent_id else "",
        state=state,
        time=wire.timestamp(event.at),
    )


def activity_message(index: int, event: AuditEvent) -> consent_pb2.ActivityEntry:
    """One audit event about the owner, as ListActivity shows it."""
    return consent_pb2.ActivityEntry(
        log_index=index,
        type=event.type.value,
        time=wire.timestamp(event.time),
        actor_role=event.actor_role.value,
        actor_id=event.actor_id,
        objects=dict(event.objects),
        decision=event.decision.value,
        reason=event.reason or "",
        claims=list(event.claims),
    )


def _state_filter(value: int, prefix: str, enum: type[Any]) -> Any:
    if value == 0:
        return None
    name = consent_pb2.ConsentRequestState.Name if prefix.startswith("CONSENT_REQUEST") else None
    try:
        text = (name or consent_pb2.ConsentState.Name)(value)  # type: ignore[arg-type]
        return enum(text.removeprefix(prefix))
    except ValueError:  # proto3 enums are open: any int arrives; only known states filter
        raise invalid_argument(FieldViolation("state", "not a known state")) from None


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    """Consent requests, decisions and feeds."""

    def __init__(
        self, *, consents: ConsentManager, activity: OwnerActivity, consent_changes: ChangeSignal
    ) -> None:
        self._consents = consents
        self._activity = activity
        self._consent_changes = consent_changes  # what WatchConsentEvents waits on

    def CreateConsentRequest(
        self, request: consent_pb2.CreateConsentRequestRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ConsentRequest:
        body = request.consent_request
        draft = RequestDraft(
            owner=body.owner,
            domain=wire.bounded_name("consent_request.domain", body.domain),
            purpose=wire.bounded_name("consent_request.purpose", body.purpose),
            claims=wire.claim_names("consent_request.claims", body.claims),
            record_id=body.record_id or None,
            valid_for=wire.optional_duration(
                "consent_request.valid_for", body.valid_for, body.HasField("valid_for")
            ),
            max_uses=body.max_uses or 1,
            separate_consent=body.separate_consent,
            cross_border=body.cross_border,
            bounds=_bounds("consent_request.bounds", body.bounds),
        )
        key = wire.idempotency_key(_SERVICE + "CreateConsentRequest", request.request_id, request)
        created = self._consents.create_request(wire.caller(), draft, key)
        return request_message(created)

    def ListConsentRequests(
        self, request: consent_pb2.ListConsentRequestsRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ListConsentRequestsResponse:
        state = _state_filter(request.state, "CONSENT_REQUEST_STATE_", RequestState)
        page = self._consents.list_requests(
            wire.caller(),
            state,
            wire.page_size(request.page_size),
            wire.decode_page_token(request.page_token),
        )
        return consent_pb2.ListConsentRequestsResponse(
            consent_requests=[request_message(r) for r in page.items],
            next_page_token=wire.encode_page_token(page.next_after),
        )

    def ApproveConsentRequest(
        self, request: consent_pb2.ApproveConsentRequestRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        request_id = wire.parse_name("name", request.name, "consentRequests")
        key = wire.idempotency_key(_SERVICE + "ApproveConsentRequest", request.request_id, request)
        claims = list(wire.claim_names("claims", request.claims)) or None
        bounds = _bounds("bounds", request.bounds) or None
        return consent_message(
            self._consents.approve(wire.caller(), request_id, claims, key, bounds=bounds)
        )

    def RejectConsentRequest(
        self, request: consent_pb2.RejectConsentRequestRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ConsentRequest:
        request_id = wire.parse_name("name", request.name, "consentRequests")
        return request_message(self._consents.reject(wire.caller(), request_id))

    def GetConsent(
        self, request: consent_pb2.GetConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        consent_id = wire.parse_name("name", request.name, "consents")
        return consent_message(self._consents.get_consent(wire.caller(), consent_id))

    def ListConsents(
        self, request: consent_pb2.ListConsentsRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ListConsentsResponse:
        state = _state_filter(request.state, "CONSENT_STATE_", ConsentState)
        page = self._consents.list_consents(
            wire.caller(),
            state,
            wire.page_size(request.page_size),
            wire.decode_page_token(request.page_token),
        )
        return consent_pb2.ListConsentsResponse(
            consents=[consent_message(c) for c in page.items],
            next_page_token=wire.encode_page_token(page.next_after),
        )

    def _change(self, name: str, action: ConsentAction) -> consent_pb2.Consent:
        consent_id = wire.parse_name("name", name, "consents")
        return consent_message(self._consents.change(wire.caller(), consent_id, action))

    def PauseConsent(
        self, request: consent_pb2.PauseConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._change(request.name, ConsentAction.PAUSE)

    def ResumeConsent(
        self, request: consent_pb2.ResumeConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._change(request.name, ConsentAction.RESUME)

    def RevokeConsent(
        self, request: consent_pb2.RevokeConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._change(request.name, ConsentAction.REVOKE)

    def WatchConsentEvents(
        self, request: consent_pb2.WatchConsentEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[consent_pb2.ConsentEvent]:
        seq = _cursor(request.cursor)
        caller = wire.caller()
        while context.is_active():
            events = self._consents.events_after(caller, seq)
            for event in events:
                seq = event.seq
                yield event_message(event)
            if not events:
                self._consent_changes.wait(_WATCH_POLL_SECONDS)

    def ListActivity(
        self, request: consent_pb2.ListActivityRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ListActivityResponse:
        caller = wire.caller()
        size = wire.page_size(request.page_size)
        position = wire.decode_page_position(request.page_token)
        start = -1 if position is None else position
        events, cursor = self._activity.page(caller, start, size)
        return consent_pb2.ListActivityResponse(
            entries=[activity_message(i, event) for i, event in events],
            next_page_token=wire.encode_page_token(None if cursor is None else str(cursor)),
        )


def _cursor(text: str) -> int:
    return parse_cursor(text, field="cursor") if text else 0
