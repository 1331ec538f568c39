"""The regulator viewer's backend: verified checkpoints, filtered events, checked inclusion proofs.

Nothing here trusts the database: the checkpoint is opened with the log's public key
(c2sp.org/signed-note, c2sp.org/tlog-checkpoint), and an event is marked verified only when its
leaf hash (RFC 9162 §2.1.1) and the stored inclusion path recompute the signed root
(RFC 9162 §2.1.3.2), with the SDK's verifier, the same code a regulator runs offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from attestgate.audit.events import AuditEvent, EventFormatError
from attestgate.audit.tree import AuditLog
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.persistence.storage import Storage
from attestgate.protocol.merkle import ProofError, leaf_hash, verify_inclusion
from attestgate.protocol.note import Checkpoint, NoteError, NoteSigner, Verifier, open_checkpoint
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.sdk._internal import receipt

SCAN_CHUNK = 256
MAX_SCAN = 20_000
"""At most this many entries are read to fill one filtered page; the page then says "more"."""


class ViewError(Exception):
    """A check failed; the message says which (shown to the regulator, holds no personal data)."""


@dataclass(frozen=True)
class EventFilter:
    """What the event list is narrowed to; empty fields match everything."""

    type: str = ""
    decision: str = ""
    actor_role: str = ""
    actor_id: str = ""
    reason: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, event: AuditEvent) -> bool:
        """True when ``event`` passes every set criterion."""
        return (
            (not self.type or event.type.value == self.type)
            and (not self.decision or event.decision.value == self.decision)
            and (not self.actor_role or event.actor_role.value == self.actor_role)
            and (not self.actor_id or event.actor_id == self.actor_id)
            and (not self.reason or (event.reason or "") == self.reason)
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time < self.until)
        )


@dataclass(frozen=True)
class EventPage:
    """Events newest first; ``next_before`` continues the listing (None: nothing older)."""

    events: tuple[tuple[int, AuditEvent], ...]
    next_before: int | None


@dataclass(frozen=True)
class EventProof:
    """One event, its inclusion proof and the outcome of checking it."""

    index: int
    event: AuditEvent | None
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: Checkpoint | None
    verified: bool
    pending: bool
    problem: str


@dataclass(frozen=True)
class LogView:
    """The audit log as the regulator pages read it: ``log`` over ``storage``'s read
    connections, its checkpoints opened under ``origin`` with the public half of ``keyring``'s
    note key."""

    storage: Storage
    log: AuditLog
    keyring: KeyRing
    origin: str


def log_verifier(view: LogView) -> Verifier:
    """The log's public note verifier (what ``attestgate audit vkey`` prints)."""
    return NoteSigner(view.origin, view.keyring.note_signer_key).verifier()


def verified_checkpoint(view: LogView, verifier: Verifier) -> Checkpoint | None:
    """The latest stored checkpoint, opened under ``verifier``; ``ViewError`` if it does not."""
    stored = view.log.latest_checkpoint(view.storage.read())
    if stored is None:
        return None
    try:
        checkpoint = open_checkpoint(stored.note, [verifier], origin=view.origin)
    except NoteError as exc:
        raise ViewError(f"checkpoint signature or format: {exc}") from None
    if checkpoint.size != stored.size or checkpoint.root_hash != stored.root:
        raise ViewError("the stored checkpoint row disagrees with its signed note")
    return checkpoint


def _newest_first(view: LogView, before: int) -> Iterator[tuple[int, bytes]]:
    conn = view.storage.read()
    end = before
    while end > 0:
        start = max(0, end - SCAN_CHUNK)
        yield from reversed(view.log.entries(conn, start, end))
        end = start


def list_events(
    view: LogView, wanted: EventFilter, *, before: int | None, limit: int, size: int
) -> EventPage:
    """Up to ``limit`` events matching ``wanted`` with index below ``before`` (default: ``size``,
    the verified tree size), newest first."""
    end = size if before is None else max(0, min(before, size))
    found: list[tuple[int, AuditEvent]] = []
    for scanned, (index, data) in enumerate(_newest_first(view, end), start=1):
        event = AuditEvent.from_json(data)
        if wanted.matches(event):
            found.append((index, event))
        if len(found) == limit or scanned >= MAX_SCAN:
            return EventPage(tuple(found), index if index > 0 else None)
    return EventPage(tuple(found), None)


def prove_event(view: LogView, index: int, verifier: Verifier) -> EventProof:
    """Event ``index`` with its inclusion proof in the latest checkpoint, verified here."""
    conn = view.storage.read()
    data = view.log.leaf(conn, index)  # DomainError(INDEX_OUT_OF_RANGE) when there is none
    digest = leaf_hash(data)
    try:
        event: AuditEvent | None = AuditEvent.from_json(data)
    except EventFormatError:
        event = None
    try:
        checkpoint = verified_checkpoint(view, verifier)
    except ViewError as exc:
        return EventProof(index, event, digest, (), None, False, False, str(exc))
    if checkpoint is None or index >= checkpoint.size:
        return EventProof(index, event, digest, (), checkpoint, False, True, "")
    proof = tuple(view.log.inclusion_proof(conn, index, checkpoint.size))
    try:
        verify_inclusion(
            index=index,
            size=checkpoint.size,
            leaf_hash=digest,
            proof=proof,
            root=checkpoint.root_hash,
        )
    except ProofError as exc:
        return EventProof(index, event, digest, proof, checkpoint, False, False, str(exc))
    if event is None:
        problem = "the leaf is in the log but is not a well-formed event"
        return EventProof(index, None, digest, proof, checkpoint, False, False, problem)
    return EventProof(index, event, digest, proof, checkpoint, True, False, "")


def event_receipt(view: LogView, index: int, verifier: Verifier) -> str:
    """The event as a C2SP tlog-proof (c2sp.org/tlog-proof@v1), only if it verified here."""
    proved = prove_event(view, index, verifier)
    if not proved.verified or proved.checkpoint is None:
        raise DomainError(Reason.CHECKPOINT_NOT_FOUND, "the event is not verified in a checkpoint")
    return receipt.format_receipt(
        index=index,
        proof=proved.proof,
        checkpoint_note=proved.checkpoint.text,
        extra=view.log.leaf(view.storage.read(), index),
    )
