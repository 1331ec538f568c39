"""The portal driven in headless Chromium: owners decide, regulators verify, forms need CSRF."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from attestgate.sdk.regulator import verify_receipt
from tests.browser.conftest import Deployment, disclosed_names, screenshot

pytestmark = pytest.mark.slow


def sign_in(driver: Any, deployment: Deployment, role: str, sub: str) -> None:
    """Open the sign-in page and paste a dev token."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    driver.get(deployment.portal_url + "/login")
    driver.find_element(By.ID, "token").send_keys(deployment.token(role, sub))
    click(driver, "login-submit")


def text_of(driver: Any, element_id: str) -> str:
    """The visible text of the element with ``element_id``, waiting for it to appear."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support import expected_conditions  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    found = WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )
    return str(found.text)


def click(driver: Any, element_id: str = "", *, element: Any = None) -> None:
    """Click a button or link and wait until the next page has replaced this one and loaded."""
    from selenium.common.exceptions import WebDriverException  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    target = element if element is not None else driver.find_element(By.ID, element_id)
    page = driver.find_element(By.TAG_NAME, "html")
    target.click()

    def replaced(_: Any) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:  # stale, or "node does not belong to the document"
            return True
        return False

    WebDriverWait(driver, 10).until(replaced)
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def test_owner_approves_with_one_claim_unticked(deployment: Deployment, browser: Any) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    request_id = deployment.request_consent("alice", ["tax_year", "covers_amount"])
    browser.get(deployment.portal_url + "/login")
    screenshot(browser, "01-login")
    sign_in(browser, deployment, "owner", "alice")
    assert browser.current_url.endswith("/owner/requests")
    card = text_of(browser, f"request-{request_id}")
    assert "bank-a" in card
    assert "not your income" in card  # the predicate says what it does not reveal
    assert "Never shared" in card
    assert "your taxpayer id" in card
    assert "30 days" in card
    screenshot(browser, "02-owner-requests")

    browser.find_element(By.ID, f"claim-{request_id}-tax_year").click()  # untick
    click(browser, f"approve-{request_id}")
    assert "/owner/consents" in browser.current_url
    assert "is active" in text_of(browser, "done")
    screenshot(browser, "03-owner-consents")

    (consent,) = [c for c in deployment.consents_of_bank() if c.owner == "alice"]
    assert list(consent.claims) == ["covers_amount"]
    attestation = deployment.issue(consent.name)
    assert set(attestation.claims) == {"covers_amount"}
    assert "tax_year" not in disclosed_names(attestation.token)

    click(browser, element=browser.find_element(By.LINK_TEXT, "Activity"))
    activity = text_of(browser, "activity")
    assert "Consent approved" in activity
    assert "Proof issued to the bank" in activity
    screenshot(browser, "04-owner-activity")


def test_owner_revokes_and_the_next_issue_is_refused(deployment: Deployment, browser: Any) -> None:

    request_id = deployment.request_consent("bob", ["tax_year", "covers_amount"])
    sign_in(browser, deployment, "owner", "bob")
    click(browser, f"approve-{request_id}")
    (consent,) = [c for c in deployment.consents_of_bank() if c.owner == "bob"]
    consent_id = consent.name.removeprefix("consents/")
    assert text_of(browser, f"state-{consent_id}") == "ACTIVE"

    click(browser, f"revoke-{consent_id}")
    assert text_of(browser, f"state-{consent_id}") == "REVOKED"
    assert "REVOKED" in text_of(browser, "done")
    screenshot(browser, "05-owner-revoked")

    with pytest.raises(grpc.RpcError) as refused:
        deployment.issue(consent.name)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "revoked" in (refused.value.details() or "").lower()

    browser.get(deployment.portal_url + "/owner/activity")
    rows = text_of(browser, "activity")
    assert "Consent revoked" in rows
    assert "the consent was revoked" in rows


def test_regulator_opens_an_event_and_sees_it_verified(
    deployment: Deployment, browser: Any, browser_dirs: tuple[Path, Path]
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415

    deployment.request_consent("carol", ["covers_amount"])
    deployment.wait_for_checkpoint()  # the viewer lists only what a signed checkpoint covers
    sign_in(browser, deployment, "regulator", "reg-1")
    assert browser.current_url.endswith("/regulator")
    assert "Verified" in text_of(browser, "checkpoint-verified")
    screenshot(browser, "06-regulator-checkpoint")

    click(browser, element=browser.find_element(By.LINK_TEXT, "Audit events"))
    Select(browser.find_element(By.ID, "f-type")).select_by_value("consent.requested")
    click(browser, "f-submit")
    table = text_of(browser, "events")
    assert "consent.requested" in table
    assert "record.put" not in table
    assert "carol" not in browser.page_source  # pseudonyms only
    screenshot(browser, "07-regulator-events")

    click(browser, element=browser.find_elements(By.CSS_SELECTOR, "#events a")[0])
    assert "Verified" in text_of(browser, "proof-verified")
    assert text_of(browser, "event-type") == "consent.requested"
    screenshot(browser, "08-regulator-event")

    _, downloads = browser_dirs
    browser.find_element(By.ID, "receipt").click()
    receipt = _downloaded(downloads)
    entry, checkpoint = verify_receipt(
        receipt.read_text(), vkey=_log_vkey(deployment), origin=deployment.parts.config.log_origin
    )
    assert b'"consent.requested"' in entry.data
    assert checkpoint.size > 0


def test_a_form_posted_without_the_csrf_token_is_refused(
    deployment: Deployment, browser: Any
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    request_id = deployment.request_consent("alice", ["covers_amount"], bank="bank-b")
    sign_in(browser, deployment, "owner", "alice")
    # WebDriver scripts are not page scripts, so the page's CSP does not stop this tampering.
    browser.execute_script(
        "document.querySelectorAll('input[name=csrf]').forEach(function (e) { e.remove(); })"
    )
    click(browser, f"reject-{request_id}")
    assert "not sent by this site" in text_of(browser, "error-message")
    screenshot(browser, "09-csrf-refused")
    browser.get(deployment.portal_url + "/owner/requests")
    assert browser.find_elements(By.ID, f"request-{request_id}")  # still pending


def _downloaded(folder: Path) -> Path:
    for _ in range(100):
        done = [p for p in folder.glob("*.tlog-proof") if p.stat().st_size > 0]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"no receipt downloaded into {folder}")


def _log_vkey(deployment: Deployment) -> str:
    from attestgate.gateway.portal.auditview import log_verifier  # noqa: PLC0415

    return log_verifier(deployment.log_view).vkey


def test_the_language_switch_shows_chinese(deployment: Deployment, browser: Any) -> None:
    deployment.request_consent("dora", ["tax_year", "covers_amount"])
    sign_in(browser, deployment, "owner", "dora")
    assert "Pending consent requests" in text_of(browser, "requests-title")
    click(browser, "lang-switch")
    assert text_of(browser, "requests-title") == "待处理的授权请求"
    assert "不透露您的收入" in browser.page_source
    screenshot(browser, "10-owner-requests-zh")
