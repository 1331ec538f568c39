"""Consents as the issue read phase sees them: kept in memory while they are ACTIVE.

IssueAttestation reads the consent twice: in the read phase (grantee, usability, claims, record)
and in its unit of work, whose conditional ``UPDATE`` is the authority (state ACTIVE, uses below
the maximum, inside the validity window; ``consent.sql_store``). Only the first read is
served from here, so a stale entry can cost wasted work but never a wrong answer:

- an entry is only served while it says ACTIVE and usable at ``now``; anything else is re-read
  from storage before the caller refuses, so a refusal is always decided on fresh data;
- what the read phase takes from an ACTIVE consent besides its state never changes (grantee,
  owner, claims, record, domain, purpose, artefact hash): approval fixes them;
- a consent revoked, paused, spent or expired since it was cached passes the read phase and is
  refused by the unit of work with the precise reason (and audited); the caller then evicts it.

Beside a cached consent the claims its request asked for are kept too (an issue without claims
asks for them, so an unticked one comes back as withheld): a request never changes once made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from attestgate.audit.sql import Connection
from attestgate.consent.machine import check_usable
from attestgate.consent.model import Consent, ConsentId, ConsentState
from attestgate.consent.store import ConsentStore
from attestgate.protocol.reasons import DomainError

DEFAULT_CAPACITY = 4096


class ActiveConsents:
    """A bounded map of consent id -> the consent as last read while ACTIVE."""

    def __init__(
        self,
        store: Callable[[Connection], ConsentStore],
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._store = store
        self._capacity = capacity
        self._entries: dict[ConsentId, Consent] = {}
        self._requested: dict[ConsentId, tuple[str, ...]] = {}  # only for ids in _entries
        self._lock = threading.Lock()

    def get(self, conn: Connection, consent_id: ConsentId, now: datetime) -> Consent:
        """The consent: from memory if it was ACTIVE and is still usable at ``now`` by what
        memory knows, otherwise from storage (``NOT_FOUND`` and the like come from there)."""
        cached = self._entries.get(consent_id)
        if cached is not None and _usable(cached, now):
            return cached
        consent = self._store(conn).get_consent(consent_id)
        if consent.state is ConsentState.ACTIVE:
            self._remember(consent)
        else:
            self.evict(consent_id)
        return consent

    def requested_claims(self, conn: Connection, consent: Consent) -> tuple[str, ...]:
        """The claims the bank asked for in ``consent``'s request (fixed when it was made)."""
        known = self._requested.get(consent.id)
        if known is not None:
            return known
        claims = tuple(self._store(conn).get_request(consent.request_id).claims)
        with self._lock:
            if consent.id in self._entries:  # kept only beside the cached consent
                self._requested[consent.id] = claims
        return claims

    def evict(self, consent_id: str) -> None:
        """Forget a consent (its unit of work refused it: it changed since it was cached)."""
        with self._lock:
            self._entries.pop(ConsentId(consent_id), None)
            self._requested.pop(ConsentId(consent_id), None)

    def __len__(self) -> int:
        return len(self._entries)

    def _remember(self, consent: Consent) -> None:
        with self._lock:
            if consent.id not in self._entries and len(self._entries) >= self._capacity:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._requested.pop(oldest, None)
            self._entries[consent.id] = consent


def _usable(consent: Consent, now: datetime) -> bool:
    try:
        check_usable(consent, now)
    except DomainError:
        return False
    return True
