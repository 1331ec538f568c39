"""The portal's web layer: rendering, sessions, sign-in and sign-out, the language switch.

Pages are server-rendered Jinja2 (autoescaped) with no script; every form posts back with the
session's CSRF token (``gateway.portal.security``). Owners and regulators sign in with a bearer
token from a trusted issuer, checked by the gateway's own ``TokenVerifier`` (DESIGN.md "Roles");
the token is kept server-side only and re-verified on every request, so its expiry holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.auth import Principal, TokenVerifier, check_certificate_binding
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.roles import Role
from attestgate.gateway.portal.auditview import LogView
from attestgate.gateway.portal.i18n import LANG_COOKIE, Lang, choose_lang, translate
from attestgate.gateway.portal.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Session,
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


@dataclass
class Portal:
    """What every handler needs: the use cases the pages call (the consents and the activity of
    owners, the audit log regulators read), the catalog the pages describe, the clock, the token
    verifier, sessions, templates."""

    clock: Clock
    catalog: Catalog
    consents: ConsentManager
    activity: OwnerActivity
    audit_log: LogView
    verifier: TokenVerifier
    sessions: SessionStore
    https: bool
    templates: Environment
    client_certs: bool = False  # the TLS handshake asks for a client certificate (tlspeer.py)

    @classmethod
    def build(
        cls,
        *,
        clock: Clock,
        catalog: Catalog,
        consents: ConsentManager,
        activity: OwnerActivity,
        audit_log: LogView,
        verifier: TokenVerifier,
        https: bool,
        client_certs: bool = False,
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
            audit_log=audit_log,
            verifier=verifier,
            sessions=SessionStore(),
            https=https,
            templates=env,
            client_certs=client_certs,
        )

    @property
    def session_cookie(self) -> str:
        """``__Host-`` prefixed over HTTPS: no Domain, Path=/, Secure (RFC 6265bis §4.1.3.2)."""
        return ("__Host-" if self.https else "") + SESSION_COOKIE

    # -- sessions ------------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        """This browser's session, creating an anonymous one (its cookie set by ``finish``)."""
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
    """GET ``/login``: the sign-in form."""
    portal: Portal = request.app.state.portal
    return portal.render(request, "login.html", {"failed": False})


async def login(request: Request) -> Response:
    """POST ``/login``: verify the token, then start a fresh signed-in session."""
    portal: Portal = request.app.state.portal
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


async def logout(request: Request) -> Response:
    """POST ``/logout``: forget the session."""
    portal: Portal = request.app.state.portal
    await portal.form(request)
    old = request.cookies.get(portal.session_cookie)
    if old:
        portal.sessions.drop(old)
    response = RedirectResponse("/login", status_code=303)
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
