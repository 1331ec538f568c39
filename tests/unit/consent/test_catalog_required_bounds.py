"""Issue 20 item 1: the catalog's ``required_bounds`` (loader validation, clear errors) and the
bounds rules of ``consent.bounds`` (validation, narrowing, the issue check)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from attestgate.consent import bounds
from attestgate.consent.catalog import Catalog, CatalogError
from attestgate.consent.currencies import format_amount
from attestgate.protocol.reasons import DomainError, Reason

SHIPPED = Path(bounds.__file__).parent / "catalog"
MARKER = "[purposes.fx_purchase]\n"


SHIPPED_RULE = 'required_bounds = ["amount", "currency"]\n'


def _catalog(tmp_path: Path, line: str) -> Catalog:
    """The shipped catalog with fx_purchase's ``required_bounds`` line replaced by ``line``."""
    for source in SHIPPED.glob("*.toml"):
        shutil.copy(source, tmp_path / source.name)
    income = tmp_path / "income.toml"
    text = income.read_text(encoding="utf-8")
    assert SHIPPED_RULE in text
    text = text.replace(SHIPPED_RULE, "").replace(MARKER, MARKER + line + "\n")
    income.write_text(text, encoding="utf-8")
    return Catalog.from_dir(tmp_path)


def test_required_bounds_load(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, 'required_bounds = ["currency"]')
    assert catalog.purpose("income", "fx_purchase").required_bounds == ("currency",)
    assert _catalog(tmp_path, "").purpose("income", "fx_purchase").required_bounds == ()
    shipped = Catalog.load_default().purpose("income", "fx_purchase").required_bounds
    assert shipped == ("amount", "currency")  # the owner always sees the amount


def test_required_bounds_apply_to_requests_that_evaluate_the_predicate() -> None:
    catalog = Catalog.load_default()
    usd: dict[str, int | str | bool] = {"amount": 5_000_000, "currency": "USD"}
    fx = ("income", "fx_purchase")
    assert bounds.validate_bounds(catalog, *fx, usd, asked=["tax_year", "covers_amount"]) == usd
    # Only the tax year: no predicate takes an amount, so there is nothing to bound.
    assert bounds.validate_bounds(catalog, *fx, {}, asked=["tax_year"]) == {}
    with pytest.raises(DomainError) as caught:
        bounds.validate_bounds(catalog, *fx, {}, asked=["tax_year", "covers_amount"])
    assert [v.field for v in caught.value.violations] == ["bounds.amount", "bounds.currency"]
    assert "requires bounds on amount, currency" in str(caught.value)
    # Approving (no claims asked) never requires: requests from before the rule stay approvable.
    assert bounds.validate_bounds(catalog, *fx, {}) == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('required_bounds = ["amout"]', "'amout' is not a parameter of the purpose's predicates"),
        ('required_bounds = ["amount"]', "'amount' is an amount: list 'currency' too"),
        ('required_bounds = "amount"', "must be a list of strings"),
        ('required_bounds = ["currency", "currency"]', "duplicate name 'currency'"),
    ],
)
def test_required_bounds_errors_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        _catalog(tmp_path, line)
    assert "purposes.fx_purchase.required_bounds" in str(caught.value)
    assert message in str(caught.value)


def test_bounds_rules() -> None:
    catalog = Catalog.load_default()
    asked: dict[str, int | str | bool] = {"amount": 5_000_000, "currency": "USD"}
    assert bounds.validate_bounds(catalog, "income", "fx_purchase", asked) == asked
    with pytest.raises(DomainError) as unknown:
        bounds.validate_bounds(catalog, "income", "fx_purchase", {"rate": 1})
    assert unknown.value.violations[0].field == "bounds.rate"
    with pytest.raises(DomainError) as alone:
        bounds.validate_bounds(catalog, "income", "fx_purchase", {"amount": 1})
    assert [v.field for v in alone.value.violations] == ["bounds.currency"]
    narrowed = bounds.narrow_bounds(catalog, "income", "fx_purchase", asked, {"amount": 100})
    assert narrowed == {"amount": 100, "currency": "USD"}
    with pytest.raises(DomainError) as wider:
        bounds.narrow_bounds(catalog, "income", "fx_purchase", asked, {"amount": 5_000_001})
    assert wider.value.reason is Reason.INVALID_ARGUMENT

    def check(params: Mapping[str, object], evaluated: list[str]) -> None:
        bounds.check_params(
            catalog, "income", "fx_purchase", asked, params=params, evaluated=evaluated
        )

    check(params=asked, evaluated=["covers_amount"])
    with pytest.raises(DomainError) as over:
        check(params={"amount": 5_000_001, "currency": "USD"}, evaluated=["covers_amount"])
    assert over.value.reason is Reason.PARAMS_EXCEED_CONSENT
    assert "at most 5000000 (50,000.00 USD)" in str(over.value)
    with pytest.raises(DomainError) as missing:
        check(params={}, evaluated=["covers_amount"])
    assert missing.value.reason is Reason.PARAMS_EXCEED_CONSENT
    check(params={}, evaluated=[])
    assert format_amount(5_000_000, "USD") == "50,000.00 USD"
    assert format_amount(1234, "JPY") == "1,234 JPY"
