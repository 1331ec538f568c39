"""Consent use cases: banks ask, owners decide, everything audited (no gRPC here).

Every change runs as one unit of work through the sequencer, so the consent, its event for
``WatchConsentEvents`` and its audit-log entry are committed together. Refused changes are
audited too
(``on_refusal``) and change nothing else.

Expiry and exhaustion are read-time views (``consent.machine.effective_state``): a consent whose
uses are spent is shown EXHAUSTED, and listings filtered by state return what they show. An
EXHAUSTED consent is final for pause and resume (``CONSENT_EXHAUSTED``, nothing written, not even a
refusal leaf: such a change could change nothing); its owner can still revoke it, because the
attestation issued with its last use may not have been redeemed yet.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from attestgate.audit.events import AuditEvent, EventType
from attestgate.audit.sequencer import Tx
from attestgate.consent.artefact import seal_consent
from attestgate.consent.bounds import narrow_bounds, validate_bounds
from attestgate.consent.catalog import Catalog
from attestgate.consent.machine import (
    ConsentAction,
    RequestAction,
    apply_request_action,
    effective_request_state,
    effective_state,
    next_consent_state,
)
from attestgate.consent.model import (
    PENDING_REQUEST_LIFETIME,
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
from attestgate.consent.policy import narrow_claims, validate_request
from attestgate.consent.store import ConsentStore, Page
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.signals import ChangeSignal
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases import idempotency
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.gateway.usecases.refusal_budget import RefusalBudget, budgeted_hook
from attestgate.gateway.usecases.status import AttestationStatus
from attestgate.gateway.usecases.trail import ERASED_OWNER, Trail, is_erased_owner
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

MAX_ID = 128

_ACTION_EVENT = {
    ConsentAction.PAUSE: EventType.CONSENT_PAUSED,
    ConsentAction.RESUME: EventType.CONSENT_RESUMED,
    ConsentAction.REVOKE: EventType.CONSENT_REVOKED,
}


@dataclass(frozen=True)
class RequestDraft:
    """What a bank asks for (already decoded from the wire)."""

    owner: str
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record_id: str | None
    valid_for: timedelta | None
    max_uses: int
    separate_consent: bool
    cross_border: bool
    bounds: Mapping[str, int | str | bool] = field(default_factory=dict)
    """Parameter bounds for later issues (``consent.bounds``); empty: none."""


def new_id(prefix: str) -> str:
    """A random, unguessable resource id."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def check_id(field: str, value: str) -> str:
    """A non-empty, printable id of bounded length (INVALID_ARGUMENT otherwise)."""
    if not value or len(value) > MAX_ID or not value.isprintable() or "/" in value:
        raise invalid_argument(FieldViolation(field, f"1..{MAX_ID} printable characters, no '/'"))
    if is_erased_owner(value):
        raise invalid_argument(FieldViolation(field, f"ids starting {ERASED_OWNER!r} are reserved"))
    return value


