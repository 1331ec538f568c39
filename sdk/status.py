"""Token Status List checks for banks (draft-ietf-oauth-status-list): is an attestation still
VALID, or INVALID (redeemed, its consent revoked, expired or its data erased) or SUSPENDED (its
consent paused)?

An attestation carries ``status.status_list {idx, uri}``; ``uri`` serves a signed Status List
Token on the gateway's public HTTPS face. ``StatusLists`` fetches, verifies (``typ``
``statuslist+jwt``, a signature by a key of the issuer's JWKS, ``sub`` = ``uri``, ``iss``, not
expired) and caches those tokens:

* **fresh**: a cached list is used without fetching until its ``iat`` + ``ttl`` (the gateway's
  publication interval: changes show within one interval);
* **offline**: past that, a refetch is tried; if it fails (or ``offline=True``), the cached list is
  still used while it is younger than ``max_age`` (the freshness bound, default one hour) and not
  past its ``exp``. Older than that, the check fails with ``Unavailable``.

Every answer names the list's ``iat``: how old the status information is.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from attestgate.protocol.jose import JoseError, Jwks, json_object, parse_compact_jws
from attestgate.protocol.status_list import (
    MAX_LIST_BYTES,
    Status,
    StatusListError,
    StatusListToken,
    StatusReference,
    parse_reference,
    verify_status_list_token,
)
from attestgate.sdk.errors import InvalidAttestation, Unavailable

__all__ = [
    "DEFAULT_STATUS_MAX_AGE",
    "AttestationStatus",
    "Status",
    "StatusLists",
    "https_fetcher",
    "status_reference",
]

DEFAULT_STATUS_MAX_AGE = timedelta(hours=1)
"""How old a cached status list may be when it cannot be refreshed (the offline bound)."""
_MAX_RESPONSE = MAX_LIST_BYTES * 2  # base64url and the JWS around the compressed list
_ACCEPT = "application/statuslist+jwt"


class AttestationStatus(NamedTuple):
    """An attestation's status and the status list it was read from."""

    status: Status
    """``Status.VALID``, ``Status.INVALID`` or ``Status.SUSPENDED``."""
    iat: datetime
    """When the gateway signed the list: the status is at most this old (plus one interval)."""
    uri: str
    idx: int

    def __str__(self) -> str:
        return self.status.name


def https_fetcher(ca_file: Path | None = None, *, timeout: float = 10.0) -> Callable[[str], str]:
    """GET a Status List Token over HTTPS, trusting ``ca_file`` (None: the system roots)."""
    context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))

    def fetch(uri: str) -> str:
        if not uri.startswith("https://"):
            raise StatusListError("status list URIs must be https")
        request = urllib.request.Request(uri, headers={"Accept": _ACCEPT})  # noqa: S310 - https only
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            body = response.read(_MAX_RESPONSE + 1)
        if len(body) > _MAX_RESPONSE:
            raise StatusListError("status list response too large")
        return bytes(body).decode("ascii")

    return fetch


@dataclass(frozen=True)
class _Cached:
    token: StatusListToken
    iat: datetime
    fresh_until: float  # epoch seconds: iat + ttl
    usable_until: float  # epoch seconds: min(iat + max_age, exp)


_BY_VALUE = (Status.VALID, Status.INVALID, Status.SUSPENDED)


class StatusLists:
    """Verified Status List Tokens by URI, fetched with ``fetch`` and reused as the module
    docstring says; safe to share between threads."""

    def __init__(
        self,
        fetch: Callable[[str], str],
        *,
        clock: Callable[[], datetime] | None = None,
        max_age: timedelta = DEFAULT_STATUS_MAX_AGE,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._now: Callable[[], float] = (
            time.time if clock is None else (lambda: self._clock().timestamp())
        )
        self._max_age = max_age.total_seconds()
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}

    def lookup(
        self, ref: StatusReference, *, jwks: Jwks, issuer: str, offline: bool = False
    ) -> AttestationStatus:
        """The status of entry ``ref.idx`` of the list at ``ref.uri``."""
        now = self._now()
        cached = self._cache.get(ref.uri)
        if cached is None or (now >= cached.fresh_until and not offline):
            cached = self._refresh(ref.uri, jwks=jwks, issuer=issuer, now=now, stale=cached)
        if cached is None or now >= cached.usable_until:
            raise Unavailable(
                f"no status list from {ref.uri} younger than the freshness bound; fetch it online"
            )
        try:
            status = _BY_VALUE[cached.token.status_list.get(ref.idx)]
        except (StatusListError, IndexError) as exc:
            raise InvalidAttestation("the attestation's status entry is not usable") from exc
        return AttestationStatus(status, cached.iat, ref.uri, ref.idx)

    def put(self, token: str, *, uri: str, jwks: Jwks, issuer: str) -> None:
        """Cache a Status List Token obtained some other way (for example carried offline)."""
        cached = self._verified(token, uri=uri, jwks=jwks, issuer=issuer)
        with self._lock:
            self._cache[uri] = cached

    def _refresh(
        self, uri: str, *, jwks: Jwks, issuer: str, now: float, stale: _Cached | None
    ) -> _Cached | None:
        try:
            token = self._fetch(uri)
        except (OSError, StatusListError, UnicodeDecodeError):
            return stale  # offline: the caller checks the freshness bound
        cached = self._verified(token, uri=uri, jwks=jwks, issuer=issuer)
        with self._lock:
            self._cache[uri] = cached
        return cached

    def _verified(self, token: str, *, uri: str, jwks: Jwks, issuer: str) -> _Cached:
        now = int(self._clock().timestamp())
        try:
            verified = verify_status_list_token(token, jwks.get, uri=uri, now=now, iss=issuer)
        except StatusListError as exc:
            raise InvalidAttestation(f"the status list at {uri} is not acceptable") from exc
        fresh = verified.iat + (verified.ttl or 0)
        usable = verified.iat + self._max_age
        if verified.exp is not None:
            usable = min(usable, verified.exp)
        return _Cached(verified, datetime.fromtimestamp(verified.iat, UTC), fresh, usable)


def status_reference(token: str, issuer: str) -> StatusReference | None:
    """The ``status.status_list`` reference of an attestation (``<issuer-jwt>~...``), whose
    ``uri`` must be a list of ``issuer`` (no other host is ever fetched); None for attestations
    issued before status lists (no ``status`` claim)."""
    try:
        jws = parse_compact_jws(token.split("~", 1)[0])
        payload = json_object(jws.payload, max_depth=8)
        if "status" not in payload:
            return None
        ref = parse_reference(payload["status"])
    except (JoseError, StatusListError) as exc:
        raise InvalidAttestation("the attestation carries no usable status reference") from exc
    if not ref.uri.startswith(issuer.rstrip("/") + "/"):
        raise InvalidAttestation("the attestation's status list is not its issuer's")
    return ref
