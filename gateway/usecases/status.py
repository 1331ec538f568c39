"""Token Status List use cases: every attestation's entry, its transitions, and their audit events.

* ``draw`` (read phase of an issue) picks an entry at random from the newest list with room
  (lists of ``list_size`` entries, 2^17 by default: herd privacy, the draft's §12.3 guidance);
  ``claim`` (in the issue's unit of work) takes it, or raises ``SlotTakenError`` if a concurrent
  issue took the same index first (then the issue draws again). An index is never reused.
  The list drawn from is remembered between issues (a hint, not the authority: ``claim``'s
  conditional update is), so an issue's read phase costs one lookup of the drawn index; the
  newest list with room is looked up again only when the remembered one fills up or a claim
  on it fails.
* Transitions, each in the unit of work of its cause, each an ``attestation.status_changed``
  event with ``objects.status`` and ``objects.cause``: VALID -> INVALID on redemption, consent
  revocation, erasure, the asset's transfer to a new holder or the consent's expiry
  (``expire_due``, run before each publication);
  VALID <-> SUSPENDED on consent pause and resume.

The signed lists are built by ``gateway.usecases.status_publication``; the SQL is in
``gateway.persistence.status_store``.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from attestgate.audit.events import EventType
from attestgate.audit.sequencer import Tx
from attestgate.audit.sql import Connection
from attestgate.consent.model import ConsentId, ConsentState
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.persistence import status_store
from attestgate.gateway.persistence.status_store import Entry
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.status_list import Status

__all__ = [
    "DEFAULT_LIST_SIZE",
    "LIST_SIZE_UNIT",
    "STATUS_BITS",
    "AttestationStatus",
    "Slot",
    "SlotTakenError",
    "status_list_path",
]

DEFAULT_LIST_SIZE = 1 << 17
LIST_SIZE_UNIT = 1024
"""Lists hold whole ``status_chunks`` (256 bytes of two-bit entries)."""
STATUS_BITS = 2  # VALID, INVALID, SUSPENDED
_DRAWS = 32
_EXPIRE_BATCH = 1000

# consent state reached -> (statuses that change, the new status)
_BY_CONSENT: dict[ConsentState, tuple[tuple[Status, ...], Status]] = {
    ConsentState.PAUSED: ((Status.VALID,), Status.SUSPENDED),
    ConsentState.ACTIVE: ((Status.SUSPENDED,), Status.VALID),
    ConsentState.REVOKED: ((Status.VALID, Status.SUSPENDED), Status.INVALID),
}


def status_list_path(issuer: str, list_id: int | str) -> str:
    """The path of a list's token on the public face: ``<issuer path>/status-lists/<id>``."""
    base = issuer.split("://", 1)[-1]
    path = base[base.find("/") :] if "/" in base else ""
    return f"{path.rstrip('/')}/status-lists/{list_id}"


class SlotTakenError(Exception):
    """The drawn entry was taken (or its list filled up) since it was drawn: draw again."""


@dataclass(frozen=True)
class Slot:
    """A drawn entry: list, index, and the list's URI (the ``status_list.uri`` claim)."""

    list_id: int
    idx: int
    uri: str


