"""ISO 4217 currency codes and their minor units.

Source: ISO 4217 "List One" (current currency and funds), maintained by SIX Financial Information
(https://www.six-group.com/en/products-services/financial-information/data-standards.html),
2024-2025 edition. Precious metals, testing and "no currency" codes (XAU, XAG, XPD, XPT, XTS, XXX,
XDR, XSU, XUA, XBA-XBD) are left out: they have no minor unit and cannot be the currency of a
purchase.

Amounts in attestgate are integers in minor units (DESIGN.md "Minimum sufficiency"); the exponent
below says how many minor units make a major one (10**exponent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

_CODE_SHAPE = re.compile(r"[A-Z]{3}")

_EXPONENT_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_THREE = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_FOUR = "CLF UYW"
_EXPONENT_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP "
    "LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR "
    "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR "
    "ZMW ZWG"
)


def _table() -> dict[str, int]:
    groups = {0: _EXPONENT_ZERO, 2: _EXPONENT_TWO, 3: _EXPONENT_THREE, 4: _EXPONENT_FOUR}
    return {code: exponent for exponent, codes in groups.items() for code in codes.split()}


MINOR_UNITS: Mapping[str, int] = MappingProxyType(_table())
"""ISO 4217 alphabetic code -> number of decimal places of its minor unit."""


def is_currency_shape(code: str) -> bool:
    """True when ``code`` has the ISO 4217 alphabetic shape (three uppercase ASCII letters)."""
    return _CODE_SHAPE.fullmatch(code) is not None


def is_known_currency(code: str) -> bool:
    """True when ``code`` is a current ISO 4217 currency with a minor unit."""
    return code in MINOR_UNITS


def minor_unit_exponent(code: str) -> int:
    """How many decimal places the minor unit of ``code`` has; ``KeyError`` if unknown."""
    return MINOR_UNITS[code]


def format_major(minor: int, currency: str) -> str:
    """``5000000``, ``"USD"`` -> ``"50,000.00"``: the amount in major units with thousands grouped
    and exactly the ISO 4217 exponent's decimals (an unknown code: the bare integer)."""
    exponent = MINOR_UNITS.get(currency)
    if exponent is None:
        return str(minor)
    sign, whole = ("-" if minor < 0 else ""), abs(minor)
    major, fraction = divmod(whole, 10**exponent)
    return sign + f"{major:,}" + (f".{fraction:0{exponent}d}" if exponent else "")


def format_amount(minor: int, currency: str) -> str:
    """``5000000``, ``"USD"`` -> ``"50,000.00 USD"`` (minor units shown with the ISO 4217
    exponent; an unknown code as the bare integer)."""
    return f"{format_major(minor, currency)} {currency}"
