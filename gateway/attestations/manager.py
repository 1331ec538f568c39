"""Issue and redeem single-use attestations (no gRPC here).

Issue: the expensive, read-only work (consent checks, minimum sufficiency, decrypting the record,
evaluating predicates, signing the SD-JWT) happens on the caller's thread; one short unit of work
then re-checks the consent, counts the use, stores the attestation and its audit event atomically.

Redeem: the presentation is verified with the one shared verifier (``sdk.sdjwt``), the KB-JWT bound
to this gateway (``aud``) and to this redemption (``nonce = redemption_nonce(jti,
transaction_ref)``).
One unit of work then moves ISSUED -> REDEEMED and applies the purpose's consumption: all or
nothing.
Every refusal is audited with its precise reason; callers only see the stable public reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from audit.events import AuditEvent, EventType
from audit.sequencer import Tx
from consent.machine import check_usable
from consent.model import Consent, ConsentId, ConsentState
from consent.policy import Withheld, WithheldReason, decide
from consent.predicates import ConsumptionKind, PredicateContext
from gateway import idempotency, trail
from gateway.attestations import ledger
from gateway.attestations.sdjwt_issuer import issue_sd_jwt
from gateway.context import Caller, Core
from gateway.idempotency import IdempotencyKey
from gateway.records import latest_fx_table
from gateway.vault import StoredRecord
from sdk._internal.jose import Jwks
from sdk.reasons import DomainError, FieldViolation, Reason, invalid_argument
from sdk.sdjwt import (
    KeyBindingPolicy,
    SdJwtError,
    VerifiedSdJwt,
    VerifyFailure,
    redemption_nonce,
    unverified_jti,
    verify_sd_jwt,
)

log = logging.getLogger(__name__)

CONSENT_HASH_CLAIM = "consent_hash"
MAX_TRANSACTION_REF = 128


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
class RedemptionResult:
    """A successful redemption."""

    jti: str
    transaction_ref: str
    redeemed_at: datetime
    consumption: ledger.ConsumptionKind
    consumed_amount: int
    consumed_currency: str
    log_index: int


@dataclass(frozen=True)
class _Evaluated:
    values: dict[str, object]
    kind: ledger.ConsumptionKind
    amount: int
    detail: dict[str, str]


class AttestationManager:
    """IssueAttestation, RedeemAttestation and GetAttestation use cases."""

    def __init__(self, core: Core) -> None:
        self._core = core

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
        conn = self._core.storage.read()
        replay = idempotency.lookup(conn, key)
        if replay is not None:
            return self.get(caller, replay.decode())
        try:
            consent = self._usable_consent(conn, caller, consent_id)
            prepared = self._prepare(conn, consent, params, holder_jwk, claims)
        except DomainError as exc:
            objects = {"consent_id": consent_id}
            self._audit_refusal(caller, EventType.ATTESTATION_REFUSED, objects, exc)
            raise
        row, events = prepared

        def unit(tx: Tx) -> str:
            stored = idempotency.lookup(tx.conn, key)
            if stored is not None:
                return stored.decode()
            self._count_use(tx, consent)
            ledger.insert(tx.conn, row)
            for event in events:
                tx.emit(event)
            idempotency.remember(tx.conn, key, row.jti.encode(), row.issued_at.isoformat())
            return row.jti

        refusal = self._refusal_events(
            caller, EventType.ATTESTATION_REFUSED, {"consent_id": consent_id}
        )
        jti = self._core.storage.write(unit, on_refusal=refusal).value
        if jti != row.jti:  # a concurrent retry with the same request_id won: return its result
            return self.get(caller, jti)
        return _issued(row)

    def _usable_consent(self, conn: Any, caller: Caller, consent_id: str) -> Consent:
        consent = self._core.consents(conn).get_consent(ConsentId(consent_id))
        if consent.grantee != caller.subject:
            raise DomainError(Reason.NOT_CONSENT_GRANTEE, "the consent was not granted to you")
        check_usable(consent, self._core.clock.now())
        return consent

    def _prepare(
        self,
        conn: Any,
        consent: Consent,
        params: Mapping[str, object],
        holder_jwk: Mapping[str, object],
        claims: Sequence[str],
    ) -> tuple[ledger.AttestationRow, list[AuditEvent]]:
        core, now = self._core, self._core.clock.now()
        disclosure = decide(
            core.catalog,
            domain=consent.domain,
            purpose=consent.purpose,
            requested=list(claims) or list(consent.claims),
            consented=consent.claims,
        )
        record = core.vault.get(
            conn, domain=consent.domain, subject=consent.owner, record_id=consent.record.record_id
        )
        evaluated = self._evaluate(
            conn, consent, record, disclosed=disclosure.disclosed, params=params, now=now
        )
        kid, signing_key = core.keyring.current_signing_key()
        plain: dict[str, Any] = {CONSENT_HASH_CLAIM: consent.artefact_hash, **evaluated.detail}
        issued = issue_sd_jwt(
            signing_key=signing_key,
            kid=kid,
            issuer=core.config.gateway_id,
            vct=f"urn:attestgate:{consent.domain}:{consent.purpose}:v1",
            holder_jwk=holder_jwk,
            disclosed=evaluated.values,  # type: ignore[arg-type]
            plain=plain,
            now=now,
            ttl=core.config.attestation_ttl,
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
        event = core.trail.event(
            EventType.ATTESTATION_ISSUED,
            now=now,
            role="bank",
            actor=consent.grantee,
            subject=consent.owner,
            objects={"consent_id": consent.id, "attestation_jti": issued.jti,
                     "record_id": record.record_id},
            claims=disclosure.disclosed,
        )  # fmt: skip
        return row, [event]

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
        catalog = self._core.catalog
        fields = catalog.domain(consent.domain).fields
        ctx = self._predicate_context(
            conn, consent, record, [c for c in disclosed if c not in fields], now
        )
        values: dict[str, object] = {}
        detail: dict[str, str] = {}
        kind, amount = ledger.ConsumptionKind.NONE, 0
        for claim in disclosed:
            if claim in fields:
                values[claim] = record.fields.get(claim)
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
        return _Evaluated(values, kind, amount, detail)

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
        kinds = {self._core.catalog.predicates.get(name).consumes for name in predicates}
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

    def _count_use(self, tx: Tx, consent: Consent) -> None:
        # One conditional write: refused (with the precise reason) if the consent was revoked,
        # paused, spent or expired since the read phase.
        now = self._core.clock.now()
        uses, max_uses = self._core.consents(tx.conn).use_consent(consent.id, now=now)
        if uses == max_uses:
            tx.emit(
                self._core.trail.event(
                    EventType.CONSENT_EXHAUSTED,
                    now=now,
                    role="system",
                    actor="gateway",
                    subject=consent.owner,
                    objects={"consent_id": consent.id},
                )
            )

    # -- redeem --------------------------------------------------------------------------------

    def redeem(self, caller: Caller, presentation: str, transaction_ref: str) -> RedemptionResult:
        """Verify the presentation and move ISSUED -> REDEEMED exactly once."""
        _check_transaction_ref(transaction_ref)
        jti = self._jti_of(caller, presentation)
        objects = {"attestation_jti": jti, "transaction_ref": transaction_ref}
        now = self._core.clock.now()
        self._verify(
            caller, presentation, jti=jti, transaction_ref=transaction_ref, objects=objects, now=now
        )

        def unit(tx: Tx) -> RedemptionResult:
            return self._redeem_unit(tx, caller, jti, transaction_ref, now)

        refusal = self._refusal_events(caller, EventType.ATTESTATION_REFUSED, objects)
        committed = self._core.storage.write(unit, on_refusal=refusal)
        return replace(committed.value, log_index=committed.log_indices[0])

    def _jti_of(self, caller: Caller, presentation: str) -> str:
        try:
            jti = str(unverified_jti(presentation))
            if not jti.isprintable():  # e.g. NUL, which redemption_nonce cannot encode
                raise ValueError("jti is not printable")
            return jti
        except (SdJwtError, ValueError):
            error = DomainError(Reason.ATTESTATION_INVALID, "attestation invalid")
            self._audit_refusal(caller, EventType.ATTESTATION_REFUSED, {}, error, "MALFORMED")
            raise error from None

    def _verify(
        self,
        caller: Caller,
        presentation: str,
        *,
        jti: str,
        transaction_ref: str,
        objects: Mapping[str, str],
        now: datetime,
    ) -> None:
        """The shared verifier; the public error is opaque, the audit log gets the precise code."""
        try:
            verified = _verify_presentation(self._core, presentation, jti, transaction_ref, now)
            if verified.jti != jti:
                raise SdJwtError(VerifyFailure.MALFORMED)
        except SdJwtError as exc:
            log.info("redemption refused: %s", exc.code.value)
            public = (
                DomainError(Reason.ATTESTATION_EXPIRED, "the attestation has expired")
                if exc.code is VerifyFailure.EXPIRED
                else DomainError(Reason.ATTESTATION_INVALID, "attestation invalid")
            )
            self._audit_refusal(
                caller, EventType.ATTESTATION_REFUSED, objects, public, exc.code.value
            )
            raise public from None

    def _redeem_unit(
        self, tx: Tx, caller: Caller, jti: str, transaction_ref: str, now: datetime
    ) -> RedemptionResult:
        row = ledger.get(tx.conn, jti)
        if row.grantee != caller.subject:
            raise DomainError(
                Reason.NOT_ATTESTATION_HOLDER, "the attestation was issued to another bank"
            )
        ledger.mark_redeemed(tx.conn, jti, transaction_ref, now)
        consent = self._core.consents(tx.conn).get_consent(ConsentId(row.consent_id))
        _check_consent_still_granted(consent, now)
        purpose = self._core.catalog.purpose(row.domain, row.purpose)
        if (
            purpose.consumption is not ConsumptionKind.NONE
            and row.consumption_kind is ledger.ConsumptionKind.NONE
        ):
            raise DomainError(Reason.CAPACITY_EXHAUSTED, "the attestation backs no capacity")
        currency = self._consume(tx, row, consent)
        tx.emit(
            self._core.trail.event(
                EventType.ATTESTATION_REDEEMED,
                now=now,
                role=caller.role,
                actor=caller.subject,
                subject=consent.owner,
                objects={"attestation_jti": jti, "consent_id": consent.id,
                         "transaction_ref": transaction_ref, "record_id": row.record_id},
            )
        )  # fmt: skip
        return RedemptionResult(
            jti, transaction_ref, now, row.consumption_kind, row.consumption_amount, currency, -1
        )

    def _consume(self, tx: Tx, row: ledger.AttestationRow, consent: Consent) -> str:
        if row.consumption_kind is ledger.ConsumptionKind.PLEDGE:
            ledger.pledge(tx.conn, row.domain, row.record_id, row.jti)
            return ""
        if row.consumption_kind is ledger.ConsumptionKind.AMOUNT:
            record = self._core.vault.get(
                tx.conn, domain=row.domain, subject=consent.owner, record_id=row.record_id
            )
            binding = self._core.catalog.domain(row.domain).predicates.get("covers_amount")
            options = binding.options if binding is not None else {}
            limit_field = str(options.get("income_field", "after_tax_income"))
            limit = record.fields.get(limit_field)
            if not isinstance(limit, int):
                raise DomainError(Reason.CAPACITY_EXHAUSTED, "the record has no capacity")
            ledger.consume_amount(tx.conn, row.domain, row.record_id, row.consumption_amount, limit)
            return str(options.get("currency", "CNY"))
        return ""

    # -- read ----------------------------------------------------------------------------------

    def get(self, caller: Caller, jti: str) -> IssuedAttestation:
        """An attestation held by the calling bank."""
        row = ledger.get(self._core.storage.read(), jti)
        if row.grantee != caller.subject:
            raise DomainError(
                Reason.NOT_ATTESTATION_HOLDER, "the attestation was issued to another bank"
            )
        return _issued(row)

    # -- audit of refusals ---------------------------------------------------------------------

    def _refusal_events(self, caller: Caller, kind: EventType, objects: Mapping[str, str]) -> Any:
        def events(error: DomainError) -> list[AuditEvent]:
            if not trail.audits_refusal(error):
                return []
            return [self._refusal_event(caller, kind, objects, error, None)]

        return events

    def _refusal_event(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None,
    ) -> AuditEvent:
        return self._core.trail.event(
            kind,
            now=self._core.clock.now(),
            role=caller.role,
            actor=caller.subject,
            subject=self._subject_of(objects),
            objects=dict(objects),
            refusal=error,
            reason=f"{error.reason.value}:{detail}" if detail else None,
        )

    def _subject_of(self, objects: Mapping[str, str]) -> str | None:
        """The owner an attempt was about, when the consent or attestation it names exists."""
        conn = self._core.storage.read()
        consent_id = objects.get("consent_id")
        if consent_id is None and "attestation_jti" in objects:
            try:
                consent_id = ledger.get(conn, objects["attestation_jti"]).consent_id
            except DomainError:
                return None
        if consent_id is None:
            return None
        try:
            return self._core.consents(conn).get_consent(ConsentId(consent_id)).owner
        except DomainError:
            return None

    def _audit_refusal(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None = None,
    ) -> None:
        if not trail.audits_refusal(error):
            return
        event = self._refusal_event(caller, kind, objects, error, detail)

        def unit(tx: Tx) -> None:
            tx.emit(event)

        self._core.storage.write(unit)


def _verify_presentation(
    core: Core, presentation: str, jti: str, transaction_ref: str, now: datetime
) -> VerifiedSdJwt:
    jwks = Jwks.from_dict(core.keyring.issuer_jwks(now))
    policy = KeyBindingPolicy.require(
        audience=core.config.gateway_id, nonce=redemption_nonce(jti, transaction_ref)
    )
    return verify_sd_jwt(
        presentation,
        jwks=jwks,
        issuer=core.config.gateway_id,
        now=now,
        key_binding=policy,
        expected_vct_prefix="urn:attestgate:",
    )


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


def _check_consent_still_granted(consent: Consent, now: datetime) -> None:
    """Redemption needs the consent not revoked or paused since issue (spent or expired is fine)."""
    if consent.state is ConsentState.REVOKED:
        raise DomainError(Reason.CONSENT_REVOKED, "the consent was revoked")
    if consent.state is ConsentState.PAUSED and now < consent.valid_until:
        raise DomainError(Reason.CONSENT_PAUSED, "the consent is paused")


def _check_transaction_ref(transaction_ref: str) -> None:
    if (
        not transaction_ref
        or len(transaction_ref) > MAX_TRANSACTION_REF
        or not transaction_ref.isprintable()
    ):
        raise invalid_argument(
            FieldViolation("transaction_ref", f"1..{MAX_TRANSACTION_REF} printable characters")
        )