class ConsentManager:
    """The consent use cases of banks and owners."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        catalog: Catalog,
        keyring: KeyRing,
        trail: Trail,
        refusal_budget: RefusalBudget,
        consent_changes: ChangeSignal,
        max_pending_requests: int,
        status: AttestationStatus | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._catalog = catalog
        self._keyring = keyring  # signs the consent artefacts
        self._trail = trail
        self._refusal_budget = refusal_budget
        self._consent_changes = consent_changes  # woken when a change is staged
        self._max_pending_requests = max_pending_requests
        self._status = status  # the consent's attestations follow pause, resume and revoke

    # -- banks ---------------------------------------------------------------------------------

    def create_request(
        self, caller: Caller, draft: RequestDraft, key: IdempotencyKey | None
    ) -> ConsentRequest:
        """Validate against the purpose template and store a PENDING request."""
        check_id("consent_request.owner", draft.owner)
        if draft.record_id is not None:
            check_id("consent_request.record_id", draft.record_id)
        terms = validate_request(
            self._catalog,
            domain=draft.domain,
            purpose=draft.purpose,
            claims=draft.claims,
            valid_for=draft.valid_for,
            max_uses=draft.max_uses,
        )
        bounds = validate_bounds(
            self._catalog, draft.domain, draft.purpose, draft.bounds, asked=draft.claims
        )
        now = self._clock.now()
        request = ConsentRequest.new(
            id=RequestId(new_id("cr")),
            owner=OwnerId(draft.owner),
            grantee=GranteeId(caller.subject),
            domain=draft.domain,
            purpose=draft.purpose,
            claims=terms.claims,
            valid_for=terms.valid_for,
            max_uses=terms.max_uses,
            now=now,
            record_id=RecordId(draft.record_id) if draft.record_id else None,
            separate_consent=draft.separate_consent,
            cross_border=draft.cross_border,
            bounds=bounds,
        )

        def unit(tx: Tx) -> RequestId:
            replay = idempotency.lookup(tx.conn, key)
            if replay is not None:
                return RequestId(replay.decode())
            store = self._storage.consents(tx.conn)
            self._check_pending_limit(store, request, now)
            store.add_request(request)
            self._feed(tx, request, None, RequestState.PENDING, now)
            tx.emit(self._event(EventType.CONSENT_REQUESTED, caller, request, None, now))
            idempotency.remember(tx.conn, key, request.id.encode(), now.isoformat())
            return request.id

        request_id = self._storage.write(unit).value
        return self.get_request(caller, request_id)

    def get_request(self, caller: Caller, request_id: str) -> ConsentRequest:
        """A request its grantee or owner may see, with expiry folded in."""
        store = self._storage.consents(self._storage.read())
        request = store.get_request(RequestId(request_id))
        self._check_party(caller, request.owner, request.grantee)
        state = effective_request_state(request, self._clock.now())
        return replace(request, state=state)

    def list_requests(
        self, caller: Caller, state: RequestState | None, page_size: int, after: str | None
    ) -> Page[ConsentRequest]:
        """The caller's requests (as bank: made; as owner: received)."""
        store = self._storage.consents(self._storage.read())
        owner, grantee = self._parties(caller)
        page = store.list_requests(
            owner=owner,
            grantee=grantee,
            states=[state] if state else None,
            page_size=page_size,
            after_id=after,
        )
        now = self._clock.now()
        items = tuple(replace(r, state=effective_request_state(r, now)) for r in page.items)
        return Page(items, page.next_after)

    def get_consent(self, caller: Caller, consent_id: str) -> Consent:
        """A consent its grantee or owner may see, with expiry and exhaustion folded in."""
        store = self._storage.consents(self._storage.read())
        consent = store.get_consent(ConsentId(consent_id))
        self._check_party(caller, consent.owner, consent.grantee)
        return replace(consent, state=effective_state(consent, self._clock.now()))

    def list_consents(
        self, caller: Caller, state: ConsentState | None, page_size: int, after: str | None
    ) -> Page[Consent]:
        """The caller's consents (as bank: granted to it; as owner: given)."""
        store = self._storage.consents(self._storage.read())
        owner, grantee = self._parties(caller)
        now = self._clock.now()  # one moment for the filter and the states shown
        page = store.list_consents(
            owner=owner,
            grantee=grantee,
            states=[state] if state else None,
            now=now,
            page_size=page_size,
            after_id=after,
        )
        items = tuple(replace(c, state=effective_state(c, now)) for c in page.items)
        return Page(items, page.next_after)

    def events_after(self, caller: Caller, seq: int, limit: int = 100) -> list[ConsentEvent]:
        """The bank's consent status changes after ``seq`` (resume cursor)."""
        store = self._storage.consents(self._storage.read())
        return store.events_after(GranteeId(caller.subject), seq, limit)

    # -- owners --------------------------------------------------------------------------------

    def approve(
        self,
        caller: Caller,
        request_id: str,
        claims: Sequence[str] | None,
        key: IdempotencyKey | None,
        bounds: Mapping[str, int | str | bool] | None = None,
    ) -> Consent:
        """PENDING -> APPROVED; a signed consent artefact becomes ACTIVE. ``claims`` and
        ``bounds`` narrow the request (a lower maximum; widening is refused)."""

        def unit(tx: Tx) -> ConsentId:
            replay = idempotency.lookup(tx.conn, key)
            if replay is not None:
                return ConsentId(replay.decode())
            store = self._storage.consents(tx.conn)
            request = self._owned_request(store, caller, request_id)
            now = self._clock.now()
            decided = apply_request_action(request, RequestAction.APPROVE, now)
            approved = narrow_bounds(
                self._catalog, request.domain, request.purpose, request.bounds, bounds
            )
            current = self._catalog.domain(request.domain).current_claim
            narrowed = narrow_claims(request.claims, claims, current)
            consent = self._seal(self._consent_for(request, narrowed, now, approved))
            store.add_consent(consent)
            store.update_request(
                replace(decided, consent_id=consent.id), expected_state=RequestState.PENDING
            )
            self._feed(tx, request, consent.id, ConsentState.ACTIVE, now)
            tx.emit(self._event(EventType.CONSENT_APPROVED, caller, request, consent, now))
            idempotency.remember(tx.conn, key, consent.id.encode(), now.isoformat())
            return consent.id

        refusal = self._refusal(
            EventType.CONSENT_APPROVED, caller, {"consent_request_id": request_id}
        )
        consent_id = self._storage.write(unit, on_refusal=refusal).value
        return self.get_consent(caller, consent_id)

    def reject(self, caller: Caller, request_id: str) -> ConsentRequest:
        """PENDING -> REJECTED."""

        def unit(tx: Tx) -> None:
            store = self._storage.consents(tx.conn)
            request = self._owned_request(store, caller, request_id)
            now = self._clock.now()
            decided = apply_request_action(request, RequestAction.REJECT, now)
            store.update_request(decided, expected_state=RequestState.PENDING)
            self._feed(tx, request, None, RequestState.REJECTED, now)
            tx.emit(self._event(EventType.CONSENT_REJECTED, caller, request, None, now))

        refusal = self._refusal(
            EventType.CONSENT_REJECTED, caller, {"consent_request_id": request_id}
        )
        self._storage.write(unit, on_refusal=refusal)
        return self.get_request(caller, request_id)

    def change(self, caller: Caller, consent_id: str, action: ConsentAction) -> Consent:
        """Pause, resume or revoke a consent the caller owns."""

        def unit(tx: Tx) -> None:
            store = self._storage.consents(tx.conn)
            consent = store.get_consent(ConsentId(consent_id))
            if consent.owner != caller.subject:
                raise DomainError(Reason.NOT_CONSENT_OWNER, "only the owner may change a consent")
            now = self._clock.now()
            target = next_consent_state(_owner_state(consent, action, now), action)
            store.update_consent(
                replace(consent, state=target),
                expected_state=consent.state,
                expected_uses=consent.uses,
            )
            request = store.get_request(consent.request_id)
            self._feed(tx, request, consent.id, target, now)
            tx.emit(self._event(_ACTION_EVENT[action], caller, request, consent, now))
            if self._status is not None:
                self._status.on_consent(tx, consent.id, target, owner=consent.owner, now=now)

        audited = self._refusal(_ACTION_EVENT[action], caller, {"consent_id": consent_id})

        def refusal(error: DomainError) -> list[AuditEvent]:
            return [] if error.reason is Reason.CONSENT_EXHAUSTED else audited(error)

        self._storage.write(unit, on_refusal=refusal)
        return self.get_consent(caller, consent_id)

    # -- helpers -------------------------------------------------------------------------------

    def _check_pending_limit(
        self, store: ConsentStore, request: ConsentRequest, now: datetime
    ) -> None:
        """At most ``max_pending_requests`` undecided requests per (bank, owner): a bank cannot
        bury other banks' requests in the owner's inbox. Counted in the unit of work that adds
        the request (units are serialized, on PostgreSQL across replicas too)."""
        limit = self._max_pending_requests
        if store.count_pending_requests(request.owner, request.grantee, now) >= limit:
            raise DomainError(
                Reason.TOO_MANY_PENDING_REQUESTS,
                f"you already have {limit} undecided consent requests to this owner, the most "
                "allowed; ask again once the owner has approved or rejected some, or once they "
                f"expired ({PENDING_REQUEST_LIFETIME.days} days after they were made)",
                metadata={"limit": str(limit)},
            )

    def _owned_request(
        self, store: ConsentStore, caller: Caller, request_id: str
    ) -> ConsentRequest:
        request = store.get_request(RequestId(request_id))
        if request.owner != caller.subject:
            raise DomainError(Reason.NOT_CONSENT_OWNER, "only the owner may decide this request")
        return request

    def _consent_for(
        self,
        request: ConsentRequest,
        claims: tuple[str, ...],
        now: datetime,
        bounds: Mapping[str, int | str | bool],
    ) -> Consent:
        purpose = self._catalog.purpose(request.domain, request.purpose)
        return Consent(
            id=ConsentId(new_id("cs")),
            request_id=request.id,
            owner=request.owner,
            grantee=request.grantee,
            domain=request.domain,
            purpose=request.purpose,
            claims=claims,
            record=RecordSelector(request.domain, request.record_id),
            valid_from=now,
            valid_until=now + request.valid_for,
            max_uses=request.max_uses,
            uses=0,
            data_life=purpose.data_life,
            separate_consent=request.separate_consent,
            cross_border=request.cross_border,
            created_at=now,
            state=ConsentState.ACTIVE,
            bounds=dict(bounds),
        )

    def _seal(self, consent: Consent) -> Consent:
        kid, key = self._keyring.current_signing_key()
        return seal_consent(consent, private_key=key, kid=kid)

    def _feed(
        self,
        tx: Tx,
        request: ConsentRequest,
        consent_id: ConsentId | None,
        state: RequestState | ConsentState,
        now: datetime,
    ) -> None:
        event = ConsentEvent(0, request.id, consent_id, request.grantee, request.owner, state, now)
        self._storage.consents(tx.conn).append_event(event)
        self._consent_changes.notify()

    def _event(
        self,
        kind: EventType,
        caller: Caller,
        request: ConsentRequest,
        consent: Consent | None,
        now: datetime,
    ) -> AuditEvent:
        return self._trail.event(
            kind,
            now=now,
            role=caller.role,
            actor=caller.subject,
            subject=request.owner,
            objects={
                "consent_request_id": request.id,
                "consent_id": consent.id if consent else "",
                "grantee": request.grantee,
                "domain": request.domain,
                "purpose": request.purpose,
                # The signed terms this step is about: an owner's consent receipt ties the
                # artefact to this leaf (attestgate.sdk.consent_receipt).
                **({"artefact_hash": consent.artefact_hash} if consent else {}),
            },
            claims=consent.claims if consent else request.claims,
        )

    def _refusal(
        self, kind: EventType, caller: Caller, objects: dict[str, str]
    ) -> Callable[[DomainError], list[AuditEvent]]:
        def build(error: DomainError, counted: Mapping[str, str]) -> AuditEvent:
            return self._trail.event(
                kind,
                now=self._clock.now(),
                role=caller.role,
                actor=caller.subject,
                subject=self._subject_of(objects),
                objects=counted,
                refusal=error,
            )

        # Within the caller's refusal budget (gateway.usecases.refusal_budget), like attestation
        # refusals.
        budget = self._refusal_budget
        return budgeted_hook(budget, caller.role, caller.subject, build, objects)

    def _subject_of(self, objects: dict[str, str]) -> str | None:
        """The owner a refused attempt was about, if the request or consent exists."""
        store = self._storage.consents(self._storage.read())
        try:
            if "consent_id" in objects:
                return store.get_consent(ConsentId(objects["consent_id"])).owner
            return store.get_request(RequestId(objects["consent_request_id"])).owner
        except (DomainError, KeyError):
            return None

    @staticmethod
    def _parties(caller: Caller) -> tuple[OwnerId | None, GranteeId | None]:
        """(owner, grantee) filter: owners list what they gave, banks what they were given."""
        if caller.role == "owner":
            return OwnerId(caller.subject), None
        return None, GranteeId(caller.subject)

    @staticmethod
    def _check_party(caller: Caller, owner: str, grantee: str) -> None:
        if caller.role == "owner" and caller.subject != owner:
            raise DomainError(Reason.NOT_CONSENT_OWNER, "not your consent")
        if caller.role == "bank" and caller.subject != grantee:
            raise DomainError(Reason.NOT_CONSENT_GRANTEE, "not granted to you")


def _owner_state(consent: Consent, action: ConsentAction, now: datetime) -> ConsentState:
    """The state an owner's ``action`` applies to: the consent as read at ``now``. An EXHAUSTED
    consent takes no pause or resume (docs/consent.md); a revoke applies to its stored state."""
    state = effective_state(consent, now)
    if state is not ConsentState.EXHAUSTED:
        return state
    if action is ConsentAction.REVOKE:
        return consent.state  # stored ACTIVE, spent
    raise DomainError(
        Reason.CONSENT_EXHAUSTED,
        f"the consent is used up: all {consent.max_uses} of its uses are spent, so it can no "
        "longer be paused or resumed; the bank needs a new consent request (and your approval) "
        "for further attestations",
        metadata={"state": ConsentState.EXHAUSTED.value},
    )
