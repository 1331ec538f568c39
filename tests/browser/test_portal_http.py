"""The portal's HTTP contract without a browser: headers, cookies, CSRF, roles, language."""

from __future__ import annotations

import re
import ssl

from attestgate.gateway.portal.auditview import log_verifier, prove_event
from attestgate.gateway.portal.security import CONTENT_SECURITY_POLICY
from attestgate.protocol.note import NoteSigner
from tests.browser.conftest import Deployment
from tests.portal_client import PortalSession, Reply

SESSION = "__Host-ag_session"


class Client(PortalSession):
    """A browser of the deployment's portal that trusts the dev CA."""

    def __init__(self, deployment: Deployment) -> None:
        context = ssl.create_default_context(cadata=deployment.ca_pem.decode())
        super().__init__(deployment.portal_url, context)
        self.deployment = deployment

    def sign_in(self, role: str, sub: str) -> Reply:
        """Sign in with a fresh dev token of ``role`` and ``sub``."""
        return self.sign_in_with(self.deployment.token(role, sub))


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
    view = deployment.log_view
    right = log_verifier(view)
    wrong = NoteSigner.generate(view.origin).verifier()
    assert prove_event(view, 0, right).verified
    failed = prove_event(view, 0, wrong)
    assert not failed.verified
    assert not failed.pending
    assert "signature" in failed.problem
