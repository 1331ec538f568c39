"""Audit events of the gateway's steps, and the per-subject index behind ListActivity.

Events name who acted, about whom (a pseudonym), on which objects, the decision and its reason, and
the names of disclosed claims. They never carry a personal value: subject ids become HMAC
pseudonyms, and an owner acting is recorded by pseudonym too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from audit.events import ActorRole, AuditEvent, Decision, EventType, Pseudonymizer
from audit.sql import Connection
from audit.store import insert_rows
from audit.tree import AuditLog
from sdk.reasons import DomainError, Reason


def index_subjects(conn: Connection, first_index: int, events: Sequence[AuditEvent]) -> None:
    """Sequencer hook: remember which log entries are about which subject pseudonym."""
    rows = [
        (event.subject, first_index + offset)
        for offset, event in enumerate(events)
        if event.subject is not None
    ]
    insert_rows(conn, "activity_index (subject, idx)", rows)


def activity_indices(conn: Connection, subject: str, after: int, limit: int) -> list[int]:
    """Log indices of events about ``subject`` (a pseudonym) after ``after``, oldest first."""
    rows = conn.execute(
        "SELECT idx FROM activity_index WHERE subject = ? AND idx > ? ORDER BY idx LIMIT ?",
        (subject, after, limit),
    ).fetchall()
    return [int(r[0]) for r in rows]


def activity_page(
    conn: Connection, log: AuditLog, subject: str, after: int, limit: int
) -> tuple[list[tuple[int, AuditEvent]], int | None]:
    """One page of ``(log index, event)`` about ``subject`` (a pseudonym) after log index
    ``after`` (-1: from the start), oldest first, and the cursor of the next page (None: last)."""
    indices = activity_indices(conn, subject, after, limit + 1)
    events = [(i, AuditEvent.from_json(log.leaf(conn, i))) for i in indices[:limit]]
    return events, indices[limit - 1] if len(indices) > limit else None


class Trail:
    """Builds audit events with the gateway's pseudonymizer."""

    def __init__(self, pseudonymizer: Pseudonymizer) -> None:
        self._pseudonymizer = pseudonymizer

    def pseudonym(self, subject_id: str) -> str:
        """The audit pseudonym of a subject id."""
        return self._pseudonymizer.pseudonym(subject_id)

    def event(
        self,
        kind: EventType,
        *,
        now: datetime,
        role: str,
        actor: str,
        subject: str | None,
        objects: Mapping[str, str],
        claims: Sequence[str] = (),
        refusal: DomainError | None = None,
        reason: str | None = None,
    ) -> AuditEvent:
        """One event; the actor of an owner is recorded by pseudonym, the subject always is."""
        actor_role = ActorRole(role)
        return AuditEvent(
            type=kind,
            time=now,
            actor_role=actor_role,
            actor_id=self.pseudonym(actor) if actor_role is ActorRole.OWNER else actor,
            subject=self._pseudonymizer.pseudonym(subject) if subject is not None else None,
            objects={k: v for k, v in objects.items() if v},
            decision=Decision.DENY if refusal is not None else Decision.ALLOW,
            reason=reason or (refusal.reason.value if refusal is not None else None),
            claims=tuple(claims),
        )


def audits_refusal(error: DomainError) -> bool:
    """Whether a refusal is an audit event.

    Well-formed attempts that policy or state refused are audited (owners see them in their
    activity, regulators in the log). Malformed requests, the ones answered with field violations,
    change nothing, not even the log: bad input never changes state.
    """
    return not error.violations and error.reason is not Reason.INVALID_ARGUMENT
