"""The portal's HTTP contract without a browser: headers, cookies, CSRF, roles, language."""

from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from audit.note import NoteSigner
from gateway.portal.auditview import log_verifier, prove_event
from gateway.portal.security import CONTENT_SECURITY_POLICY
from tests.browser.conftest import Deployment

SESSION = "__Host-ag_session"


@dataclass
class Reply:
    """One HTTP response, read whole."""

    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class Client:
    """A tiny HTTPS client that trusts the dev CA and keeps cookies by name."""

    deployment: Deployment
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Reply:
        url = urlsplit(self.deployment.portal_url)
        context = ssl.create_default_context(cadata=self.deployment.ca_pem.decode())
        conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=context)
        send = {k.replace("_", "-"): v for k, v in headers.items()}
        if self.cookies:
            send["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            send["content-type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=send)
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read().decode())
        finally:
            conn.close()
        for cookie in reply.headers.get_all("set-cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";")[0]
        return reply

    def csrf(self, path: str = "/login") -> str:
        page = self.request("GET", path)
        match = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert match is not None
        return match.group(1)

    def sign_in(self, role: str, sub: str) -> Reply:
        token = self.deployment.token(role, sub)
        return self.request("POST", "/login", {"csrf": self.csrf(), "token": token})


def test_pages_carry_a_strict_csp_and_cookies_are_locked_down(deployment: Deployment) -> None:
    client = Client(deployment)
    page = client.request("GET", "/login")
    assert page.status == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.body
    assert "style=" not in page.body
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(SESSION + "=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()


def test_posts_without_the_sessions_csrf_token_are_refused(deployment: Deployment) -> None:
    client = Client(deployment)
    token = deployment.token("owner", "erin")
    assert client.request("POST", "/login", {"token": token}).status == 403  # no session at all
    client.csrf()
    assert client.request("POST", "/login", {"token": token, "csrf": "forged"}).status == 403
    other = Client(deployment)
    stolen = other.csrf()  # a valid token, but of another session
    assert client.request("POST", "/login", {"token": token, "csrf": stolen}).status == 403
    signed_in = client.sign_in("owner", "erin")
    assert signed_in.status == 303
    assert signed_in.headers["location"] == "/owner/requests"


def test_roles_are_enforced(deployment: Deployment) -> None:
    bank = Client(deployment)
    assert bank.sign_in("bank", "bank-a").status == 403  # banks use the SDK, not the portal
    owner = Client(deployment)
    owner.sign_in("owner", "erin")
    assert owner.request("GET", "/owner/requests").status == 200
    assert owner.request("GET", "/regulator/events").status == 403
    anonymous = Client(deployment)
    assert anonymous.request("GET", "/owner/consents").headers["location"] == "/login"


def test_accept_language_picks_chinese_and_the_cookie_overrides_it(
    deployment: Deployment,
) -> None:
    client = Client(deployment)
    chinese = client.request("GET", "/login", accept_language="zh-CN,zh;q=0.9,en;q=0.5")
    assert "登录" in chinese.body
    assert chinese.headers["content-language"] == "zh-CN"
    csrf = re.search(r'name="csrf" value="([^"]+)"', chinese.body)
    assert csrf is not None
    switched = client.request("POST", "/lang", {"csrf": csrf.group(1), "lang": "en", "next": "/"})
    assert switched.status == 303
    english = client.request("GET", "/login", accept_language="zh-CN")
    assert "Sign in" in english.body


def test_unknown_events_are_404(deployment: Deployment) -> None:
    client = Client(deployment)
    client.sign_in("regulator", "reg-2")
    assert client.request("GET", "/regulator/events/999999").status == 404
    assert client.request("GET", "/regulator/events/999999/receipt").status == 404


def test_the_proof_check_fails_under_another_log_key(deployment: Deployment) -> None:
    core = deployment.core
    right = log_verifier(core)
    wrong = NoteSigner.generate(core.config.log_origin).verifier()
    assert prove_event(core, 0, right).verified
    failed = prove_event(core, 0, wrong)
    assert not failed.verified
    assert not failed.pending
    assert "signature" in failed.problem
