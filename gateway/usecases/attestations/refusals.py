"""Audit of refused attestation attempts (issue and redeem share it).

Every well-formed attempt that policy or state refuses becomes an ``attestation.refused`` event
about the owner it concerned (when the consent or attestation it names exists), with the public
reason and, where the verifier knows it, the precise one (``ATTESTATION_INVALID:KB_STALE``).
Malformed input is not audited: it changes nothing (``gateway.usecases.trail.audits_refusal``).

Bounded (``gateway.usecases.refusal_budget``): each caller's refusal leaves draw from a token
bucket; beyond
it a refusal is answered but counted instead of logged, and the caller's next leaf carries the
count. A presentation that did not verify writes one fixed-size leaf: its ``jti`` and transaction
ref as short keyed hashes (``pj_``, ``pt_``), never the text the caller sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from attestgate.audit.events import AuditEvent, EventType
from attestgate.audit.sequencer import Tx
from attestgate.consent.model import ConsentId
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.persistence import ledger
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases import trail
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.refusal_budget import (
    RefusalBudget,
    budgeted_hook,
    with_suppressed,
)
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.reasons import DomainError


class RefusalAudit:
    """Builds and records refusal events, within each caller's refusal budget."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        trail: Trail,
        refusal_budget: RefusalBudget,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._trail = trail
        self._refusal_budget = refusal_budget

    def on_refusal(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        *,
        transaction_ref: str | None = None,
    ) -> Callable[[DomainError], list[AuditEvent]]:
        """A sequencer ``on_refusal`` hook: the refusal's event, in the refused unit's batch."""

        def build(error: DomainError, counted: Mapping[str, str]) -> AuditEvent:
            return self.event(caller, kind, counted, error, None, transaction_ref=transaction_ref)

        budget = self._refusal_budget
        return budgeted_hook(budget, caller.role, caller.subject, build, objects)

    def record(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None = None,
        *,
        owner: Callable[[], str | None] | None = None,
        transaction_ref: str | None = None,
    ) -> None:
        """Log a refusal decided outside a unit of work (durable before the caller is answered).

        ``owner`` finds whom the attempt was about (default: from the ids in ``objects``); it is
        called only for a refusal the budget admits, so a flood costs no look-ups."""
        if not trail.audits_refusal(error):
            return
        suppressed = self._refusal_budget.take(caller.role, caller.subject)
        if suppressed is None:
            return
        event = self.event(
            caller,
            kind,
            with_suppressed(objects, suppressed),
            error,
            detail,
            subject=owner() if owner is not None else self._subject_of(objects),
            transaction_ref=transaction_ref,
        )

        def unit(tx: Tx) -> None:
            tx.emit(event)

        self._storage.write(unit)

    def record_unverified(
        self, caller: Caller, jti: str, transaction_ref: str, error: DomainError, detail: str
    ) -> None:
        """A presentation that did not verify: a fixed-size leaf. Its ``jti`` and transaction ref
        are attacker-controlled text, so both are logged as short keyed hashes only, and the
        refusal names an owner only when the ``jti`` is an attestation held by this caller."""
        objects = {"unverified_jti": self._trail.unverified_jti(jti)}
        self.record(
            caller,
            EventType.ATTESTATION_REFUSED,
            objects,
            error,
            detail,
            owner=lambda: self._holder_owner(caller, jti),
            transaction_ref=transaction_ref,
        )

    def event(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None,
        *,
        subject: str | None = None,
        transaction_ref: str | None = None,
    ) -> AuditEvent:
        """The refusal event; ``detail`` is the precise internal reason, if any."""
        return self._trail.event(
            kind,
            now=self._clock.now(),
            role=caller.role,
            actor=caller.subject,
            subject=subject if subject is not None else self._subject_of(objects),
            objects=dict(objects),
            refusal=error,
            reason=f"{error.reason.value}:{detail}" if detail else None,
            transaction_ref=transaction_ref,
        )

    def _holder_owner(self, caller: Caller, jti: str) -> str | None:
        try:
            row = ledger.get(self._storage.read(), jti)
        except DomainError:
            return None
        if row.grantee != caller.subject:
            return None
        return self._subject_of({"consent_id": row.consent_id})

    def _subject_of(self, objects: Mapping[str, str]) -> str | None:
        """The owner an attempt was about, when the consent or attestation it names exists."""
        conn = self._storage.read()
        consent_id = objects.get("consent_id")
        if consent_id is None and "attestation_jti" in objects:
            try:
                consent_id = ledger.get(conn, objects["attestation_jti"]).consent_id
            except DomainError:
                return None
        if consent_id is None:
            return None
        try:
            return self._storage.consents(conn).get_consent(ConsentId(consent_id)).owner
        except DomainError:
            return None
