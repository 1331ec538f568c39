"""Audit of refused attestation attempts (issue and redeem share it).

Every well-formed attempt that policy or state refuses becomes an ``attestation.refused`` event
about the owner it concerned (when the consent or attestation it names exists), with the public
reason and, where the verifier knows it, the precise one (``ATTESTATION_INVALID:KB_STALE``).
Malformed input is not audited: it changes nothing (``gateway.trail.audits_refusal``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from audit.events import AuditEvent, EventType
from audit.sequencer import Tx
from consent.model import ConsentId
from gateway import trail
from gateway.attestations import ledger
from gateway.context import Caller, Core
from sdk.reasons import DomainError


class RefusalAudit:
    """Builds and records refusal events."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def on_refusal(
        self, caller: Caller, kind: EventType, objects: Mapping[str, str]
    ) -> Callable[[DomainError], list[AuditEvent]]:
        """A sequencer ``on_refusal`` hook: the refusal's event, in the refused unit's batch."""

        def events(error: DomainError) -> list[AuditEvent]:
            if not trail.audits_refusal(error):
                return []
            return [self.event(caller, kind, objects, error, None)]

        return events

    def record(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None = None,
    ) -> None:
        """Log a refusal decided outside a unit of work (durable before the caller is answered)."""
        if not trail.audits_refusal(error):
            return
        event = self.event(caller, kind, objects, error, detail)

        def unit(tx: Tx) -> None:
            tx.emit(event)

        self._core.storage.write(unit)

    def event(
        self,
        caller: Caller,
        kind: EventType,
        objects: Mapping[str, str],
        error: DomainError,
        detail: str | None,
    ) -> AuditEvent:
        """The refusal event; ``detail`` is the precise internal reason, if any."""
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
