"""Issue 20 item 2: the consent screen in plain language, in English and Chinese, in headless
Chromium: one sentence per request with the amount formatted for the language, times in the
owner's zone (Asia/Shanghai, the default) with UTC on hover, cards that tell requests apart,
activity without raw event codes, and a regulator table that fits 1280 px."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from attestgate.v1 import common_pb2
from tests.browser.conftest import Deployment, screenshot
from tests.browser.test_portal import click, sign_in, text_of
from tests.integration import live

pytestmark = pytest.mark.slow

LONG_BANK = "bank_of_" + "a_long_registered_name_" * 3 + "0123456789"


def ask(
    deployment: Deployment,
    owner: str,
    amount: int,
    currency: str,
    *,
    record_id: str = "",
    bank: str = "bank-a",
) -> str:
    """``bank`` asks ``owner`` for income / fx_purchase bounded to ``amount`` minor units."""
    bounds = {
        "amount": common_pb2.Value(int_value=amount),
        "currency": common_pb2.Value(string_value=currency),
    }
    claims = ["tax_year", "covers_amount"]
    return deployment.request_consent(owner, claims, bank, bounds=bounds, record_id=record_id)


def upload_income(deployment: Deployment, owner: str) -> None:
    """``owner``'s 2025 income record ``inc-2025-<owner>``: the sentence names its tax year."""
    deployment.local.provider("income-office").put_record(
        domain="income", subject=owner, record_id=f"inc-2025-{owner}", fields=live.INCOME_FIELDS
    )


def _asked_times(browser: Any, request_id: str) -> tuple[str, str, str]:
    """(shown text, datetime attribute, title) of the card's "asked" time."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    element = browser.find_element(By.CSS_SELECTOR, f"#meta-{request_id} time")
    return element.text, element.get_attribute("datetime"), element.get_attribute("title")


def _check_local_time(shown: str, iso: str, title: str, lang: str) -> None:
    utc = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    local = utc.astimezone(ZoneInfo("Asia/Shanghai"))
    assert title == utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert local.strftime("%H:%M") in shown
    assert ("（UTC+8）" if lang == "zh" else "(UTC+8)") in shown
    day = f"{local.year}年{local.month}月{local.day}日" if lang == "zh" else f"{local.day} "
    assert day in shown


def test_plain_consent_screen_in_english(deployment: Deployment, browser: Any) -> None:
    upload_income(deployment, "erin")
    first = ask(deployment, "erin", 5_000_000, "USD")
    second = ask(deployment, "erin", 2_000_000, "USD", record_id="inc-2025-erin")
    third = ask(deployment, "erin", 1_234_567, "JPY", bank="bank-b")
    sign_in(browser, deployment, "owner", "erin")
    summary = text_of(browser, f"summary-{first}")
    until = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=30)).strftime("%B")
    assert summary.startswith("bank-a asks to verify once, before ")
    assert until in summary  # 30 days from now, in the owner's zone
    assert (
        "that your latest certified after-tax income (now tax year 2025) covers a purchase of "
        "up to 50,000.00 USD." in summary
    )
    assert "It will learn: tax year (2025); yes/no." in summary
    assert "It will never learn: your taxpayer id, your gross income" in summary
    assert "that your 2025 after-tax income (record inc-2025-erin) covers" in text_of(
        browser, f"summary-{second}"
    )
    assert "1,234,567 JPY" in text_of(browser, f"summary-{third}")  # JPY has no minor unit

    metas = {r: text_of(browser, f"meta-{r}") for r in (first, second, third)}
    assert len(set(metas.values())) == 3  # every card tells itself apart
    assert "Amount 50,000.00 USD" in metas[first]
    assert "Record your latest" in metas[first]
    assert "Amount 20,000.00 USD" in metas[second]
    assert "Record inc-2025-erin" in metas[second]
    assert "Bank bank-b" in metas[third]
    _check_local_time(*_asked_times(browser, first), "en")
    screenshot(browser, "40-plain-requests-en")

    click(browser, f"approve-{first}")
    consent_id = browser.current_url.split("id=")[-1]
    valid_until = browser.find_element("css selector", f"#consent-{consent_id} time")
    assert valid_until.get_attribute("title").endswith(" UTC")
    assert "(UTC+8)" in valid_until.text
    screenshot(browser, "41-plain-consents-en")

    browser.get(deployment.portal_url + "/owner/activity")
    activity = text_of(browser, "activity")
    assert "Consent requested" in activity
    assert "Consent approved" in activity
    assert "consent.approved" not in browser.page_source
    assert "(UTC+8)" in activity
    screenshot(browser, "42-plain-activity-en")


def test_plain_consent_screen_in_chinese(deployment: Deployment, browser: Any) -> None:
    upload_income(deployment, "fang")
    first = ask(deployment, "fang", 5_000_000, "USD")
    second = ask(deployment, "fang", 30_000_000, "CNY", bank="bank-b")
    sign_in(browser, deployment, "owner", "fang")
    click(browser, "lang-switch")
    summary = text_of(browser, f"summary-{first}")
    assert summary.startswith("bank-a 请求在 ")
    assert (
        "之前核验一次：您最新核定的税后收入（目前为 2025 纳税年度）是否足以支付不超过 "
        "50,000.00 美元的购汇。" in summary
    )
    assert "对方将得知：纳税年度（2025）；是或否。" in summary
    assert "对方绝不会得知：您的纳税人识别号、您的税前收入" in summary
    assert "300,000.00 元" in text_of(browser, f"summary-{second}")
    meta = text_of(browser, f"meta-{first}")
    assert "金额 50,000.00 美元" in meta
    assert "记录 您的最新记录" in meta
    _check_local_time(*_asked_times(browser, first), "zh")
    screenshot(browser, "43-plain-requests-zh")

    click(browser, f"reject-{second}")
    click(browser, f"approve-{first}")
    consent_id = browser.current_url.split("id=")[-1]
    click(browser, f"revoke-{consent_id}")
    browser.get(deployment.portal_url + "/owner/activity")
    activity = text_of(browser, "activity")
    for words in ("收到授权请求", "已拒绝请求", "已同意授权", "授权已撤销", "您"):
        assert words in activity, words
    source = browser.page_source
    for code in ("consent.requested", "consent.rejected", "consent.approved", "consent.revoked"):
        assert code not in source, code
    assert "（UTC+8）" in activity
    screenshot(browser, "44-plain-activity-zh")


def _fits(browser: Any) -> dict[str, int]:
    return dict(
        browser.execute_script(
            "const m = document.querySelector('main'), d = document.documentElement;"
            "return {page: d.scrollWidth, view: d.clientWidth,"
            " table: document.getElementById('events').scrollWidth, main: m.clientWidth};"
        )
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_regulator_table_fits_1280_px(deployment: Deployment, browser: Any, lang: str) -> None:
    for amount in (100, 200):
        ask(deployment, "gus", amount, "USD", bank=LONG_BANK)
    deployment.wait_for_checkpoint()
    browser.set_window_size(1280, 900)
    sign_in(browser, deployment, "regulator", "reg-" + "x" * 60)
    if lang == "zh":
        click(browser, "lang-switch")
    browser.get(deployment.portal_url + "/regulator/events")
    assert LONG_BANK in text_of(browser, "events")
    assert browser.execute_script("return window.innerWidth") == 1280
    widths = _fits(browser)
    assert widths["page"] <= widths["view"], widths  # no horizontal scroll bar
    assert widths["table"] <= widths["main"], widths  # the table stays inside the page column
    screenshot(browser, f"45-regulator-events-1280-{lang}")
