"""Issue 20 item 5: after approving and after revoking, the owner downloads a consent receipt in
headless Chromium (English and Chinese) and it verifies offline with the regulator's receipt check
(``verify_consent_receipt`` over ``verify_receipt``); a tampered receipt does not."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.portal.auditview import log_verifier
from attestgate.sdk import LogVerificationError, verify_consent_receipt, verify_receipt
from attestgate.sdk._internal.receipt import parse_consent_receipt, parse_receipt
from attestgate.v1 import common_pb2
from tests.browser.conftest import Deployment, screenshot
from tests.browser.test_portal import click, sign_in, text_of

pytestmark = pytest.mark.slow

BOUNDS = {
    "amount": common_pb2.Value(int_value=5_000_000),
    "currency": common_pb2.Value(string_value="USD"),
}


def _download(browser: Any, link_id: str, folder: Path) -> str:
    """Click the download link ``link_id`` and return the file's text once it has arrived."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    link = browser.find_element(By.ID, link_id)
    name = link.get_attribute("href").rsplit("/consents/", 1)[1].replace("/receipt/", "-")
    target = folder / f"attestgate-consent-{name}.receipt"
    link.click()
    for _ in range(200):
        if target.exists() and target.stat().st_size > 0:
            return target.read_text(encoding="utf-8")
        time.sleep(0.05)
    raise AssertionError(f"{target.name} was not downloaded")


def _check(deployment: Deployment, text: str, consent_id: str, event: str) -> None:
    vkey = log_verifier(deployment.log_view).vkey
    origin = deployment.parts.config.log_origin
    verified = verify_consent_receipt(text, vkey=vkey, origin=origin)
    assert verified.event == event
    assert verified.terms["consent_id"] == consent_id
    assert verified.terms["bounds"] == {"amount": 5_000_000, "currency": "USD"}
    assert verified.entry.event["objects"]["consent_id"] == consent_id
    # The regulator's own tool accepts the receipt's proof as it stands.
    _, proof = parse_consent_receipt(text)
    entry, _ = verify_receipt(proof, vkey=vkey, origin=origin)
    assert entry.index == verified.entry.index


def _tampered_artefact(text: str) -> str:
    """The receipt with the artefact's signed amount raised (its signature left as it was)."""
    jws, _ = parse_consent_receipt(text)
    head, payload, signature = jws.split(".")
    terms = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    terms["bounds"]["amount"] = 99_999_999
    raised = base64.urlsafe_b64encode(json.dumps(terms).encode()).decode().rstrip("=")
    return text.replace(jws, f"{head}.{raised}.{signature}")


def _tampered_event(text: str) -> str:
    """The receipt with the logged event's consent id changed."""
    _, proof = parse_consent_receipt(text)
    extra = parse_receipt(proof).extra
    assert extra is not None
    forged = extra.replace(b'"consent_id":"', b'"consent_id":"x')
    return text.replace(base64.b64encode(extra).decode(), base64.b64encode(forged).decode())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_owner_downloads_and_verifies_consent_receipts(
    deployment: Deployment, browser: Any, browser_dirs: tuple[Path, Path], lang: str
) -> None:
    owner = f"hana-{lang}"
    request_id = deployment.request_consent(owner, ["covers_amount"], bounds=BOUNDS)
    sign_in(browser, deployment, "owner", owner)
    if lang == "zh":
        click(browser, "lang-switch")
    click(browser, f"approve-{request_id}")
    consent_id = browser.current_url.split("id=")[-1]
    link = text_of(browser, f"receipt-approved-{consent_id}")
    assert link == (
        "下载同意授权的收据" if lang == "zh" else "Download the receipt of your approval"
    )
    deployment.wait_for_checkpoint()
    _, downloads = browser_dirs
    approved = _download(browser, f"receipt-approved-{consent_id}", downloads)
    _check(deployment, approved, consent_id, "consent.approved")
    screenshot(browser, f"46-owner-consent-receipt-{lang}")

    browser.get(f"{deployment.portal_url}/owner/consents/{consent_id}/receipt/revoked")
    assert ("没有收据" if lang == "zh" else "no receipt") in text_of(browser, "error-message")
    browser.get(deployment.portal_url + "/owner/consents")
    click(browser, f"revoke-{consent_id}")
    revoked_text = "已撤销" if lang == "zh" else "REVOKED"  # the state in the page's language
    assert text_of(browser, f"state-{consent_id}") == revoked_text
    assert revoked_text in text_of(browser, "done")
    deployment.wait_for_checkpoint()
    revoked = _download(browser, f"receipt-revoked-{consent_id}", downloads)
    _check(deployment, revoked, consent_id, "consent.revoked")
    screenshot(browser, f"47-owner-revoked-receipt-{lang}")

    vkey = log_verifier(deployment.log_view).vkey
    for forged, why in (
        (_tampered_artefact(approved), "hash differs"),
        (_tampered_event(revoked), "inclusion proof failed"),
        (approved.replace("artefact ", "artefact !", 1), "malformed consent receipt"),
        (approved.replace("receipt@v1", "receipt@v2", 1), "malformed consent receipt"),
    ):
        with pytest.raises(LogVerificationError, match=why):
            verify_consent_receipt(forged, vkey=vkey)


def test_receipts_are_only_the_owners(deployment: Deployment, browser: Any) -> None:
    request_id = deployment.request_consent("ivan", ["covers_amount"], bounds=BOUNDS)
    sign_in(browser, deployment, "owner", "ivan")
    click(browser, f"approve-{request_id}")
    consent_id = browser.current_url.split("id=")[-1]
    browser.get(f"{deployment.portal_url}/owner/consents/{consent_id}/receipt/paused")
    assert text_of(browser, "error-message") == "Not found."
    sign_in(browser, deployment, "owner", "mallory")
    browser.get(f"{deployment.portal_url}/owner/consents/{consent_id}/receipt/approved")
    assert "NOT_CONSENT_OWNER" in text_of(browser, "error-reason")
