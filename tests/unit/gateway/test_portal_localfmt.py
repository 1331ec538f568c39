"""Amounts per locale with the currency's minor unit, times in the owner's zone, plain sentences
for every catalog purpose, and activity without raw codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.gateway.ops.config import ConfigError, load_config
from attestgate.gateway.portal.eventtext import EVENT_NAMES, event_name, reason_text
from attestgate.gateway.portal.localfmt import LocalTimes, format_money
from attestgate.gateway.portal.plain import Terms, summarize

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("minor", "currency", "en", "zh"),
    [
        (5_000_000, "USD", "50,000.00 USD", "50,000.00 美元"),
        (123_456_789, "CNY", "1,234,567.89 CNY", "1,234,567.89 元"),
        (1_234, "JPY", "1,234 JPY", "1,234 日元"),  # no minor unit
        (1_234_567, "KWD", "1,234.567 KWD", "1,234.567 科威特第纳尔"),  # three decimals
        (5, "EUR", "0.05 EUR", "0.05 欧元"),
        (1_000_00, "CHE", "1,000.00 CHE", "1,000.00 CHE"),  # no Chinese name: the code
        (42, "ZZZ", "42 ZZZ", "42 ZZZ"),  # not ISO 4217: the bare integer
    ],
)
def test_amounts_per_locale_with_the_minor_unit(
    minor: int, currency: str, en: str, zh: str
) -> None:
    assert format_money(minor, currency, "en") == en
    assert format_money(minor, currency, "zh") == zh


def test_times_are_shown_in_the_owner_zone_with_utc_on_hover() -> None:
    late = datetime(2027, 1, 4, 17, 30, tzinfo=UTC)  # already 5 January in Shanghai
    en, zh = LocalTimes("en", SHANGHAI), LocalTimes("zh", SHANGHAI)
    assert en.day(late) == "5 January 2027"
    assert zh.day(late) == "2027年1月5日"
    assert en.when(late) == "5 January 2027, 01:30 (UTC+8)"
    assert zh.when(late) == "2027年1月5日 01:30（UTC+8）"
    element = str(en.element(late))
    assert 'datetime="2027-01-04T17:30:00Z"' in element
    assert 'title="2027-01-04 17:30:00 UTC"' in element
    assert str(en.element(late, day_only=True)).endswith(">5 January 2027</time>")


def test_daylight_saving_and_half_hour_zones() -> None:
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 12, tzinfo=UTC)
    berlin = LocalTimes("en", ZoneInfo("Europe/Berlin"))
    assert berlin.when(summer) == "1 July 2026, 14:00 (UTC+2)"
    assert berlin.when(winter) == "1 December 2026, 13:00 (UTC+1)"
    assert LocalTimes("en", ZoneInfo("Asia/Kolkata")).when(winter).endswith("17:30 (UTC+5:30)")
    assert LocalTimes("en", ZoneInfo("America/St_Johns")).when(winter).endswith("(UTC-3:30)")


def test_the_time_zone_key_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('portal_time_zone = "Europe/Berlin"\n', encoding="utf-8")
    assert load_config(good, {}).portal_time_zone == "Europe/Berlin"
    assert load_config(None, {}).portal_time_zone == "Asia/Shanghai"
    bad = tmp_path / "bad.toml"
    bad.write_text('portal_time_zone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not an IANA time zone name"):
        load_config(bad, {})


_ASKED = {
    ("income", "fx_purchase"): (
        ("tax_year", "covers_amount"),
        {"amount": 5_000_000, "currency": "USD"},
    ),
    ("business_registration", "counterparty_check"): (("name", "in_good_standing"), {}),
    ("patent", "ip_pledge_loan"): (("patent_no", "owned_by_subject", "unencumbered"), {}),
    ("warehouse_receipt", "pledge_financing"): (("receipt_id", "unencumbered"), {}),
}


def _terms(domain: str, purpose: str, record_id: str | None = None, max_uses: int = 1) -> Terms:
    claims, bounds = _ASKED[(domain, purpose)]
    until = datetime(2027, 1, 4, 17, 30, tzinfo=UTC)
    return Terms("bank-a", domain, purpose, claims, record_id, max_uses, until, bounds)


def test_the_income_sentence_reads_as_the_issue_asks() -> None:
    catalog = Catalog.load_default()
    en = summarize(catalog, _terms("income", "fx_purchase"), "en", LocalTimes("en", SHANGHAI))
    text = str(en.sentence)
    assert text.startswith("bank-a asks to verify once, before <time datetime=")
    assert ">5 January 2027</time>, that your latest certified after-tax income covers a " in text
    assert text.endswith("purchase of up to 50,000.00 USD.")
    assert en.learns == "It will learn: tax year; yes/no."
    assert en.never.startswith("It will never learn: your taxpayer id, your gross income")
    zh = summarize(catalog, _terms("income", "fx_purchase"), "zh", LocalTimes("zh", SHANGHAI))
    assert "不超过 50,000.00 美元的购汇" in str(zh.sentence)
    assert zh.learns == "对方将得知：纳税年度；是或否。"
    assert "您的纳税人识别号" in zh.never


def test_the_sentence_names_the_tax_year_from_the_owners_record() -> None:
    catalog = Catalog.load_default()
    asked = _terms("income", "fx_purchase", record_id="inc-2025")
    named = replace(asked, values={"tax_year": 2025})
    en = summarize(catalog, named, "en", LocalTimes("en", SHANGHAI))
    assert ", that your 2025 after-tax income (record inc-2025) covers a purchase of up to " in (
        str(en.sentence)
    )
    assert en.learns == "It will learn: tax year (2025); yes/no."
    zh = summarize(catalog, named, "zh", LocalTimes("zh", SHANGHAI))
    assert "您 2025 年度的税后收入（记录 inc-2025）是否足以支付" in str(zh.sentence)
    assert zh.learns == "对方将得知：纳税年度（2025）；是或否。"
    # No record named: the latest one, and the year it has now (a newer upload may change it).
    latest = replace(_terms("income", "fx_purchase"), values={"tax_year": 2025})
    text = str(summarize(catalog, latest, "en", LocalTimes("en", SHANGHAI)).sentence)
    assert "that your latest certified after-tax income (now tax year 2025) covers" in text
    zh_latest = str(summarize(catalog, latest, "zh", LocalTimes("zh", SHANGHAI)).sentence)
    assert "您最新核定的税后收入（目前为 2025 纳税年度）" in zh_latest


@pytest.mark.parametrize("key", sorted(_ASKED))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_catalog_purpose_has_its_own_sentence(key: tuple[str, str], lang: str) -> None:
    catalog = Catalog.load_default()
    assert set(catalog.domains) == {domain for domain, _ in _ASKED}  # all four domains
    times = LocalTimes("en" if lang == "en" else "zh", SHANGHAI)
    summary = summarize(catalog, _terms(*key, record_id="R-1", max_uses=3), times.lang, times)
    text = str(summary.sentence)
    assert "bank-a" in text
    assert "R-1" in text  # the record it is about
    assert ("up to 3 times" if lang == "en" else "最多 3 次") in text
    assert "asks to use facts" not in text  # not the generic sentence
    assert "使用" not in text.split("：", 1)[0]
    assert summary.learns
    assert summary.never


def test_a_request_without_the_purpose_predicate_gets_the_generic_sentence() -> None:
    catalog = Catalog.load_default()
    terms = Terms("bank-a", "income", "fx_purchase", ("tax_year",), None, 1, datetime.now(UTC), {})
    text = str(summarize(catalog, terms, "en", LocalTimes("en", SHANGHAI)).sentence)
    assert text.startswith("bank-a asks to use facts from Annual personal income")


def test_a_bank_id_cannot_inject_markup() -> None:
    catalog = Catalog.load_default()
    terms = Terms(
        "<b>x</b>",
        "income",
        "fx_purchase",
        ("covers_amount",),
        None,
        1,
        datetime.now(UTC) + timedelta(days=1),
        {},
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in str(
        summarize(catalog, terms, "en", LocalTimes("en", SHANGHAI)).sentence
    )


def test_activity_names_every_event_type_in_both_languages_without_codes() -> None:
    from attestgate.audit.events import EventType  # noqa: PLC0415

    for kind in EventType:
        assert kind.value in EVENT_NAMES
        assert kind.value not in event_name(kind.value, "zh")
        assert kind.value not in event_name(kind.value, "en")
    assert event_name("consent.approved", "zh") == "已同意授权"
    assert reason_text("CONSENT_REVOKED", "zh") == "授权已被撤销"
    assert reason_text("SOMETHING_NEW", "en") == "something new"
