"""An owner's activity: every audited step about them, oldest first (``ListActivity`` and the
portal's activity page read it the same way)."""

from __future__ import annotations

from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType
from attestgate.audit.tree import AuditLog
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.trail import Trail, activity_page

_SCAN = 200  # events read per step when looking for one


class OwnerActivity:
    """The audit events about the calling owner, found by their pseudonym."""

    def __init__(self, *, storage: Storage, log: AuditLog, trail: Trail) -> None:
        self._storage = storage
        self._log = log
        self._trail = trail

    def page(
        self, caller: Caller, after: int, limit: int
    ) -> tuple[list[tuple[int, AuditEvent]], int | None]:
        """Up to ``limit`` ``(log index, event)`` about the caller after log index ``after``
        (-1: from the start), and the cursor of the next page (None: last)."""
        pseudonym = self._trail.pseudonym(caller.subject)
        return activity_page(self._storage.read(), self._log, pseudonym, after, limit)

    def consent_step(self, caller: Caller, consent_id: str, kind: EventType) -> int | None:
        """The log index of the caller's own allowed ``kind`` step on ``consent_id`` (the latest
        one), or None: where an owner's consent receipt points (``gateway.portal.receipts``)."""
        pseudonym = self._trail.pseudonym(caller.subject)
        conn = self._storage.read()
        found, after = None, -1
        while True:
            events, cursor = activity_page(conn, self._log, pseudonym, after, _SCAN)
            for index, event in events:
                if (
                    event.type is kind
                    and event.decision is Decision.ALLOW
                    and event.actor_role is ActorRole.OWNER
                    and event.objects.get("consent_id") == consent_id
                    and "artefact_hash" in event.objects  # none in steps logged before receipts
                ):
                    found = index
            if cursor is None:
                return found
            after = cursor
