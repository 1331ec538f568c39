"""Foreign-exchange rate tables uploaded by a provider, and exact conversion to the base currency.

DESIGN.md "Minimum sufficiency": amounts are integers in minor units; FX conversion uses a rate
table uploaded by a provider, and the rate used is named in the attestation. Rates are exact decimal
strings and all arithmetic uses ``fractions.Fraction``: no binary floating point touches money. A
converted cost is rounded *up* to the next base minor unit, so rounding can never let a purchase
exceed the income that backs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from types import MappingProxyType

from attestgate.consent.currencies import is_known_currency, minor_unit_exponent
from attestgate.consent.model import require_utc
from attestgate.protocol.reasons import DomainError, Reason

_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,12})?")


@dataclass(frozen=True)
class FxConversion:
    """The result of converting an amount: the base amount and the rate that produced it."""

    amount: int
    """Converted amount in minor units of the base currency, rounded up."""
    currency: str
    base: str
    rate: str
    """Base major units per one major unit of ``currency``, exactly as uploaded."""
    table_id: str

    @property
    def label(self) -> str:
        """Human-readable rate reference, e.g. ``USD/CNY 7.1234 @ pboc-2025-06-30``."""
        return f"{self.currency}/{self.base} {self.rate} @ {self.table_id}"


@dataclass(frozen=True)
class FxRateTable:
    """A provider-uploaded table: ``rates[code]`` = base major units per one major unit of code."""

    id: str
    rates: Mapping[str, str]
    base: str = "CNY"
    as_of: datetime | None = None
    _parsed: Mapping[str, Fraction] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("an FX rate table needs an id")
        if not is_known_currency(self.base):
            raise ValueError("unknown base currency")
        if self.as_of is not None:
            require_utc("as_of", self.as_of)
        parsed: dict[str, Fraction] = {}
        for code, text in self.rates.items():
            if not is_known_currency(code) or code == self.base:
                raise ValueError(f"rate for {code!r}: not a foreign ISO 4217 currency")
            if not isinstance(text, str) or _DECIMAL.fullmatch(text) is None:
                raise ValueError(f"rate for {code}: not an exact decimal string")
            if Fraction(text) <= 0:
                raise ValueError(f"rate for {code}: must be positive")
            parsed[code] = Fraction(text)
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))
        object.__setattr__(self, "_parsed", MappingProxyType(parsed))

    def rate(self, currency: str) -> Fraction:
        """The exact rate for ``currency``; ``FX_RATE_UNAVAILABLE`` when the table lacks it."""
        if currency == self.base:
            return Fraction(1)
        try:
            return self._parsed[currency]
        except KeyError:
            raise DomainError(
                Reason.FX_RATE_UNAVAILABLE,
                f"no {currency}/{self.base} rate in the FX rate table",
                metadata={"currency": currency, "fx_table": self.id},
            ) from None

    def to_base(self, amount: int, currency: str) -> FxConversion:
        """Convert ``amount`` minor units of ``currency`` to base minor units, rounding up."""
        if amount < 0:
            raise ValueError("amount must not be negative")
        rate = self.rate(currency)
        scale = Fraction(10 ** minor_unit_exponent(self.base), 10 ** minor_unit_exponent(currency))
        exact = amount * rate * scale
        converted = -(-exact.numerator // exact.denominator)  # ceiling without floats
        text = "1" if currency == self.base else self.rates[currency]
        return FxConversion(converted, currency, self.base, text, self.id)
