"""FX rate tables: exact decimal rates, ISO 4217 minor units, rounding up."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestgate.consent.currencies import MINOR_UNITS, is_currency_shape, is_known_currency
from attestgate.consent.fx import FxRateTable
from attestgate.protocol.reasons import DomainError, Reason

TABLE = FxRateTable("safe-2025-06-30", {"USD": "7.1234", "JPY": "0.0496", "KWD": "23.4567"})


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (5_000_000, "USD", 35_617_000),  # 50,000.00 USD * 7.1234 = 356,170.00 CNY
        (1, "USD", 8),  # 0.01 USD = 0.071234 CNY -> 7.1234 fen, rounded up to 8
        (100, "USD", 713),  # 1.00 USD = 7.1234 CNY -> 712.34 fen -> 713
        (0, "USD", 0),
        (1_000, "JPY", 4_960),  # JPY has no minor unit: 1000 yen * 0.0496 = 49.60 CNY
        (1_000, "KWD", 2_346),  # KWD has 3 decimals: 1.000 KWD = 23.4567 CNY -> 2345.67 -> 2346
        (12_345, "CNY", 12_345),  # the base converts to itself
    ],
)
def test_to_base(amount: int, currency: str, expected: int) -> None:
    conversion = TABLE.to_base(amount, currency)
    assert conversion.amount == expected
    assert conversion.table_id == "safe-2025-06-30"


def test_label_names_the_rate_exactly_as_uploaded() -> None:
    assert TABLE.to_base(100, "USD").label == "USD/CNY 7.1234 @ safe-2025-06-30"
    assert TABLE.rate("USD") == Fraction(71234, 10000)


def test_missing_rate_is_fx_rate_unavailable() -> None:
    with pytest.raises(DomainError) as caught:
        TABLE.to_base(100, "EUR")
    assert caught.value.reason is Reason.FX_RATE_UNAVAILABLE
    assert caught.value.metadata == {"currency": "EUR", "fx_table": "safe-2025-06-30"}


@pytest.mark.parametrize(
    "rates",
    [
        {"USD": "7,12"},
        {"USD": "-7.1"},
        {"USD": "0"},
        {"USD": "0.000"},
        {"USD": "1e3"},
        {"USD": "07.1"},
        {"USD": 7.1},
        {"usd": "7.1"},
        {"ABC": "7.1"},
        {"CNY": "1"},
    ],
)
def test_malformed_tables_are_refused(rates: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="rate for"):
        FxRateTable("t", rates)  # type: ignore[arg-type]


def test_table_is_immutable() -> None:
    rates = {"USD": "7.1"}
    table = FxRateTable("t", rates)
    rates["USD"] = "99"
    assert table.rates["USD"] == "7.1"
    with pytest.raises(TypeError):
        table.rates["USD"] = "1"  # type: ignore[index]


@given(
    st.integers(min_value=0, max_value=10**15),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_conversion_rounds_up_by_less_than_one_minor_unit(amount: int, currency: str) -> None:
    exact = amount * TABLE.rate(currency) * Fraction(100, 10 ** MINOR_UNITS[currency])
    converted = TABLE.to_base(amount, currency).amount
    assert exact <= converted < exact + 1


def test_currency_helpers() -> None:
    assert is_currency_shape("XYZ")
    assert not is_currency_shape("usd")
    assert not is_currency_shape("USDT")
    assert is_known_currency("CNY")
    assert not is_known_currency("XYZ")
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["USD"], MINOR_UNITS["BHD"]) == (0, 2, 3)
    assert len(MINOR_UNITS) > 150
