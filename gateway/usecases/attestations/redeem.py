"""RedeemAttestation: verify once more, then ISSUED -> REDEEMED with the purpose's consumption.

The presentation is checked by the shared verifier (``protocol.sdjwt``), its KB-JWT bound to this
gateway (``aud``) and to this redemption (``nonce = redemption_nonce(jti, transaction_ref)``). One
unit of work then moves ISSUED -> REDEEMED and applies the consumption (income capacity or a
pledge): all or nothing, and race-free because units of work run one batch at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from attestgate.audit.events import EventType
from attestgate.audit.sequencer import Tx
from attestgate.consent.catalog import Catalog
from attestgate.consent.model import Consent, ConsentId, ConsentState
from attestgate.consent.predicates import ConsumptionKind
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.persistence import ledger
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.usecases.attestations.refusals import RefusalAudit
from attestgate.gateway.usecases.attestations.transfer import refuse_transferred_since
from attestgate.gateway.usecases.attestations.vc_types import LEGACY_VCT_PREFIX, TYPES_PATH
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.erasure import refuse_erased_owner
from attestgate.gateway.usecases.status import AttestationStatus
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.jose import Jwks
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument
from attestgate.protocol.sdjwt import (
    KeyBindingPolicy,
    VerifiedSdJwt,
    redemption_nonce,
    unverified_jti,
    verify_sd_jwt,
)
from attestgate.protocol.sdjwt_format import SdJwtError, VerifyFailure

log = logging.getLogger(__name__)

MAX_TRANSACTION_REF = 128


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


class Redeemer:
    """The redemption use case."""

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
        issuer: str,
        former_issuers: tuple[str, ...] = (),
        status: AttestationStatus | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._catalog = catalog
        self._vault = vault  # the record an amount consumption is measured against
        self._keyring = keyring  # the issuer keys a presentation must verify under
        self._trail = trail
        self._refusals = refusals
        self._issuer = issuer  # the attestation's issuer (the public URL) and the KB-JWT audience
        self._former = former_issuers  # the ``iss`` of attestations issued under an older name
        self._status = status  # its Token Status List entry becomes INVALID

    def redeem(self, caller: Caller, presentation: str, transaction_ref: str) -> RedemptionResult:
        """Verify the presentation and move ISSUED -> REDEEMED exactly once."""
        _check_transaction_ref(transaction_ref)
        jti = self._jti_of(caller, presentation)
        now = self._clock.now()
        self._verify(caller, presentation, jti=jti, transaction_ref=transaction_ref, now=now)

        def unit(tx: Tx) -> RedemptionResult:
            return self._redeem_unit(tx, caller, jti, transaction_ref, now)

        refusal = self._refusals.on_refusal(
            caller,
            EventType.ATTESTATION_REFUSED,
            {"attestation_jti": jti},  # verified from here on: the gateway's own id
            transaction_ref=transaction_ref,
        )
        committed = self._storage.write(unit, on_refusal=refusal)
        return replace(committed.value, log_index=committed.log_indices[0])

    def _jti_of(self, caller: Caller, presentation: str) -> str:
        try:
            jti = str(unverified_jti(presentation))
            if not jti.isprintable():  # e.g. NUL, which redemption_nonce cannot encode
                raise ValueError("jti is not printable")
            return jti
        except (SdJwtError, ValueError):
            error = DomainError(Reason.ATTESTATION_INVALID, "attestation invalid")
            self._refusals.record(caller, EventType.ATTESTATION_REFUSED, {}, error, "MALFORMED")
            raise error from None

    def _verify(
        self,
        caller: Caller,
        presentation: str,
        *,
        jti: str,
        transaction_ref: str,
        now: datetime,
    ) -> None:
        """The shared verifier; the public error is opaque, the audit log gets the precise code."""
        try:
            verified = verify_presentation(
                presentation,
                keyring=self._keyring,
                issuer=self._issuer,
                former_issuers=self._former,
                jti=jti,
                transaction_ref=transaction_ref,
                now=now,
            )
            if verified.jti != jti:
                raise SdJwtError(VerifyFailure.MALFORMED)
        except SdJwtError as exc:
            log.info("redemption refused: %s", exc.code.value)
            public = (
                DomainError(Reason.ATTESTATION_EXPIRED, "the attestation has expired")
                if exc.code is VerifyFailure.EXPIRED
                else DomainError(Reason.ATTESTATION_INVALID, "attestation invalid")
            )
            self._refusals.record_unverified(caller, jti, transaction_ref, public, exc.code.value)
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
        consent = self._storage.consents(tx.conn).get_consent(ConsentId(row.consent_id))
        _check_consent_still_granted(consent, now)
        refuse_erased_owner(consent.owner)  # the records it attests to are gone
        purpose = self._catalog.purpose(row.domain, row.purpose)
        if (
            purpose.consumption is not ConsumptionKind.NONE
            and row.consumption_kind is ledger.ConsumptionKind.NONE
        ):
            raise DomainError(Reason.CAPACITY_EXHAUSTED, "the attestation backs no capacity")
        currency = self._consume(tx, row, consent)
        tx.emit(
            self._trail.event(
                EventType.ATTESTATION_REDEEMED,
                now=now,
                role=caller.role,
                actor=caller.subject,
                subject=consent.owner,
                objects={"attestation_jti": jti, "consent_id": consent.id},
                record=(row.domain, row.record_id),
                transaction_ref=transaction_ref,
            )
        )
        if self._status is not None:
            self._status.on_redeemed(tx, jti, owner=consent.owner, now=now)
        return RedemptionResult(
            jti, transaction_ref, now, row.consumption_kind, row.consumption_amount, currency, -1
        )

    def _consume(self, tx: Tx, row: ledger.AttestationRow, consent: Consent) -> str:
        if self._trail.record_ids_public(row.domain):  # an asset may have changed holder
            refuse_transferred_since(self._vault, tx.conn, consent, row.record_id)
        if row.consumption_kind is ledger.ConsumptionKind.PLEDGE:
            ledger.pledge(tx.conn, row.domain, row.record_id, row.jti)
            return ""
        if row.consumption_kind is ledger.ConsumptionKind.AMOUNT:
            record = self._vault.get(
                tx.conn, domain=row.domain, subject=consent.owner, record_id=row.record_id
            )
            binding = self._catalog.domain(row.domain).predicates.get("covers_amount")
            options = binding.options if binding is not None else {}
            limit_field = str(options.get("income_field", "after_tax_income"))
            limit = record.fields.get(limit_field)
            if not isinstance(limit, int):
                raise DomainError(Reason.CAPACITY_EXHAUSTED, "the record has no capacity")
            ledger.consume_amount(tx.conn, row.domain, row.record_id, row.consumption_amount, limit)
            return str(options.get("currency", "CNY"))
        return ""


def verify_presentation(
    presentation: str,
    *,
    keyring: KeyRing,
    issuer: str,
    jti: str,
    transaction_ref: str,
    now: datetime,
    former_issuers: tuple[str, ...] = (),
) -> VerifiedSdJwt:
    """The shared verifier over ``presentation``: signed by one of ``keyring``'s issuer keys as
    ``issuer`` (or one of ``former_issuers``), its KB-JWT addressed to one of those names and
    bound to this redemption's nonce."""
    jwks = Jwks.from_dict(keyring.issuer_jwks(now))
    names = (issuer, *former_issuers)  # KB-JWTs made for the gateway id stay acceptable
    policy = KeyBindingPolicy.require(audience=names, nonce=redemption_nonce(jti, transaction_ref))
    return verify_sd_jwt(
        presentation,
        jwks=jwks,
        issuer=names,
        now=now,
        key_binding=policy,
        expected_vct_prefix=(LEGACY_VCT_PREFIX, f"{issuer}{TYPES_PATH}/"),
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
