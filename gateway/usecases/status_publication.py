"""Publication of signed Status List Tokens, once per ``status_list_interval``.

Each publication first moves the attestations of expired consents to INVALID
(``AttestationStatus.expire_due``), then reads every list from the database and signs a token
(``typ`` ``statuslist+jwt``, ``sub`` the list's URI, ``iat``, ``ttl`` = the interval, ``exp`` =
``iat`` + ``validity``) with the issuer's current key, the one ``/.well-known/jwt-vc-issuer``
publishes. Every replica publishes from the shared database, so each serves the same list contents
(its own ``iat`` and signature) at most one interval behind the last committed change.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.persistence import status_store
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.usecases.status import AttestationStatus
from attestgate.protocol.status_list import sign_status_list_token

__all__ = ["DEFAULT_VALIDITY", "PublishedList", "StatusPublisher"]

_log = logging.getLogger("attestgate.status")
DEFAULT_VALIDITY = timedelta(days=1)
"""How long a published token stays acceptable (its ``exp``): the bound on an offline cache."""


@dataclass(frozen=True)
class PublishedList:
    """One signed Status List Token and when it was signed (``iat``)."""

    token: str
    iat: int


class StatusPublisher:
    """Signs every list each ``interval``; ``token(list_id)`` is the latest one (thread-safe)."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        keyring: KeyRing,
        status: AttestationStatus,
        issuer: str,
        interval: timedelta,
        validity: timedelta = DEFAULT_VALIDITY,
    ) -> None:
        if interval.total_seconds() < 1:
            raise ValueError("status_list_interval must be at least one second")
        self._storage = storage
        self._clock = clock
        self._keyring = keyring
        self._status = status
        self._issuer = issuer
        self.interval = interval
        self._validity = max(validity, 2 * interval)
        self._lock = threading.Lock()
        self._published: dict[int, PublishedList] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> int:
        """Expire what is due, then sign every list; returns how many lists were published."""
        self._status.expire_due()
        conn = self._storage.read()
        kid, key = self._keyring.current_signing_key()
        iat = int(self._clock.now().timestamp())
        fresh: dict[int, PublishedList] = {}
        for list_id in status_store.list_ids(conn):
            bits = status_store.load_list(conn, list_id)
            if bits is None:  # pragma: no cover - lists are never deleted
                continue
            token = sign_status_list_token(
                key,
                kid=kid,
                uri=self._status.uri(list_id),
                iat=iat,
                ttl=int(self.interval.total_seconds()),
                exp=iat + int(self._validity.total_seconds()),
                status_list=bits,
                iss=self._issuer,
            )
            fresh[list_id] = PublishedList(token, iat)
        with self._lock:
            self._published = fresh
        return len(fresh)

    def token(self, list_id: int) -> PublishedList | None:
        """The latest token of ``list_id``; a list created since the last publication is
        published at once."""
        with self._lock:
            found = self._published.get(list_id)
        if found is None and list_id in status_store.list_ids(self._storage.read()):
            self.publish()
            with self._lock:
                found = self._published.get(list_id)
        return found

    # -- the publication thread ----------------------------------------------------------------

    def start(self) -> None:
        """Publish now, then every interval on a daemon thread."""
        self.publish()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="status-lists", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a publication under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            try:
                self.publish()
            except Exception:
                _log.exception("status list publication failed; serving the previous lists")
