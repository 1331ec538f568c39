"""The portal's web layer: rendering, sessions, sign-in and sign-out, the language switch.

Pages are server-rendered Jinja2 (autoescaped) with no script; every form posts back with the
session's CSRF token (``gateway.portal.security``). Owners and regulators sign in with a bearer
token from a trusted issuer, checked by the gateway's own ``TokenVerifier`` (DESIGN.md "Roles");
the token is kept server-side only and re-verified on every request, so its expiry holds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.auth import (
    Principal,
    SubjectId,
    TokenVerifier,
    check_certificate_binding,
)
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.auditview import LogView
from attestgate.gateway.portal.i18n import LANG_COOKIE, Lang, choose_lang, translate
from attestgate.gateway.portal.localfmt import DEFAULT_TIME_ZONE, LocalTimes
from attestgate.gateway.portal.oidc import OidcError, RelyingParty, role_values
from attestgate.gateway.portal.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    PendingLogin,
    Session,
    Sessions,
    SessionStore,
    csrf_matches,
    first,
    read_form,
    security_headers,
)
from attestgate.gateway.portal.tlspeer import peer_certificate_der
from attestgate.gateway.usecases.activity import OwnerActivity
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import ConsentManager
from attestgate.gateway.usecases.owner_records import OwnerRecords
from attestgate.gateway.usecases.provenance import AssetHistory
from attestgate.protocol.reasons import REASON_STATUS, DomainError

_HTTP_STATUS = {
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "OUT_OF_RANGE": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}
_log = logging.getLogger("attestgate.portal")
HOME = {Role.OWNER: "/owner/requests", Role.REGULATOR: "/regulator"}
LOGIN_COOKIE = "ag_login"  # SameSite=Lax: it must come back on the provider's redirect
LOGIN_TTL = timedelta(minutes=10)
_DEFAULT_ZONE = ZoneInfo(DEFAULT_TIME_ZONE)


@dataclass
class Portal:
    """What every handler needs: the use cases the pages call (the consents and the activity of
    owners, the audit log regulators read), the catalog the pages describe, the clock, the token
    verifier, sessions, templates."""

    clock: Clock
    catalog: Catalog
    consents: ConsentManager
    activity: OwnerActivity
    history: AssetHistory
    records: OwnerRecords
    audit_log: LogView
    verifier: TokenVerifier
    sessions: Sessions
    https: bool
    templates: Environment
    client_certs: bool = False  # the TLS handshake asks for a client certificate (tlspeer.py)
    oidc: RelyingParty | None = None  # None: token sign-in (the dev mode)
    redirect_url: str = ""  # the OIDC callback URL; empty: this request's origin + /login/callback
    session_ttl: timedelta = timedelta(hours=8)
    time_zone: ZoneInfo = _DEFAULT_ZONE  # owners' pages show times in it

    @classmethod
    def build(
        cls,
        *,
        clock: Clock,
        catalog: Catalog,
        consents: ConsentManager,
        activity: OwnerActivity,
        history: AssetHistory,
        records: OwnerRecords,
        audit_log: LogView,
        verifier: TokenVerifier,
        https: bool,
        client_certs: bool = False,
        oidc: RelyingParty | None = None,
        redirect_url: str = "",
        session_ttl: timedelta = timedelta(hours=8),
        sessions: Sessions | None = None,
        time_zone: ZoneInfo | None = None,
    ) -> Portal:
        """A portal over these use cases with the packaged templates."""
        env = Environment(
            loader=PackageLoader("attestgate.gateway.portal", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        return cls(
            clock=clock,
            catalog=catalog,
            consents=consents,
            activity=activity,
            history=history,
            records=records,
            audit_log=audit_log,
            verifier=verifier,
            sessions=sessions if sessions is not None else SessionStore(),
            https=https,
            templates=env,
            client_certs=client_certs,
            oidc=oidc,
            redirect_url=redirect_url,
            session_ttl=session_ttl,
            time_zone=time_zone or _DEFAULT_ZONE,
        )

    @property
    def session_cookie(self) -> str:
        """``__Host-`` prefixed over HTTPS: no Domain, Path=/, Secure (RFC 6265bis §4.1.3.2)."""
        return ("__Host-" if self.https else "") + SESSION_COOKIE

    # -- sessions ------------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        """This browser's session, creating an anonymous one (its cookie set by ``finish``)."""
        started: Session | None = getattr(request.state, "new_session", None)
        if started is not None:  # this request signed in (or started a visit) already
            return started
        now = self.clock.now()
        found = self.sessions.get(request.cookies.get(self.session_cookie), now)
        if found is None:
            found = self.sessions.new(now)
            request.state.new_session = found
        return found

    def finish(self, request: Request, response: Response) -> Response:
        """Attach the session cookie when this request started (or replaced) the session."""
        session: Session | None = getattr(request.state, "new_session", None)
        if session is not None:
            response.set_cookie(
                self.session_cookie,
                session.id,
                max_age=max(1, int((session.expires_at - self.clock.now()).total_seconds())),
                path="/",
                secure=True,
                httponly=True,
                samesite="strict",
            )
        return response

    def caller(self, request: Request, role: Role) -> Caller:
        """The signed-in caller if the session's token is still valid and has ``role``."""
        session = self.session(request)
        if session.principal is None:
            raise HTTPException(303, headers={"location": "/login"})
        if not session.token:  # an OpenID Connect session: it ends when its store says so
            if session.principal.role is not role:
                raise HTTPException(403)
            return Caller(subject=session.principal.subject, role=session.principal.role.value)
        try:
            principal = self.verifier.verify(session.token)
        except DomainError:
            self.sessions.drop(session.id)
            raise HTTPException(303, headers={"location": "/login"}) from None
        if self.binding_problem(request, principal) is not None:
            # A bound token's session works only over the connection's own certificate: a
            # stolen session cookie without the certificate is as useless as the token alone.
            self.sessions.drop(session.id)
            raise HTTPException(303, headers={"location": "/login"})
        if principal.role is not role:
            raise HTTPException(403)
        return Caller(subject=principal.subject, role=principal.role.value)

    def binding_problem(self, request: Request, principal: Principal) -> str | None:
        """None if the token may be used on this connection; else the message key saying why
        not: a token bound to a client certificate (RFC 8705 ``cnf.x5t#S256``) needs that very
        certificate in this connection's TLS handshake, as on the gRPC port."""
        if principal.cnf_x5t is None:
            return None
        if not self.client_certs:
            return "login.bound_unsupported"
        try:
            check_certificate_binding(principal, peer_certificate_der(request.scope))
        except DomainError:
            return "login.bound_mismatch"
        return None

    async def form(self, request: Request) -> dict[str, list[str]]:
        """The POSTed form, after its CSRF token matched the session's (403 otherwise)."""
        form = await read_form(request)
        now = self.clock.now()
        session = self.sessions.get(request.cookies.get(self.session_cookie), now)
        if not csrf_matches(session, first(form, CSRF_FIELD)):
            raise HTTPException(403, detail="csrf")
        return form

    # -- rendering -----------------------------------------------------------------------------

    def lang(self, request: Request) -> Lang:
        """The language of this request's page."""
        return choose_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    def times(self, request: Request) -> LocalTimes:
        """This page's times: its language, the owners' zone."""
        return LocalTimes(self.lang(request), self.time_zone)

    def render(
        self, request: Request, template: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        """A page: ``template`` with the translator, the session and the CSRF token."""
        lang = self.lang(request)
        session = self.session(request)

        def t(key: str, **values: object) -> str:
            return translate(key, lang, **values)

        html = self.templates.get_template(template).render(
            t=t,
            lang=lang,
            csrf=session.csrf,
            principal=session.principal,
            path=request.url.path,
            when=LocalTimes(lang, self.time_zone).element,
            **context,
        )
        headers = {"content-language": "zh-CN" if lang == "zh" else "en"}
        return self.finish(request, HTMLResponse(html, status_code=status, headers=headers))

    def redirect(self, request: Request, location: str) -> Response:
        """A 303 See Other after a POST (the PRG pattern)."""
        return self.finish(request, RedirectResponse(location, status_code=303))

    def refused(self, request: Request, error: DomainError) -> Response:
        """A use case's refusal as a page naming the stable reason (never personal values)."""
        status = _HTTP_STATUS.get(REASON_STATUS.get(error.reason, ""), 500)
        return self.render(request, "error.html", {"reason": error.reason.value}, status)


def local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def home(request: Request) -> Response:
    """``/``: the signed-in role's first page, or the sign-in page."""
    portal: Portal = request.app.state.portal
    session = portal.session(request)
    if session.principal is not None and session.principal.role in HOME:
        return portal.redirect(request, HOME[session.principal.role])
    return portal.redirect(request, "/login")


async def login_page(request: Request) -> Response:
    """GET ``/login``: the sign-in form (OpenID Connect, or the dev mode's token paste)."""
    portal: Portal = request.app.state.portal
    return portal.render(request, "login.html", {"failed": False, "oidc": portal.oidc is not None})


async def login(request: Request) -> Response:
    """POST ``/login``: verify the token, then start a fresh signed-in session."""
    portal: Portal = request.app.state.portal
    if portal.oidc is not None:
        raise HTTPException(404)  # token pasting is the dev mode only
    form = await portal.form(request)
    token = first(form, "token").strip()
    try:
        principal = portal.verifier.verify(token)
    except DomainError:
        return portal.render(request, "login.html", {"failed": True}, 401)
    if principal.role not in HOME:
        return portal.render(request, "login.html", {"failed": True}, 403)
    problem = portal.binding_problem(request, principal)
    if problem is not None:
        return portal.render(request, "login.html", {"failed": True, "reason_key": problem}, 401)
    old = request.cookies.get(portal.session_cookie)
    if old:
        portal.sessions.drop(old)
    request.state.new_session = portal.sessions.new(portal.clock.now(), principal, token)
    return portal.redirect(request, HOME[principal.role])


def _callback_url(portal: Portal, request: Request) -> str:
    if portal.redirect_url:
        return portal.redirect_url
    return str(request.base_url).rstrip("/") + "/login/callback"


async def oidc_start(request: Request) -> Response:
    """POST ``/login/oidc``: send the browser to the provider (state, nonce, PKCE kept here)."""
    portal: Portal = request.app.state.portal
    if portal.oidc is None:
        raise HTTPException(404)
    await portal.form(request)
    try:
        start = await run_in_threadpool(portal.oidc.start, _callback_url(portal, request))
    except OidcError as exc:
        _log.warning("OpenID provider unavailable: %s", exc)
        return portal.render(
            request, "login.html", {"failed": True, "oidc": True, "reason_key": "login.idp"}, 503
        )
    now = portal.clock.now()
    pending = PendingLogin(start.state, start.nonce, start.verifier, now + LOGIN_TTL)
    await run_in_threadpool(portal.sessions.put_login, pending, now)
    response = RedirectResponse(start.url, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        start.state,
        max_age=int(LOGIN_TTL.total_seconds()),
        path="/login/callback",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return portal.finish(request, response)


def _principal(portal: Portal, claims: Mapping[str, Any]) -> Principal | None:
    """The portal role and subject the ID token's claims map to, or None (no owner)."""
    assert portal.oidc is not None
    settings = portal.oidc.settings
    expires = portal.clock.now() + portal.session_ttl
    if settings.regulator_role in role_values(claims, settings.role_claim):
        return Principal(SubjectId(str(claims["sub"])), Role.REGULATOR, settings.issuer, expires)
    owner = claims.get(settings.owner_claim)
    if not isinstance(owner, str) or not owner or len(owner) > 128:
        return None
    return Principal(SubjectId(owner), Role.OWNER, settings.issuer, expires)


async def oidc_callback(request: Request) -> Response:
    """GET ``/login/callback``: check ``state``, redeem the code, validate the ID token, map it
    to an owner or a regulator, then start a fresh signed-in session (a new id: no fixation)."""
    portal: Portal = request.app.state.portal
    if portal.oidc is None:
        raise HTTPException(404)
    state = request.query_params.get("state", "")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    now = portal.clock.now()
    pending = await run_in_threadpool(portal.sessions.take_login, state, now) if state else None
    failed = {"failed": True, "oidc": True}
    if pending is None or not secrets.compare_digest(cookie, state):
        return portal.render(request, "login.html", {**failed, "reason_key": "login.state"}, 400)
    code = request.query_params.get("code", "")
    if not code:  # the provider answered an error (access_denied, say)
        return portal.render(request, "login.html", {**failed, "reason_key": "login.denied"}, 401)
    try:
        identity = await run_in_threadpool(
            lambda: portal.oidc.finish(  # type: ignore[union-attr]
                code=code,
                verifier=pending.verifier,
                nonce=pending.nonce,
                redirect_url=_callback_url(portal, request),
            )
        )
    except OidcError as exc:
        _log.warning("OpenID Connect sign-in refused: %s", exc)
        return portal.render(request, "login.html", {**failed, "reason_key": "login.oidc"}, 401)
    principal = _principal(portal, identity.claims)
    if principal is None:
        return portal.render(request, "no_owner.html", {}, 403)
    old = request.cookies.get(portal.session_cookie)
    if old:
        portal.sessions.drop(old)
    request.state.new_session = portal.sessions.new(now, principal, id_token=identity.id_token)
    # A page, not a redirect: the browser arrived here from the provider (another site), and
    # a SameSite=Strict cookie is sent only on a navigation this site starts.
    response = portal.render(request, "signed_in.html", {"home": HOME[principal.role]})
    response.delete_cookie(LOGIN_COOKIE, path="/login/callback", secure=True, httponly=True)
    return response


async def logout(request: Request) -> Response:
    """POST ``/logout``: forget the session; with OpenID Connect, end it at the provider too."""
    portal: Portal = request.app.state.portal
    await portal.form(request)
    old = request.cookies.get(portal.session_cookie)
    session = portal.sessions.get(old, portal.clock.now())
    if old:
        portal.sessions.drop(old)
    target = "/login"
    if portal.oidc is not None and session is not None and session.id_token:
        back = str(request.base_url).rstrip("/") + "/login"
        found = await run_in_threadpool(portal.oidc.logout_url, session.id_token, back)
        target = found or target
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(portal.session_cookie, path="/", secure=True, httponly=True)
    return response


async def switch_lang(request: Request) -> Response:
    """POST ``/lang``: remember the chosen language and go back to the page."""
    portal: Portal = request.app.state.portal
    form = await portal.form(request)
    lang = first(form, "lang")
    response = portal.redirect(request, local_path(first(form, "next")))
    if lang in ("en", "zh"):
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
    return response


async def domain_error(request: Request, exc: Exception) -> Response:
    """A refusal no handler caught (bad input in a URL, say): its page and status."""
    assert isinstance(exc, DomainError)
    portal: Portal = request.app.state.portal
    return portal.refused(request, exc)


async def internal_error(request: Request, exc: Exception) -> Response:
    """The last resort (outside the middleware): a 500 that still carries the security headers;
    the traceback goes to the log, never to the browser."""
    _log.error("portal request failed", exc_info=exc)
    portal: Portal = request.app.state.portal
    response = PlainTextResponse("internal error", status_code=500)
    extra = [(b"cache-control", b"no-store"), *security_headers(https=portal.https)]
    response.raw_headers.extend(extra)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors as pages: redirects pass through; 403 from CSRF says so."""
    assert isinstance(exc, HTTPException)
    portal: Portal = request.app.state.portal
    if exc.status_code == 303 and exc.headers:
        return portal.finish(request, RedirectResponse(exc.headers["location"], status_code=303))
    if exc.status_code == 403:
        key = "error.csrf" if exc.detail == "csrf" else "error.forbidden"
        return portal.render(request, "error.html", {"message_key": key}, 403)
    key = "error.not_found" if exc.status_code == 404 else "error.title"
    return portal.render(request, "error.html", {"message_key": key}, exc.status_code)
