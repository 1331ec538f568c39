"""Amounts and times as an owner reads them: in the page's language and the owner's time zone.

Amounts are integers in minor units (DESIGN.md "Minimum sufficiency"); they are shown with exactly
the currency's ISO 4217 decimals (``consent.currencies.format_major``): ``50,000.00 USD`` in
English, ``50,000.00 美元`` in Chinese (the currency's Chinese name where it is a common one, else
its code). Times are stored in UTC; pages show them in the configured zone (``portal_time_zone``,
default Asia/Shanghai) inside ``<time datetime="...Z" title="... UTC">``, so hovering shows UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from attestgate.consent.currencies import format_major
from attestgate.gateway.portal.i18n import Lang

DEFAULT_TIME_ZONE = "Asia/Shanghai"

# ISO 4217 code -> its usual Chinese name (others are shown by code).
_CURRENCY_ZH: dict[str, str] = {
    "CNY": "元",
    "USD": "美元",
    "EUR": "欧元",
    "JPY": "日元",
    "GBP": "英镑",
    "HKD": "港元",
    "MOP": "澳门元",
    "TWD": "新台币",
    "KRW": "韩元",
    "SGD": "新加坡元",
    "AUD": "澳大利亚元",
    "CAD": "加拿大元",
    "CHF": "瑞士法郎",
    "KWD": "科威特第纳尔",
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_money(minor: int, currency: str, lang: Lang) -> str:
    """``5000000`` USD -> ``50,000.00 USD`` (en) / ``50,000.00 美元`` (zh)."""
    number = format_major(minor, currency)
    if lang == "zh":
        return f"{number} {_CURRENCY_ZH.get(currency, currency)}"
    return f"{number} {currency}"


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@dataclass(frozen=True)
class LocalTimes:
    """Times for one page: its language and the owner's zone."""

    lang: Lang
    zone: ZoneInfo

    def local(self, moment: datetime) -> datetime:
        """``moment`` (aware) in the owner's zone."""
        return moment.astimezone(self.zone)

    def day(self, moment: datetime) -> str:
        """``5 January 2027`` / ``2027年1月5日`` (the day in the owner's zone)."""
        at = self.local(moment)
        if self.lang == "zh":
            return f"{at.year}年{at.month}月{at.day}日"
        return f"{at.day} {_MONTHS[at.month - 1]} {at.year}"

    def when(self, moment: datetime) -> str:
        """``5 January 2027, 14:30 (UTC+8)`` / ``2027年1月5日 14:30（UTC+8）``."""
        at = self.local(moment)
        if self.lang == "zh":
            return f"{self.day(moment)} {at:%H:%M}（{_offset(at)}）"
        return f"{self.day(moment)}, {at:%H:%M} ({_offset(at)})"

    def element(self, moment: datetime, *, day_only: bool = False) -> Markup:
        """``<time datetime="2027-01-05T06:30:00Z" title="2027-01-05 06:30:00 UTC">...</time>``."""
        utc = moment.astimezone(UTC)
        shown = self.day(moment) if day_only else self.when(moment)
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M:%S UTC"), shown
        )
