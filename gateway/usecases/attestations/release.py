"""ReleaseRedemption: give back what a redemption consumed (issue 19 items 1 and 5).

A redemption under a ``pledge`` purpose pledges the asset; under an ``amount`` purpose it consumes
part of the year's income. When the loan is repaid, or the FX purchase is cancelled or reversed,
the bank that redeemed releases it and the capacity returns: the asset can back a new loan (under
a new consent), the income a new purchase. A regulator may force a release (a court or
supervisory order, or a correction); providers may not (their uploads never decide encumbrance:
``docs/catalog.md``, "One source of truth for encumbrance").

The release is one unit of work: the conditional ledger update, the ``releases`` row and its audit
event (``pledge.released`` or ``capacity.released``: who released, the reason code, the
attestation and the consent; never an amount or a personal id). A second release of the same
attestation answers the first one and writes nothing; the same ``request_id`` is answered from the
idempotency table. Refused attempts on an existing attestation (another bank's pledge, nothing to
release) are audited as the same event type with decision ``deny``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from attestgate.audit.events import EventType
from attestgate.audit.sequencer import Tx
from attestgate.consent.catalog import Catalog
from attestgate.consent.model import ConsentId
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.persistence import ledger
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases import idempotency
from attestgate.gateway.usecases.attestations.refusals import RefusalAudit
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

BANK_REASONS = ("REPAID", "CANCELLED", "REVERSED", "CORRECTION")
"""Why a bank releases: the loan was repaid, the purchase (or loan) cancelled or reversed, or the
redemption was a mistake."""
REGULATOR_REASONS = ("COURT_ORDER", "SUPERVISORY_ORDER", "CORRECTION")
"""Why a regulator forces a release."""
REASONS: Mapping[str, tuple[str, ...]] = {"bank": BANK_REASONS, "regulator": REGULATOR_REASONS}


@dataclass(frozen=True)
class ReleaseResult:
    """A release, as the first call made it (a repeated call gets the same)."""

    jti: str
    consumption: ledger.ConsumptionKind
    released_amount: int
    released_currency: str
    domain: str
    asset_id: str
    """The record id for a pledge of a public asset (receipt or patent number); else empty."""
    reason: str
    released_by_role: str
    released_by: str
    released_at: datetime
    log_index: int


class Releaser:
    """The release use case."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        catalog: Catalog,
        trail: Trail,
        refusals: RefusalAudit,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._catalog = catalog  # the currency an amount was consumed in
        self._trail = trail
        self._refusals = refusals

    def release(
        self, caller: Caller, jti: str, reason: str, key: IdempotencyKey | None
    ) -> ReleaseResult:
        """Release what the redemption of ``jti`` consumed (module docstring)."""
        allowed = REASONS.get(caller.role, ())
        if reason not in allowed:
            raise invalid_argument(
                FieldViolation("reason", "one of " + ", ".join(allowed)),
                message=f"reason must be one of {', '.join(allowed)} for a {caller.role}",
            )
        known = ledger.get(self._storage.read(), jti)  # ATTESTATION_NOT_FOUND: nothing to audit
        kind = _event_type(known.consumption_kind)
        now = self._clock.now()

        def unit(tx: Tx) -> ReleaseResult:
            stored = idempotency.lookup(tx.conn, key)
            if stored is not None:
                return self._answer(tx, stored.decode())
            row = ledger.get(tx.conn, jti)
            if caller.role == "bank" and row.grantee != caller.subject:
                raise DomainError(
                    Reason.NOT_PLEDGEE,
                    "only the bank that redeemed this attestation can release what it consumed "
                    "(a regulator can force a release)",
                    metadata={"jti": jti},
                )
            if ledger.get_release(tx.conn, jti) is None:
                self._release(tx, caller, row, reason, now)
            idempotency.remember(tx.conn, key, jti.encode(), now.isoformat())
            return self._answer(tx, jti)

        refusal = self._refusals.on_refusal(caller, kind, {"attestation_jti": jti})
        committed = self._storage.write(unit, on_refusal=refusal)
        result = committed.value
        if result.log_index >= 0:
            return result
        # The release event's index is set by the indexer when its batch commits: this call's
        # own event, or one of a release earlier in the same batch (read back, now committed).
        if committed.log_indices:
            return replace(result, log_index=committed.log_indices[0])
        found = ledger.get_release(self._storage.read(), jti)
        return replace(result, log_index=found.log_index) if found is not None else result

    def _release(self, tx: Tx, caller: Caller, row: ledger.AttestationRow, reason: str,
                 now: datetime) -> None:  # fmt: skip
        consent = self._storage.consents(tx.conn).get_consent(ConsentId(row.consent_id))
        released = ledger.release(
            tx.conn,
            row,
            currency=self._currency(row.domain),
            reason=reason,
            role=caller.role,
            actor=caller.subject,
            now=now,
        )
        objects = {"attestation_jti": row.jti, "consent_id": row.consent_id}
        if caller.subject != row.grantee:  # forced: name whose pledge it was
            objects["pledgee"] = row.grantee
        tx.emit(
            self._trail.event(
                _event_type(released.consumption_kind),
                now=now,
                role=caller.role,
                actor=caller.subject,
                subject=consent.owner,
                objects=objects,
                record=(row.domain, row.record_id),
                reason=reason,
            )
        )

    def _answer(self, tx: Tx, jti: str) -> ReleaseResult:
        row = ledger.get(tx.conn, jti)
        found = ledger.get_release(tx.conn, jti)
        if found is None:  # pragma: no cover - a stored answer always has its release row
            raise DomainError(Reason.NOTHING_TO_RELEASE, "no release of this attestation")
        public = found.consumption_kind is ledger.ConsumptionKind.PLEDGE and (
            self._trail.record_ids_public(row.domain)
        )
        return ReleaseResult(
            jti=jti,
            consumption=found.consumption_kind,
            released_amount=found.amount,
            released_currency=found.currency,
            domain=row.domain,
            asset_id=row.record_id if public else "",
            reason=found.reason,
            released_by_role=found.released_by_role,
            released_by=found.released_by,
            released_at=found.released_at,
            log_index=found.log_index,
        )

    def _currency(self, domain: str) -> str:
        binding = self._catalog.domain(domain).predicates.get("covers_amount")
        options = binding.options if binding is not None else {}
        return str(options.get("currency", "CNY"))


def _event_type(kind: ledger.ConsumptionKind) -> EventType:
    if kind is ledger.ConsumptionKind.AMOUNT:
        return EventType.CAPACITY_RELEASED
    return EventType.PLEDGE_RELEASED
