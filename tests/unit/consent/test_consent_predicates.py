"""Predicate registry, parameter validation and the built-in predicates as bound by the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from attestgate.consent.builtin_predicates import BUILTIN_PREDICATES, covers_amount
from attestgate.consent.catalog import Catalog
from attestgate.consent.fx import FxRateTable
from attestgate.consent.model import OwnerId
from attestgate.consent.predicates import (
    Consumption,
    ConsumptionKind,
    PredicateContext,
    PredicateRegistry,
    evaluate,
)
from attestgate.protocol.reasons import DomainError, Reason

NOW = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)
FX = FxRateTable("safe-2025-06-30", {"USD": "7.1234"})
INCOME = {"tax_year": 2025, "after_tax_income": 36_000_000, "taxpayer_id": "x"}  # 360,000.00 CNY


def ctx(**changes: object) -> PredicateContext:
    values: dict[str, object] = {"subject": OwnerId("owner-a"), "now": NOW, "fx_rates": FX}
    values.update(changes)
    return PredicateContext(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "violations"),
    [
        ({"amount": -1, "currency": "USD"}, {"params.amount": "must be positive"}),
        ({"amount": 0, "currency": "USD"}, {"params.amount": "must be positive"}),
        ({"amount": True, "currency": "USD"}, {"params.amount": "must be an integer"}),
        ({"amount": "100", "currency": "USD"}, {"params.amount": "must be an integer"}),
        ({"amount": 1.5, "currency": "USD"}, {"params.amount": "must be an integer"}),
        ({"amount": 100, "currency": "usd"}, {"params.currency": "three uppercase letters"}),
        ({"amount": 100, "currency": "US"}, {"params.currency": "three uppercase letters"}),
        ({"amount": 100, "currency": "XYZ"}, {"params.currency": "not a known"}),
        ({"amount": 100, "currency": 840}, {"params.currency": "must be a string"}),
        ({"currency": "USD"}, {"params.amount": "required"}),
        (
            {"amount": 1, "currency": "USD", "rate": "1"},
            {"params.rate": "unknown parameter"},
        ),
        ({}, {"params.amount": "required", "params.currency": "required"}),
    ],
)
def test_invalid_params_list_every_violation(
    params: dict[str, object], violations: dict[str, str]
) -> None:
    registry = PredicateRegistry.default()
    with pytest.raises(DomainError) as caught:
        registry.validate_params("covers_amount", params)
    error = caught.value
    assert error.reason is Reason.INVALID_PREDICATE_PARAMS
    assert error.status_name == "INVALID_ARGUMENT"
    found = {v.field: v.description for v in error.violations}
    assert set(found) == set(violations)
    for field, fragment in violations.items():
        assert fragment in found[field]


def test_unknown_predicate_is_unknown_claim() -> None:
    with pytest.raises(DomainError) as caught:
        PredicateRegistry.default().get("is_rich")
    assert caught.value.reason is Reason.UNKNOWN_CLAIM


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        PredicateRegistry.default().with_predicates(covers_amount)
    assert PredicateRegistry(BUILTIN_PREDICATES).names == {
        "covers_amount",
        "unencumbered",
        "owned_by_subject",
        "in_good_standing",
    }


@pytest.mark.parametrize(
    ("amount", "currency", "consumed", "covered", "cost"),
    [
        (5_000_000, "USD", 0, True, 35_617_000),  # 50,000 USD = 356,170 CNY <= 360,000
        (5_000_000, "USD", 383_000, True, 35_617_000),  # exactly the remainder
        (5_000_000, "USD", 383_001, False, None),  # one fen short
        (36_000_000, "CNY", 0, True, 36_000_000),
        (36_000_001, "CNY", 0, False, None),
        (1, "CNY", 40_000_000, False, None),  # consumed beyond income never goes negative
    ],
)
def test_covers_amount(
    catalog: Catalog,
    amount: int,
    currency: str,
    consumed: int,
    covered: bool,
    cost: int | None,
) -> None:
    params = {"amount": amount, "currency": currency}
    result = catalog.evaluate("income", "covers_amount", INCOME, params, ctx(consumed=consumed))
    assert result.value is covered
    expected = None if cost is None else Consumption(ConsumptionKind.AMOUNT, cost, "CNY")
    assert result.consumption == expected


def test_covers_amount_names_the_rate(catalog: Catalog) -> None:
    params = {"amount": 100, "currency": "USD"}
    result = catalog.evaluate("income", "covers_amount", INCOME, params, ctx())
    assert result.detail == {
        "fx_rate": "USD/CNY 7.1234 @ safe-2025-06-30",
        "fx_table": "safe-2025-06-30",
    }
    same = catalog.evaluate("income", "covers_amount", INCOME, {**params, "currency": "CNY"}, ctx())
    assert same.detail == {}


@pytest.mark.parametrize(
    "context",
    [ctx(fx_rates=None), ctx(fx_rates=FxRateTable("t", {"EUR": "7.8"}))],
)
def test_covers_amount_without_a_rate(catalog: Catalog, context: PredicateContext) -> None:
    with pytest.raises(DomainError) as caught:
        catalog.evaluate(
            "income", "covers_amount", INCOME, {"amount": 1, "currency": "USD"}, context
        )
    assert caught.value.reason is Reason.FX_RATE_UNAVAILABLE


def test_covers_amount_refuses_a_table_in_another_base() -> None:
    usd_based = FxRateTable("t", {"CNY": "0.14"}, base="USD")
    with pytest.raises(DomainError) as caught:
        evaluate("covers_amount", INCOME, {"amount": 1, "currency": "EUR"}, ctx(fx_rates=usd_based))
    assert caught.value.reason is Reason.FX_RATE_UNAVAILABLE


def test_bad_params_are_refused_before_the_record_is_read(catalog: Catalog) -> None:
    with pytest.raises(DomainError) as caught:
        catalog.evaluate("income", "covers_amount", {}, {"amount": -5, "currency": "USD"}, ctx())
    assert caught.value.reason is Reason.INVALID_PREDICATE_PARAMS


@pytest.mark.parametrize(
    ("domain", "status", "pledged", "free"),
    [
        ("warehouse_receipt", "ACTIVE", False, True),
        ("warehouse_receipt", "ACTIVE", True, False),
        ("warehouse_receipt", "PLEDGED", False, True),  # a stale mirror: the ledger decides
        ("warehouse_receipt", "PLEDGED", True, False),
        ("warehouse_receipt", "RELEASED", False, True),
        ("warehouse_receipt", "RELEASED", True, False),
        ("warehouse_receipt", "CANCELLED", False, False),
        ("warehouse_receipt", "VALID", False, False),
        ("patent", "VALID", False, True),
        ("patent", "VALID", True, False),
        ("patent", "LAPSED", False, False),
        ("patent", "ACTIVE", False, False),
    ],
)
def test_unencumbered_uses_the_domain_options(
    catalog: Catalog, domain: str, status: str, pledged: bool, free: bool
) -> None:
    result = catalog.evaluate(domain, "unencumbered", {"status": status}, {}, ctx(pledged=pledged))
    assert result.value is free
    assert result.consumption == (Consumption(ConsumptionKind.PLEDGE) if free else None)
    stale = status == "PLEDGED" and not pledged
    basis = "pledge_ledger_over_provider_status" if stale else "pledge_ledger"
    assert result.detail == {"encumbrance_basis": basis}


@pytest.mark.parametrize(("owner", "expected"), [("owner-a", True), ("owner-b", False)])
def test_owned_by_subject(catalog: Catalog, owner: str, expected: bool) -> None:
    result = catalog.evaluate("patent", "owned_by_subject", {"owner": owner}, {}, ctx())
    assert result.value is expected


CLOSED = {"status": "CLOSURE", "closure_start": "2024-07-01", "closure_end": "2025-06-30"}


@pytest.mark.parametrize(
    ("fields", "now", "expected"),
    [
        ({"status": "ACTIVE"}, NOW, True),
        ({"status": "DEREGISTERED"}, NOW, False),
        ({"status": "CLOSURE"}, NOW, False),
        (CLOSED, NOW, True),
        # 15:59 UTC on 30 June is 23:59 in China: still the last day of the closure window.
        (CLOSED, datetime(2025, 6, 30, 15, 59, tzinfo=UTC), True),
        # 16:00 UTC on 30 June is already 1 July in China: the closure has lapsed.
        (CLOSED, datetime(2025, 6, 30, 16, 0, tzinfo=UTC), False),
        (CLOSED, datetime(2024, 6, 30, 15, 59, tzinfo=UTC), False),
        (CLOSED, datetime(2024, 6, 30, 16, 0, tzinfo=UTC), True),
    ],
)
def test_in_good_standing(
    catalog: Catalog, fields: Mapping[str, object], now: datetime, expected: bool
) -> None:
    result = catalog.evaluate("business_registration", "in_good_standing", fields, {}, ctx(now=now))
    assert result.value is expected
    assert result.consumption is None


def test_catalog_evaluate_refuses_a_predicate_outside_the_domain(catalog: Catalog) -> None:
    with pytest.raises(DomainError) as caught:
        catalog.evaluate("income", "unencumbered", INCOME, {}, ctx())
    assert caught.value.reason is Reason.UNKNOWN_CLAIM


def test_context_requires_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        ctx(now=datetime(2025, 1, 1))