class AttestationStatus:
    """Entries of attestations in status lists and their transitions."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        trail: Trail,
        issuer: str,
        list_size: int = DEFAULT_LIST_SIZE,
    ) -> None:
        if list_size < LIST_SIZE_UNIT or list_size % LIST_SIZE_UNIT:
            raise ValueError(f"list_size must be a multiple of {LIST_SIZE_UNIT}")
        self._storage = storage
        self._clock = clock
        self._trail = trail
        self._issuer = issuer.rstrip("/")
        self.list_size = list_size
        self._open: status_store.ListInfo | None = None  # the list drawn from last (a hint)

    def uri(self, list_id: int) -> str:
        """The URI of list ``list_id``: where its token is served, its ``sub``."""
        if "://" not in self._issuer:  # no public URL: still a unique name
            return f"{self._issuer}/status-lists/{list_id}"
        scheme_host = self._issuer.split("/", 3)[:3]
        return "/".join(scheme_host) + status_list_path(self._issuer, list_id)

    # -- allocation ----------------------------------------------------------------------------

    def draw(self) -> Slot:
        """A random free entry of the list drawn from last, or else of the newest list with
        room (a new list when all are full)."""
        conn = self._storage.read()
        remembered = self._open
        if remembered is not None:
            slot = self._free_entry(conn, remembered)
            if slot is not None:
                return slot
        info = status_store.open_list(conn, size=self.list_size, bits=STATUS_BITS)
        if info is None:
            info = self._new_list()
        self._open = info
        slot = self._free_entry(conn, info)
        if slot is None:  # filled by another replica since it was looked up: draw again
            self._open = None
            raise SlotTakenError(f"list {info.list_id} filled up")
        return slot

    def _free_entry(self, conn: Connection, info: status_store.ListInfo) -> Slot | None:
        """A random index of ``info`` that no attestation holds: up to ``_DRAWS`` random tries,
        then (a list nearly full) the first free index after a random start, wrapping round;
        None when the list has no free index left."""
        for _ in range(_DRAWS):
            idx = secrets.randbelow(info.size)
            if not status_store.is_taken(conn, info.list_id, idx):
                return self._slot(info, idx)
        start = secrets.randbelow(info.size)
        for begin in (start, 0):
            found = status_store.first_free(conn, info.list_id, begin, info.size)
            if found is not None:
                return self._slot(info, found)
        return None

    def _slot(self, info: status_store.ListInfo, idx: int) -> Slot:
        return Slot(info.list_id, idx, self.uri(info.list_id))

    def _new_list(self) -> status_store.ListInfo:
        def unit(tx: Tx) -> None:
            # Another writer may have opened one meanwhile: open one only if none has room.
            if status_store.open_list(tx.conn, size=self.list_size, bits=STATUS_BITS) is None:
                status_store.create_list(
                    tx.conn, size=self.list_size, bits=STATUS_BITS, now=self._clock.now()
                )

        self._storage.write(unit)
        info = status_store.open_list(self._storage.read(), size=self.list_size, bits=STATUS_BITS)
        if info is None:  # pragma: no cover - just created
            raise SlotTakenError("no status list has room")
        return info

    def claim(self, tx: Tx, slot: Slot, *, jti: str, consent_id: str) -> None:
        """Take ``slot`` for attestation ``jti`` (VALID) in the issue's unit of work."""
        taken = status_store.allocate(
            tx.conn,
            list_id=slot.list_id,
            idx=slot.idx,
            jti=jti,
            consent_id=consent_id,
            now=self._clock.now(),
        )
        if not taken:
            self._open = None  # it may be full: look for the newest list with room again
            raise SlotTakenError(f"entry {slot.idx} of list {slot.list_id} is no longer free")

    # -- transitions ---------------------------------------------------------------------------

    def on_consent(
        self, tx: Tx, consent_id: str, reached: ConsentState, *, owner: str, now: datetime
    ) -> None:
        """The consent reached ``reached`` (paused, resumed or revoked): move its attestations."""
        change = _BY_CONSENT.get(reached)
        if change is None:
            return
        before, after = change
        entries = status_store.entries_of_consents(tx.conn, [consent_id], before)
        cause = {
            ConsentState.PAUSED: "consent.paused",
            ConsentState.ACTIVE: "consent.resumed",
            ConsentState.REVOKED: "consent.revoked",
        }[reached]
        self._change(tx, entries, after, cause=cause, owner=owner, now=now)

    def on_redeemed(self, tx: Tx, jti: str, *, owner: str, now: datetime) -> None:
        """Attestation ``jti`` was redeemed: its entry becomes INVALID."""
        entry = status_store.entry_of(tx.conn, jti)
        if entry is not None and entry.status is not Status.INVALID:
            self._change(
                tx, [entry], Status.INVALID, cause="attestation.redeemed", owner=owner, now=now
            )

    def consents_erased(self, tx: Tx, owner: str, domains: Collection[str]) -> list[str]:
        """The consents an erasure of ``owner``'s records of ``domains`` reaches; read them before
        the erasure tombstones the owner, pass them to ``on_erased`` after."""
        return status_store.consents_of(tx.conn, owner, sorted(domains))

    def on_erased(self, tx: Tx, consent_ids: Sequence[str], *, owner: str, now: datetime) -> None:
        """The owner's records behind ``consent_ids`` were erased: their attestations are INVALID
        (``owner`` is the subject id, or its erased form)."""
        live = (Status.VALID, Status.SUSPENDED)
        entries = status_store.entries_of_consents(tx.conn, consent_ids, live)
        self._change(tx, entries, Status.INVALID, cause="record.erased", owner=owner, now=now)

    def on_transferred(self, tx: Tx, domain: str, record_id: str, *, now: datetime) -> None:
        """The asset changed holder: attestations issued about it before can no longer be
        redeemed (``RECORD_TRANSFERRED``), so their entries become INVALID; each event names the
        previous holder whose consent it was issued under."""
        live = (Status.VALID, Status.SUSPENDED)
        entries = status_store.entries_of_record(tx.conn, domain, record_id, live)
        self._invalidate_by_consent(tx, entries, cause="record.transferred", now=now)

    def expire_due(self) -> int:
        """Move every entry whose consent's validity ended to INVALID (events at the unit's
        time); returns how many changed."""

        def unit(tx: Tx) -> int:
            now = self._clock.now()
            entries = status_store.expired_entries(tx.conn, now, _EXPIRE_BATCH)
            self._invalidate_by_consent(tx, entries, cause="consent.expired", now=now)
            return len(entries)

        total = 0
        while True:
            changed = int(self._storage.write(unit).value)
            total += changed
            if changed < _EXPIRE_BATCH:
                return total

    def _invalidate_by_consent(
        self, tx: Tx, entries: Sequence[Entry], *, cause: str, now: datetime
    ) -> None:
        """``entries`` become INVALID, their events naming each consent's owner."""
        consents = self._storage.consents(tx.conn)
        for consent_id in sorted({e.consent_id for e in entries}):
            owner = consents.get_consent(ConsentId(consent_id)).owner
            mine = [e for e in entries if e.consent_id == consent_id]
            self._change(tx, mine, Status.INVALID, cause=cause, owner=owner, now=now)

    def _change(
        self,
        tx: Tx,
        entries: Sequence[Entry],
        status: Status,
        *,
        cause: str,
        owner: str,
        now: datetime,
    ) -> None:
        if not entries:
            return
        status_store.set_statuses(tx.conn, entries, status, now)
        for entry in entries:
            tx.emit(
                self._trail.event(
                    EventType.ATTESTATION_STATUS_CHANGED,
                    now=now,
                    role="system",
                    actor="gateway",
                    subject=owner,
                    objects={
                        "attestation_jti": entry.jti,
                        "consent_id": entry.consent_id,
                        "status_list": str(entry.list_id),
                        "status": status.name,
                        "cause": cause,
                    },
                )
            )
