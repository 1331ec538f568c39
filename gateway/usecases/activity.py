"""An owner's activity: every audited step about them, oldest first (``ListActivity`` and the
portal's activity page read it the same way)."""

from __future__ import annotations

from attestgate.audit.events import AuditEvent
from attestgate.audit.tree import AuditLog
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.trail import Trail, activity_page


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
