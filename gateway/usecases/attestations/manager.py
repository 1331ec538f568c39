"""Issue single-use attestations, and the facade the servicer uses (no gRPC here).

Issue: the expensive, read-only work (consent checks, minimum sufficiency, decrypting the record,
evaluating predicates, signing the SD-JWT) happens on the caller's thread; one short unit of work
then re-checks the consent, counts the use, stores the attestation and its audit event atomically.

Redemption lives in ``gateway.usecases.attestations.redeem`` and the audit of refused attempts in
``gateway.usecases.attestations.refusals``: every refusal is audited with its precise reason;
callers only
see the stable public reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from attestgate.audit.events import AuditEvent, EventType
from attestgate.audit.sequencer import Tx
from attestgate.consent.bounds import check_params
from attestgate.consent.catalog import Catalog
from attestgate.consent.machine import check_usable
from attestgate.consent.model import Consent, ConsentId
from attestgate.consent.policy import Withheld, WithheldReason, decide
from attestgate.consent.predicates import ConsumptionKind, PredicateContext
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.persistence import ledger
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault, StoredRecord
from attestgate.gateway.usecases import idempotency
from attestgate.gateway.usecases.attestations import budget
from attestgate.gateway.usecases.attestations.consent_cache import ActiveConsents
from attestgate.gateway.usecases.attestations.redeem import Redeemer, RedemptionResult
from attestgate.gateway.usecases.attestations.refusals import RefusalAudit
from attestgate.gateway.usecases.attestations.release import Releaser, ReleaseResult
from attestgate.gateway.usecases.attestations.sdjwt_issuer import issue_sd_jwt
from attestgate.gateway.usecases.attestations.transfer import refuse_transferred_since
from attestgate.gateway.usecases.attestations.vc_types import VcTypes
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.erasure import refuse_erased_owner
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.gateway.usecases.records import latest_fx_table
from attestgate.gateway.usecases.status import AttestationStatus, Slot, SlotTakenError
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.protocol.status_list import reference_claim

CONSENT_HASH_CLAIM = "consent_hash"
MAX_TRANSACTION_REF = 128
_SLOT_DRAWS = 3
"""Status entries drawn for one issue at most (a concurrent issue taking the same random entry
of a 2^17 list is rare; twice in a row, rarer still)."""


@dataclass(frozen=True)
class IssuedAttestation:
    """An attestation as its bank sees it."""

    jti: str
    consent_id: str
    token: str
    claims: Mapping[str, object]
    withheld: tuple[Withheld, ...]
    issued_at: datetime
    expires_at: datetime
    state: ledger.AttestationState
    redeemed_at: datetime | None = None
    transaction_ref: str | None = None


@dataclass(frozen=True)
class _Evaluated:
    values: dict[str, object]
    kind: ledger.ConsumptionKind
    amount: int
    detail: dict[str, str]
    evaluations: int
    """Predicates evaluated (each costs one of the purpose's evaluation budget)."""


class AttestationManager:
    """IssueAttestation, RedeemAttestation, ReleaseRedemption and GetAttestation use cases."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        catalog: Catalog,
        vault: RecordVault,
        keyring: KeyRing,
        trail: Trail,
        refusals: RefusalAudit,
        redeemer: Redeemer,
        issuer: str,
        attestation_ttl: timedelta,
        vc_types: VcTypes | None = None,
        status: AttestationStatus | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._catalog = catalog
        self._vault = vault
        self._keyring = keyring  # signs the SD-JWTs
        self._trail = trail
        self._refusals = refusals
        self._redeemer = redeemer
        self._issuer = issuer  # the SD-JWT's ``iss``: the public URL (or the gateway id)
        self._types = vc_types or VcTypes(issuer, {})  # each purpose's vct and vct#integrity
        self._attestation_ttl = attestation_ttl
        self._status = status  # each attestation's Token Status List entry
        self._active = ActiveConsents(storage.consents)
        self._releaser = Releaser(
            storage=storage, clock=clock, catalog=catalog, trail=trail, refusals=refusals
        )

    def release(
        self, caller: Caller, jti: str, reason: str, key: IdempotencyKey | None
    ) -> ReleaseResult:
        """Release what the redemption of ``jti`` consumed (``release.py``)."""
        return self._releaser.release(caller, jti, reason, key)

    def redeem(self, caller: Caller, presentation: str, transaction_ref: str) -> RedemptionResult:
        """Verify the presentation and move ISSUED -> REDEEMED exactly once (``redeem.py``)."""
        return self._redeemer.redeem(caller, presentation, transaction_ref)

    # -- issue ---------------------------------------------------------------------------------

    def issue(
        self,
        caller: Caller,
        consent_id: str,
        *,
        params: Mapping[str, object],
        holder_jwk: Mapping[str, object],
        claims: Sequence[str],
        key: IdempotencyKey | None,
    ) -> IssuedAttestation:
        """Sign an attestation under an ACTIVE consent; uses one use of it."""
        for _ in range(_SLOT_DRAWS - 1):
            try:
                return self._issue(caller, consent_id, params, holder_jwk, claims=claims, key=key)
            except SlotTakenError:  # a concurrent issue took the drawn status entry: draw again
                continue
        return self._issue(caller, consent_id, params, holder_jwk, claims=claims, key=key)

    def _issue(
        self,
        caller: Caller,
        consent_id: str,
        params: Mapping[str, object],
        holder_jwk: Mapping[str, object],
        *,
        claims: Sequence[str],
        key: IdempotencyKey | None,
    ) -> IssuedAttestation:
        conn = self._storage.read()
        replay = idempotency.lookup(conn, key)
        if replay is not None:
            return self.get(caller, replay.decode())
        try:
            consent = self._usable_consent(conn, caller, consent_id)
            slot = self._status.draw() if self._status is not None else None
            prepared = self._prepare(conn, consent, params, holder_jwk, claims, slot=slot)
        except DomainError as exc:
            objects = {"consent_id": consent_id}
            self._refusals.record(caller, EventType.ATTESTATION_REFUSED, objects, exc)
            raise
        row, events, evaluations = prepared

        def unit(tx: Tx) -> str:
            stored = idempotency.claim(tx.conn, key, row.jti.encode(), row.issued_at.isoformat())
            if stored is not None:  # a concurrent retry committed first
                return stored.decode()
            used_up = self._count_use(tx, consent, events[0].time)  # a refusal rolls back
            ledger.insert(tx.conn, self._sealed(tx, consent, row))
            if self._status is not None and slot is not None:
                self._status.claim(tx, slot, jti=row.jti, consent_id=consent.id)
            issued = self._spend_budget(tx, consent, row.record_id, evaluations, events)
            for event in [*issued, *used_up]:  # causal order: the use, then the exhaustion
                tx.emit(event)
            return row.jti

        refusal = self._refusals.on_refusal(
            caller, EventType.ATTESTATION_REFUSED, {"consent_id": consent_id}
        )
        try:
            jti = self._storage.write(unit, on_refusal=refusal).value
        except DomainError:
            self._active.evict(consent_id)  # it changed since the read phase saw it
            raise
        if jti != row.jti:  # a concurrent retry with the same request_id won: return its result
            return self.get(caller, jti)
        return _issued(row)

    def _usable_consent(self, conn: Any, caller: Caller, consent_id: str) -> Consent:
        now = self._clock.now()
        consent = self._active.get(conn, ConsentId(consent_id), now)
        if consent.grantee != caller.subject:
            raise DomainError(Reason.NOT_CONSENT_GRANTEE, "the consent was not granted to you")
        refuse_erased_owner(consent.owner)
        check_usable(consent, now)
        return consent

    def _requested(self, conn: Any, consent: Consent) -> list[str]:
        """The claims the bank asked for in the consent request: those the owner unticked on
        approval come back in ``withheld`` (NOT_CONSENTED), as README promises."""
        return list(self._active.requested_claims(conn, consent))

    def _prepare(
        self,
        conn: Any,
        consent: Consent,
        params: Mapping[str, object],
        holder_jwk: Mapping[str, object],
        claims: Sequence[str],
        *,
        slot: Slot | None,
    ) -> tuple[ledger.AttestationRow, list[AuditEvent], int]:
        now = self._clock.now()
        disclosure = decide(
            self._catalog,
            domain=consent.domain,
            purpose=consent.purpose,
            requested=list(claims) or self._requested(conn, consent),
            consented=consent.claims,
        )
        # Parameters outside the owner's bounds are refused before anything is read or spent.
        predicates = self._catalog.domain(consent.domain).predicates
        check_params(
            self._catalog,
            consent.domain,
            consent.purpose,
            consent.bounds,
            params=params,
            evaluated=[c for c in disclosure.disclosed if c in predicates],
        )
        record = self._vault.get(
            conn, domain=consent.domain, subject=consent.owner, record_id=consent.record.record_id
        )
        if self._trail.record_ids_public(consent.domain):  # an asset may have changed holder
            refuse_transferred_since(self._vault, conn, consent, record.record_id)
        evaluated = self._evaluate(
            conn, consent, record, disclosed=disclosure.disclosed, params=params, now=now
        )
        kid, signing_key = self._keyring.current_signing_key()
        plain: dict[str, Any] = {CONSENT_HASH_CLAIM: consent.artefact_hash, **evaluated.detail}
        if slot is not None:  # draft-ietf-oauth-status-list §6.1, in clear
            plain["status"] = reference_claim(slot.uri, slot.idx)
        vct, vct_integrity = self._types.for_purpose(consent.domain, consent.purpose)
        issued = issue_sd_jwt(
            signing_key=signing_key,
            kid=kid,
            issuer=self._issuer,
            vct=vct,
            vct_integrity=vct_integrity,
            holder_jwk=holder_jwk,
            disclosed=evaluated.values,  # type: ignore[arg-type]
            plain=plain,
            now=now,
            ttl=self._attestation_ttl,
        )
        response = {
            "token": issued.token,
            "claims": evaluated.values,
            "withheld": [[w.claim, w.reason.value] for w in disclosure.withheld],
        }
        row = ledger.AttestationRow(
            jti=issued.jti,
            consent_id=consent.id,
            grantee=consent.grantee,
            domain=consent.domain,
            purpose=consent.purpose,
            record_id=record.record_id,
            consumption_kind=evaluated.kind,
            consumption_amount=evaluated.amount,
            state=ledger.AttestationState.ISSUED,
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
            redeemed_at=None,
            transaction_ref=None,
            response=json.dumps(response, sort_keys=True).encode(),
        )
        event = self._trail.event(
            EventType.ATTESTATION_ISSUED,
            now=now,
            role="bank",
            actor=consent.grantee,
            subject=consent.owner,
            objects={"consent_id": consent.id, "attestation_jti": issued.jti},
            claims=disclosure.disclosed,
            record=(consent.domain, record.record_id),
        )
        return row, [event], evaluated.evaluations

    def _evaluate(
        self,
        conn: Any,
        consent: Consent,
        record: StoredRecord,
        *,
        disclosed: Sequence[str],
        params: Mapping[str, object],
        now: datetime,
    ) -> _Evaluated:
        catalog = self._catalog
        spec = catalog.domain(consent.domain)
        ctx = self._predicate_context(
            conn, consent, record, [c for c in disclosed if c in spec.predicates], now
        )
        values: dict[str, object] = {}
        detail: dict[str, str] = {}
        kind, amount = ledger.ConsumptionKind.NONE, 0
        for claim in disclosed:
            field = spec.field_of(claim)  # a field's claim name may differ from the field's
            if field is not None:
                values[claim] = record.fields.get(field)
                continue
            result = catalog.evaluate(consent.domain, claim, record.fields, params, ctx)
            values[claim] = result.value
            detail.update(result.detail)
            if (
                result.consumption is not None
                and result.consumption.kind is not ConsumptionKind.NONE
            ):
                kind = ledger.ConsumptionKind(result.consumption.kind.value)
                amount = max(amount, result.consumption.amount)
        evaluations = sum(1 for claim in values if claim in spec.predicates)
        return _Evaluated(values, kind, amount, detail, evaluations)

    def _predicate_context(
        self,
        conn: Any,
        consent: Consent,
        record: StoredRecord,
        predicates: Sequence[str],
        now: datetime,
    ) -> PredicateContext:
        """What the predicates need: capacity only for consuming predicates, the FX table only for
        amount predicates (a read saved on the hot path of the others)."""
        kinds = {self._catalog.predicates.get(name).consumes for name in predicates}
        consumed, pledged_by = 0, None
        if kinds - {ConsumptionKind.NONE}:
            consumed, pledged_by = ledger.consumed(conn, consent.domain, record.record_id)
        fx_rates = latest_fx_table(conn) if ConsumptionKind.AMOUNT in kinds else None
        return PredicateContext(
            subject=consent.owner,
            now=now,
            consumed=consumed,
            pledged=pledged_by is not None,
            fx_rates=fx_rates,
        )

    def _spend_budget(
        self, tx: Tx, consent: Consent, record_id: str, cost: int, events: list[AuditEvent]
    ) -> list[AuditEvent]:
        """Count the predicate evaluations against the purpose's budget (``budget.py``); the
        issued event shows the owner how much of it is used and when it renews."""
        limit = self._catalog.purpose(consent.domain, consent.purpose).evaluation_budget
        if limit is None or cost == 0:
            return events
        key = budget.BudgetKey(consent.grantee, consent.domain, record_id, consent.purpose)
        shown = budget.spend(tx.conn, key, limit, cost, self._clock.now()).objects(cost)
        return [
            replace(e, objects={**e.objects, **shown})
            if e.type is EventType.ATTESTATION_ISSUED
            else e
            for e in events
        ]

    def _count_use(self, tx: Tx, consent: Consent, at: datetime) -> list[AuditEvent]:
        """Use one use of ``consent``; the ``consent.exhausted`` event (at ``at``, the unit of
        work's time) if that was its last, for the caller to emit after ``attestation.issued``."""
        # One conditional write: refused (with the precise reason) if the consent was revoked,
        # paused, spent or expired since the read phase.
        now = self._clock.now()
        uses, max_uses = self._storage.consents(tx.conn).use_consent(consent.id, now=now)
        if uses < max_uses:
            return []
        exhausted = self._trail.event(
            EventType.CONSENT_EXHAUSTED,
            now=at,
            role="system",
            actor="gateway",
            subject=consent.owner,
            objects={"consent_id": consent.id},
        )
        return [exhausted]

    # -- read ----------------------------------------------------------------------------------

    def _sealed(
        self, tx: Tx, consent: Consent, row: ledger.AttestationRow
    ) -> ledger.AttestationRow:
        """``row`` with its response (disclosed values, token) sealed under the owner's derived data
        key of the domain: erasing the owner's records there shreds it too
        (``gateway.persistence.vault``)."""
        sealed = self._vault.seal_derived(
            tx.conn,
            subject=consent.owner,
            domain=row.domain,
            label=row.jti,
            plaintext=row.response,
            now=row.issued_at,
        )
        return replace(row, response=sealed)

    def get(self, caller: Caller, jti: str) -> IssuedAttestation:
        """An attestation held by the calling bank (``DATA_ERASED`` once its owner's records it
        was derived from were erased)."""
        conn = self._storage.read()
        row = ledger.get(conn, jti)
        if row.grantee != caller.subject:
            raise DomainError(
                Reason.NOT_ATTESTATION_HOLDER, "the attestation was issued to another bank"
            )
        opened = self._vault.open_derived(
            conn, domain=row.domain, label=row.jti, sealed=row.response
        )
        return _issued(replace(row, response=opened))


def _issued(row: ledger.AttestationRow) -> IssuedAttestation:
    """The bank's view of a stored attestation row."""
    response = json.loads(row.response)
    withheld = tuple(Withheld(c, WithheldReason(r)) for c, r in response["withheld"])
    return IssuedAttestation(
        jti=row.jti,
        consent_id=row.consent_id,
        token=response["token"],
        claims=response["claims"],
        withheld=withheld,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        state=row.state,
        redeemed_at=row.redeemed_at,
        transaction_ref=row.transaction_ref,
    )
