"""Sign-in with OpenID Connect driven in headless Chromium against a real, certified OpenID
provider (panva/oidc-provider on 127.0.0.1): owners by their owner claim, a regulator by its role
claim, an account that maps to no owner, logout here and at the provider, session expiry, the
provider's key rotation. In English and Chinese; screenshots in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from attestgate.gateway.portal.oidc import client_key_id
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from tests.browser.conftest import Deployment, _upload_records, screenshot
from tests.browser.oidc_provider import OidcProvider, require_oidc_provider
from tests.browser.test_portal import click, text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SESSION_TTL = timedelta(hours=1)
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice.wang": {"owner_id": "alice", "name": "Alice Wang"},
    "bob.li": {"owner_id": "bob", "name": "Bob Li"},
    "officer.zhao": {"roles": ["regulator"], "name": "Officer Zhao"},
    "dave.visitor": {"name": "Dave, no data here"},
}


class ShiftedClock:
    """The system time plus an offset a test may move forward (session expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The shifted time (aware, UTC)."""
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        with self._lock:
            self.offset += delta


@dataclass
class OidcSetup:
    """The gateway with its portal, the provider, the clock."""

    deployment: Deployment
    provider: OidcProvider
    clock: ShiftedClock


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcSetup]:
    """A gateway whose portal signs in with the provider; the provider started for its URL."""
    node = require_oidc_provider()
    work = tmp_path_factory.mktemp("oidc")
    provider = OidcProvider(node, work, ACCOUNTS)
    secret_file = work / "client.secret"
    secret_file.write_text(provider.client_secret + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    clock = ShiftedClock()
    local: LocalGateway[ShiftedClock] = start_local_gateway(
        work / "data",
        clock=clock,
        portal="127.0.0.1:0",
        portal_oidc_issuer=provider.issuer,
        portal_oidc_client_id=provider.client_id,
        portal_oidc_client_secret_file=secret_file,
        portal_oidc_scopes="openid attestgate",
        portal_oidc_owner_claim="owner_id",
        portal_oidc_role_claim="roles",
        portal_oidc_regulator_role="regulator",
        portal_session_ttl=SESSION_TTL,
        checkpoint_interval=timedelta(milliseconds=100),
        max_workers=8,
    )
    channel = local.channel()
    deployment = Deployment(local, channel)  # type: ignore[arg-type]
    try:
        _upload_records(channel, deployment)
        provider.start(local.portal_url)
        yield OidcSetup(deployment, provider, clock)
    finally:
        provider.stop()
        channel.close()
        local.close()


def use_language(driver: Any, lang: str) -> None:
    """Ask for pages in ``lang`` (the Accept-Language header)."""
    agent = driver.execute_script("return navigator.userAgent")
    language = "zh-CN,zh" if lang == "zh" else "en-US,en"
    driver.execute_cdp_cmd(
        "Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": language}
    )


def session_cookie(driver: Any) -> str:
    """The portal's session cookie value ("" when there is none)."""
    for cookie in driver.get_cookies():
        if cookie["name"].endswith("ag_session"):
            return str(cookie["value"])
    return ""


def provider_login(driver: Any, login: str, shot: str = "") -> None:
    """On the provider's pages: sign in as ``login``, then allow the portal (consent)."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys("any password")
    if shot:
        screenshot(driver, shot)
    click(driver, element=driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    if "/interaction/" in driver.current_url:  # the consent prompt (first time per account)
        click(driver, element=driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def wait_for_path(driver: Any, path: str) -> None:
    """Wait until the browser shows ``path`` of the portal (after the sign-in page's refresh)."""
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    try:
        WebDriverWait(driver, 10).until(lambda d: d.current_url.split("?")[0].endswith(path))
    except Exception as exc:
        raise AssertionError(
            f"wanted {path}, at {driver.current_url}: {driver.page_source[:2000]}"
        ) from exc


def sign_in(driver: Any, setup: OidcSetup, login: str, shot: str = "") -> None:
    """The whole sign-in: the portal's button, the provider's pages, back to the portal."""
    driver.get(setup.deployment.portal_url + "/login")
    click(driver, "oidc-submit")
    assert driver.current_url.startswith(setup.provider.issuer), driver.current_url
    provider_login(driver, login, shot)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_owner_signs_in_at_the_provider(oidc: OidcSetup, browser: Any, lang: str) -> None:
    use_language(browser, lang)
    request_id = oidc.deployment.request_consent("alice", ["tax_year", "covers_amount"])
    browser.get(oidc.deployment.portal_url + "/login")
    mode = text_of(browser, "login-mode")
    assert "OpenID Connect" in mode
    assert ("身份提供方" in mode) == (lang == "zh")
    screenshot(browser, f"30-oidc-login-{lang}")
    before = session_cookie(browser)
    assert before  # a visitor's session (CSRF of the sign-in form)
    click(browser, "oidc-submit")
    assert browser.current_url.startswith(oidc.provider.issuer + "/")
    assert (
        "code_challenge_method=S256" in browser.current_url
        or "/interaction/" in browser.current_url
    )
    provider_login(browser, "alice.wang", f"31-oidc-provider-login-{lang}")
    wait_for_path(browser, "/owner/requests")
    assert f"request-{request_id}" in browser.page_source
    after = session_cookie(browser)
    assert after
    assert after != before  # a new session id at sign-in: no fixation
    screenshot(browser, f"32-oidc-owner-requests-{lang}")
    # Token pasting is not offered (nor accepted) when a provider is configured.
    assert "login-form" not in browser.page_source


def test_a_regulator_signs_in_by_its_role_claim(oidc: OidcSetup, browser: Any) -> None:
    sign_in(browser, oidc, "officer.zhao")
    wait_for_path(browser, "/regulator")
    screenshot(browser, "33-oidc-regulator")
    browser.get(oidc.deployment.portal_url + "/owner/requests")
    assert "403" in browser.title or browser.current_url.endswith("/owner/requests")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_account_that_is_no_owner_gets_a_clear_page_and_no_session(
    oidc: OidcSetup, browser: Any, lang: str
) -> None:
    use_language(browser, lang)
    sign_in(browser, oidc, "dave.visitor")
    title = text_of(browser, "no-owner")
    assert title == (
        "此账户没有对应的授权人" if lang == "zh" else "No consent owner for this account"
    )
    screenshot(browser, f"34-oidc-no-owner-{lang}")
    browser.get(oidc.deployment.portal_url + "/owner/requests")
    wait_for_path(browser, "/login")


def test_logout_ends_the_session_here_and_at_the_provider(oidc: OidcSetup, browser: Any) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    sign_in(browser, oidc, "bob.li")
    wait_for_path(browser, "/owner/requests")
    signed_in = session_cookie(browser)
    click(browser, "logout")
    # RP-initiated logout: the provider asks to confirm, then sends the browser back.
    assert browser.current_url.startswith(oidc.provider.issuer + "/session/end")
    screenshot(browser, "35-oidc-provider-logout")
    click(browser, element=browser.find_element(By.CSS_SELECTOR, "button[name=logout]"))
    wait_for_path(browser, "/login")
    assert session_cookie(browser) != signed_in
    browser.get(oidc.deployment.portal_url + "/owner/requests")
    wait_for_path(browser, "/login")
    # Signed out at the provider too: signing in again asks for the login there.
    click(browser, "oidc-submit")
    assert browser.find_elements(By.NAME, "login")


def test_a_session_expires_on_the_server(oidc: OidcSetup, browser: Any) -> None:
    sign_in(browser, oidc, "bob.li")
    wait_for_path(browser, "/owner/requests")
    browser.get(oidc.deployment.portal_url + "/owner/consents")
    wait_for_path(browser, "/owner/consents")
    oidc.clock.advance(SESSION_TTL + timedelta(seconds=1))
    try:
        browser.get(oidc.deployment.portal_url + "/owner/consents")
        wait_for_path(browser, "/login")
    finally:
        oidc.clock.advance(-(SESSION_TTL + timedelta(seconds=1)))
    # The expired session is gone for good, not just hidden while the clock is ahead.
    browser.get(oidc.deployment.portal_url + "/owner/consents")
    wait_for_path(browser, "/login")


def test_the_provider_rotates_its_key(oidc: OidcSetup, browser: Any) -> None:
    sign_in(browser, oidc, "alice.wang")
    wait_for_path(browser, "/owner/requests")
    kid = oidc.provider.rotate()  # the old key is gone: only a fresh JWKS verifies
    oidc.clock.advance(timedelta(seconds=11))  # past the JWKS refresh interval
    try:
        browser.delete_all_cookies()
        sign_in(browser, oidc, "alice.wang")
        wait_for_path(browser, "/owner/requests")
    finally:
        oidc.clock.advance(-timedelta(seconds=11))
    assert kid == "key-2"


def test_a_callback_not_started_here_is_refused(oidc: OidcSetup, browser: Any) -> None:
    browser.get(oidc.deployment.portal_url + "/login/callback?state=forged&code=stolen")
    assert "expired or was not started here" in text_of(browser, "login-failed")
    assert session_cookie(browser) == "" or "owner" not in browser.current_url


def test_the_portal_authenticates_with_private_key_jwt(tmp_path: Path, browser: Any) -> None:
    # RFC 7523 client authentication: the provider knows only the portal's public key.
    node = require_oidc_provider()
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    provider = OidcProvider(
        node, tmp_path, ACCOUNTS, client_jwk={**public, "kid": client_key_id(key)}
    )
    key_file = tmp_path / "client.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    local = start_local_gateway(
        tmp_path / "data",
        portal="127.0.0.1:0",
        portal_login="oidc",
        portal_oidc_issuer=provider.issuer,
        portal_oidc_client_id=provider.client_id,
        portal_oidc_private_key_file=key_file,
        portal_oidc_scopes="openid attestgate",
        portal_oidc_owner_claim="owner_id",
    )
    try:
        provider.start(local.portal_url)
        setup = OidcSetup(Deployment(local, local.channel()), provider, ShiftedClock())
        sign_in(browser, setup, "alice.wang")
        wait_for_path(browser, "/owner/requests")
        setup.deployment.channel.close()
    finally:
        provider.stop()
        local.close()
