"""Audit events of the gateway's steps, and the per-subject index behind ListActivity.

Events name who acted, about whom (a pseudonym), on which objects, the decision and its reason, and
the names of disclosed claims. They never carry a personal value: subject ids, record ids of
personal domains and transaction refs become keyed HMAC pseudonyms (``Trail``), and an owner
acting is recorded by pseudonym too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from attestgate.audit.events import (
    ActorRole,
    AuditEvent,
    Decision,
    EventType,
    Pseudonym,
    Pseudonymizer,
    PseudonymKind,
)
from attestgate.audit.sql import Connection
from attestgate.audit.store import insert_rows
from attestgate.audit.tree import AuditLog
from attestgate.gateway.persistence import ledger
from attestgate.protocol.reasons import DomainError, Reason

RELEASE_EVENTS = frozenset({EventType.PLEDGE_RELEASED, EventType.CAPACITY_RELEASED})


def index_subjects(conn: Connection, first_index: int, events: Sequence[AuditEvent]) -> None:
    """Sequencer hook: remember which log entries are about which subject pseudonym, and the log
    index of each release (a repeated release answers it)."""
    rows = [
        (event.subject, first_index + offset)
        for offset, event in enumerate(events)
        if event.subject is not None
    ]
    insert_rows(conn, "activity_index (subject, idx)", rows)
    for offset, event in enumerate(events):
        if event.type in RELEASE_EVENTS and event.decision is Decision.ALLOW:
            ledger.set_release_log_index(
                conn, event.objects["attestation_jti"], first_index + offset
            )


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


ERASED_OWNER = "erased:"
"""Prefix of the owner of consents whose records were erased, followed by the subject's
pseudonym (``gateway.usecases.erasure``); reserved: no id and no token subject may start with it."""


def is_erased_owner(owner: str) -> bool:
    """True for the owner of a consent (request) whose records were erased."""
    return owner.startswith(ERASED_OWNER)


class Trail:
    """Builds audit events with the gateway's pseudonymizer.

    Ids that may name a person never reach a leaf verbatim: subjects become ``ps_`` pseudonyms,
    records of personal domains ``pr_`` (in clear only where the catalog marks the domain's record
    ids public: ``record_id_public``), transaction refs always ``pt_``, and the ``jti`` of a
    presentation that did not verify ``pj_``. Each kind is keyed apart (``PseudonymKind``).
    """

    def __init__(
        self, pseudonymizer: Pseudonymizer, public_record_domains: Collection[str] = ()
    ) -> None:
        self._pseudonymizer = pseudonymizer
        self._public = frozenset(public_record_domains)

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """The keyed pseudonym functions (``attestgate audit resolve`` recomputes them)."""
        return self._pseudonymizer

    def pseudonym(self, subject_id: str) -> Pseudonym:
        """The audit pseudonym of a subject id (an erased owner already is one)."""
        if is_erased_owner(subject_id):
            return Pseudonym(subject_id.removeprefix(ERASED_OWNER))
        return self._pseudonymizer.pseudonym(subject_id)

    def record_ids_public(self, domain: str) -> bool:
        """Whether the catalog marks ``domain``'s record ids public (asset numbers)."""
        return domain in self._public

    def personal_record_ref(self, domain: str, record_id: str) -> str | None:
        """The ``pr_`` pseudonym of a record of a personal domain; None where ids are public."""
        if self.record_ids_public(domain):
            return None
        return self._pseudonymizer.record(domain, record_id)

    def record_objects(self, domain: str, record_id: str) -> dict[str, str]:
        """How a record is named in a leaf: its domain, and its id in clear only if public."""
        ref = self.personal_record_ref(domain, record_id)
        if ref is None:
            return {"domain": domain, "record_id": record_id}
        return {"domain": domain, "record_pseudonym": ref}

    def unverified_jti(self, jti: str) -> str:
        """A short keyed hash standing for a ``jti`` nobody vouched for (fixed size, no text)."""
        return self._pseudonymizer.of_kind(PseudonymKind.UNVERIFIED_JTI, jti)

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
        record: tuple[str, str] | None = None,
        transaction_ref: str | None = None,
    ) -> AuditEvent:
        """One event; the actor of an owner is recorded by pseudonym, the subject always is.

        ``record`` is ``(domain, record_id)`` and ``transaction_ref`` a bank's reference: both are
        named the way the class docstring says; ``objects`` may hold a ``record_id`` only next to
        the ``domain`` it is public in (as ``record_objects`` gives it), never a transaction ref."""
        if "transaction_ref" in objects or (
            "record_id" in objects and objects.get("domain") not in self._public
        ):
            raise ValueError("pass record ids and transaction refs as record= / transaction_ref=")
        named = dict(objects)
        if record is not None:
            named.update(self.record_objects(*record))
        if transaction_ref:
            named["transaction_pseudonym"] = self._pseudonymizer.of_kind(
                PseudonymKind.TRANSACTION, transaction_ref
            )
        actor_role = ActorRole(role)
        return AuditEvent(
            type=kind,
            time=now,
            actor_role=actor_role,
            actor_id=self.pseudonym(actor) if actor_role is ActorRole.OWNER else actor,
            subject=self.pseudonym(subject) if subject is not None else None,
            objects={k: v for k, v in named.items() if v},
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
