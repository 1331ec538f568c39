"""Sessions, CSRF tokens, form parsing and the security headers of every portal response.

- Sessions live in server memory, keyed by a random id in the ``ag_session`` cookie (Secure,
  HttpOnly, SameSite=Strict; RFC 6265bis §4.1.2.7). A visitor gets a session before signing in,
  so the sign-in form is protected too; signing in replaces the id (no session fixation).
- CSRF: every session holds a random token that every form carries in the ``csrf`` field; a POST
  whose field does not match its session's token is refused with 403 (the synchronizer-token
  pattern, OWASP CSRF Prevention Cheat Sheet). SameSite=Strict is a second line, not the only one.
- Headers: a strict Content-Security-Policy (no script at all, styles from this origin only,
  forms post back here only, no framing), no-sniff, no referrer, no caching of pages.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attestgate.gateway.common.auth import Principal

SESSION_COOKIE = "ag_session"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
ANONYMOUS_TTL = timedelta(hours=1)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "connect-src 'none'; font-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Session:
    """One browser's session: its CSRF token and, once signed in, the verified principal."""

    id: str
    csrf: str
    expires_at: datetime
    principal: Principal | None = None
    token: str = ""  # token sign-in (dev mode): re-verified on every request
    id_token: str = ""  # OpenID Connect sign-in: the logout's id_token_hint


@dataclass(frozen=True)
class PendingLogin:
    """An OpenID Connect authorization request on its way: what its callback must match."""

    state: str
    nonce: str
    verifier: str
    expires_at: datetime


class Sessions(Protocol):
    """Where sessions live: ``SessionStore`` (memory, one process) or
    ``gateway.portal.sessions.DbSessionStore`` (the database, every replica)."""

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id, or None."""
        ...

    def new(
        self,
        now: datetime,
        principal: Principal | None = None,
        token: str = "",
        id_token: str = "",
    ) -> Session:
        """A fresh session (new id, new CSRF token)."""
        ...

    def drop(self, session_id: str) -> None:
        """Forget a session."""
        ...

    def put_login(self, login: PendingLogin, now: datetime) -> None:
        """Remember a sign-in on its way."""
        ...

    def take_login(self, state: str, now: datetime) -> PendingLogin | None:
        """The live sign-in of ``state``, removed, or None."""
        ...


class SessionStore:
    """Bounded, thread-safe, in-memory sessions (a restart signs everyone out).

    Anonymous and signed-in sessions are bounded separately, oldest evicted first, so a flood of
    anonymous visits cannot push signed-in people out.
    """

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._anonymous: OrderedDict[str, Session] = OrderedDict()
        self._signed_in: OrderedDict[str, Session] = OrderedDict()
        self._max = max_sessions
        self._lock = threading.Lock()
        self._logins: dict[str, PendingLogin] = {}

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id, or None."""
        if not session_id:
            return None
        with self._lock:
            for table in (self._signed_in, self._anonymous):
                session = table.get(session_id)
                if session is not None and session.expires_at > now:
                    return session
                table.pop(session_id, None)
            return None

    def new(
        self,
        now: datetime,
        principal: Principal | None = None,
        token: str = "",
        id_token: str = "",
    ) -> Session:
        """A fresh session (new id, new CSRF token); a signed-in one ends with its principal."""
        expires = principal.expires_at if principal is not None else now + ANONYMOUS_TTL
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), expires)
        session = replace(session, principal=principal, token=token, id_token=id_token)
        table = self._anonymous if principal is None else self._signed_in
        with self._lock:
            table[session.id] = session
            while len(table) > self._max:
                table.popitem(last=False)
        return session

    def drop(self, session_id: str) -> None:
        """Forget a session (sign-out)."""
        with self._lock:
            self._anonymous.pop(session_id, None)
            self._signed_in.pop(session_id, None)

    def put_login(self, login: PendingLogin, now: datetime) -> None:
        """Remember a sign-in on its way (expired ones are forgotten)."""
        with self._lock:
            for state in [s for s, p in self._logins.items() if p.expires_at <= now]:
                del self._logins[state]
            if len(self._logins) < self._max:
                self._logins[login.state] = login

    def take_login(self, state: str, now: datetime) -> PendingLogin | None:
        """The live sign-in of ``state``, removed, or None."""
        with self._lock:
            found = self._logins.pop(state, None)
        return found if found is not None and found.expires_at > now else None


def csrf_matches(session: Session | None, submitted: str | None) -> bool:
    """True when the form's token is this session's token (constant-time comparison)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded form of a POST (bounded in size and field count), values by name."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise HTTPException(415)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400) from None
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def first(form: dict[str, list[str]], name: str) -> str:
    """The first value of a form field, or ""."""
    values = form.get(name)
    return values[0] if values else ""


def content_security_policy(form_targets: Sequence[str] = ()) -> str:
    """The policy; ``form_targets``: origins forms may also lead to (the OpenID provider's, whose
    sign-in and sign-out the portal's forms redirect to: ``form-action`` covers redirects)."""
    if not form_targets:
        return CONTENT_SECURITY_POLICY
    extra = " ".join(form_targets)
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {extra}")


def security_headers(*, https: bool, form_targets: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    """The headers every portal response carries (pages also get ``cache-control: no-store``)."""
    headers = [
        (b"content-security-policy", content_security_policy(form_targets).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        form_targets: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._app = app
        self._https = https
        self._form_targets = form_targets
        self._headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, adding headers to the response start."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                fixed = self._headers
                if self._form_targets is not None:
                    targets = self._form_targets()
                    fixed = security_headers(https=self._https, form_targets=targets)
                message["headers"] = headers + fixed
            await send(message)

        await self._app(scope, receive, send_with_headers)
