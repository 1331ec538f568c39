"""The owner's assets and their histories in headless Chromium, in English and Chinese (issue 19
item 4): a receipt registered to one holder, pledged by a bank and released, then transferred.
The new holder sees it with every event; the previous holder no longer does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Deployment, screenshot
from tests.browser.test_portal import click, sign_in, text_of
from tests.integration import live

pytestmark = pytest.mark.slow

RECEIPT = "WR-PORTAL-1"
DOMAIN = "warehouse_receipt"
FIRST, HOLDER = "erin-trading", "dora-metals"


def _upload(deployment: Deployment, holder: str) -> None:
    deployment.local.provider("warehouse-1").put_record(
        domain=DOMAIN,
        subject=holder,
        record_id=RECEIPT,
        fields={**live.WAREHOUSE_FIELDS, "receipt_id": RECEIPT, "holder": holder},
    )


@pytest.fixture(scope="module")
def receipt(deployment: Deployment) -> str:
    """Registered to FIRST, pledged by bank-a and released, transferred to HOLDER."""
    local = deployment.local
    _upload(deployment, FIRST)
    bank = local.bank("bank-a")
    request = bank.request_consent(
        owner=FIRST, domain=DOMAIN, purpose="pledge_financing", claims=["unencumbered"],
        record_id=RECEIPT,
    )  # fmt: skip
    consent = local.owner(FIRST).approve(request.id)
    redemption = bank.redeem(bank.issue(consent.id), transaction_ref="loan-1")
    bank.release_pledge(redemption, reason="REPAID")
    _upload(deployment, HOLDER)
    deployment.wait_for_checkpoint()
    return RECEIPT


EXPECTED = {
    "en": ("My assets", "Registered or updated", "Pledged", "Pledge released", "Transferred",
           "you", "another holder"),
    "zh": ("我的资产", "登记或更新", "质押", "解除质押", "转让", "您", "其他持有人"),
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_holder_reads_the_history_of_a_receipt(
    deployment: Deployment, browser: Any, receipt: str, lang: str
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    nav, registered, pledged, released, transferred, you, other = EXPECTED[lang]
    sign_in(browser, deployment, "owner", HOLDER)
    if lang == "zh":
        click(browser, "lang-switch")
    click(browser, element=browser.find_element(By.LINK_TEXT, nav))
    assert receipt in text_of(browser, "assets")
    screenshot(browser, f"40-owner-assets-{lang}")
    click(browser, f"history-{receipt}")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")]
    assert len(rows) == 4
    assert registered in rows[0]
    assert "record.put" in rows[0]
    assert other in rows[0]
    assert "ps_" in rows[0]
    assert FIRST not in text_of(browser, "history")
    assert pledged in rows[1]
    assert "bank-a" in rows[1]
    assert released in rows[2]
    assert "REPAID" in rows[2]
    assert transferred in rows[3]
    assert you in rows[3]
    screenshot(browser, f"41-owner-asset-history-{lang}")


def test_the_previous_holder_no_longer_sees_it(
    deployment: Deployment, browser: Any, receipt: str
) -> None:
    sign_in(browser, deployment, "owner", FIRST)
    browser.get(deployment.portal_url + "/owner/assets")
    assert "You hold no asset." in browser.page_source
    browser.get(deployment.portal_url + f"/owner/assets/{DOMAIN}/{receipt}")
    assert "RECORD_NOT_FOUND" in browser.page_source
    screenshot(browser, "42-owner-asset-not-held")
