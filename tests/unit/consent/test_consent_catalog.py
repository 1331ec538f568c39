"""The shipped catalog (names are public API) and load-time validation of catalog files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.consent.catalog import Catalog, CatalogError
from attestgate.consent.fields import FieldType, Sensitivity
from attestgate.consent.predicates import (
    ConsumptionKind,
    PredicateContext,
    PredicateRegistry,
    PredicateResult,
    predicate,
)
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.protocol.sdjwt_format import REGISTERED_CLAIM_NAMES

EXPECTED_FIELDS = {
    "income": [
        "tax_year",
        "gross_income",
        "after_tax_income",
        "tax_paid",
        "employer_name",
        "taxpayer_id",
    ],
    "warehouse_receipt": [
        "receipt_id",
        "commodity",
        "quantity",
        "unit",
        "warehouse",
        "status",
        "holder",
    ],
    "patent": ["patent_no", "title", "status", "owner", "expiry_date"],
    "business_registration": [
        "uscc",
        "name",
        "status",
        "closure_start",
        "closure_end",
        "legal_rep_id",
    ],
}

EXPECTED_PURPOSES = {
    ("income", "fx_purchase"): ({"tax_year", "covers_amount"}, ConsumptionKind.AMOUNT),
    ("warehouse_receipt", "pledge_financing"): (
        {"receipt_id", "commodity", "quantity", "unit", "warehouse", "unencumbered"},
        ConsumptionKind.PLEDGE,
    ),
    ("patent", "ip_pledge_loan"): (
        {"patent_no", "title", "patent_status", "expiry_date", "owned_by_subject", "unencumbered"},
        ConsumptionKind.PLEDGE,
    ),
    ("business_registration", "counterparty_check"): (
        {"name", "registration_status", "closure_end", "in_good_standing"},
        ConsumptionKind.NONE,
    ),
}


def test_default_catalog_domains_and_fields(catalog: Catalog) -> None:
    assert {name: list(d.fields) for name, d in catalog.domains.items()} == EXPECTED_FIELDS


@pytest.mark.parametrize(("domain", "purpose"), list(EXPECTED_PURPOSES))
def test_default_catalog_purposes(catalog: Catalog, domain: str, purpose: str) -> None:
    allowed, consumption = EXPECTED_PURPOSES[domain, purpose]
    spec = catalog.purpose(domain, purpose)
    assert spec.allowed == allowed
    assert spec.consumption is consumption
    assert list(catalog.domain(domain).purposes) == [purpose]


def test_fx_purchase_limits(catalog: Catalog) -> None:
    spec = catalog.purpose("income", "fx_purchase")
    assert (spec.max_uses, spec.max_validity) == (1, timedelta(days=30))
    income = catalog.domain("income")
    assert income.provider_role == "tax_bureau"
    assert income.fields["gross_income"].type is FieldType.AMOUNT
    assert income.fields["gross_income"].currency == "CNY"


@pytest.mark.parametrize(
    ("domain", "field"), [("income", "taxpayer_id"), ("business_registration", "legal_rep_id")]
)
def test_never_disclosed_fields(catalog: Catalog, domain: str, field: str) -> None:
    spec = catalog.domain(domain)
    assert spec.fields[field].sensitivity is Sensitivity.NEVER_DISCLOSE
    assert spec.never_disclosed(field)
    assert all(field not in p.allowed for p in spec.purposes.values())


def test_enum_values(catalog: Catalog) -> None:
    values = {
        d: catalog.domain(d).fields["status"].values for d in EXPECTED_FIELDS if d != "income"
    }
    assert values == {
        "warehouse_receipt": ("ACTIVE", "PLEDGED", "RELEASED", "CANCELLED"),
        "patent": ("VALID", "LAPSED", "INVALIDATED"),
        "business_registration": ("ACTIVE", "CLOSURE", "DEREGISTERED"),
    }


def test_lookups_refuse_unknown_names(catalog: Catalog) -> None:
    with pytest.raises(DomainError) as caught:
        catalog.domain("salary")
    assert caught.value.reason is Reason.UNKNOWN_DOMAIN
    assert [v.field for v in caught.value.violations] == ["domain"]
    with pytest.raises(DomainError) as caught:
        catalog.purpose("income", "mortgage")
    assert caught.value.reason is Reason.UNKNOWN_PURPOSE


VALID = """
domain = "vehicle"
provider_role = "traffic_police"

[fields.plate]
type = "string"
sensitivity = "low"
max_length = 10

[fields.vin]
type = "string"
sensitivity = "never_disclose"

[fields.status]
claim = "vehicle_status"
type = "enum"
values = ["OK", "STOLEN"]
sensitivity = "low"

[fields.registered_on]
type = "date"
sensitivity = "low"

[fields.valid_to]
type = "date"
sensitivity = "low"

[fields.owner]
type = "string"
sensitivity = "medium"

[predicates.owned_by_subject]

[purposes.car_loan]
claims = ["plate", "vehicle_status"]
predicates = []
max_uses = 2
max_validity_days = 10
default_validity_days = 5
data_life_days = 1
"""


def write(tmp_path: Path, text: str, name: str = "vehicle.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_new_domain_needs_only_a_data_file(tmp_path: Path) -> None:
    text = VALID.replace("[predicates.owned_by_subject]\n", "")
    catalog = Catalog.from_dir(write(tmp_path, text))
    purpose = catalog.purpose("vehicle", "car_loan")
    assert purpose.allowed == {"plate", "vehicle_status"}
    assert purpose.data_life == timedelta(days=1)
    assert purpose.consumption is ConsumptionKind.NONE


def test_default_catalog_loads_from_a_directory_copy(tmp_path: Path, catalog: Catalog) -> None:
    source = Path(__file__).parents[3] / "consent" / "catalog"
    for file in source.glob("*.toml"):
        write(tmp_path, file.read_text(encoding="utf-8"), file.name)
    copy = Catalog.from_dir(tmp_path)
    assert copy.domains == catalog.domains


RULE_PREFIX, RULE_SUFFIX = "[[rules]]\n", "\n\n[purposes.car_loan]"
DUPLICATE_FIELD = '[fields.owned_by_subject]\ntype = "bool"\nsensitivity = "low"\n\n[fields.plate]'

# (change to VALID: (old, new), expected key, expected message fragment)
BROKEN = [
    (('type = "date"', 'type = "datetime"'), "fields.registered_on.type", "unknown field type"),
    (
        ('sensitivity = "low"\nmax_length = 10', 'sensitivity = "secret"'),
        "fields.plate.sensitivity",
        "sens",
    ),
    (
        ("[predicates.owned_by_subject]", "[predicates.is_stolen]"),
        "predicates.is_stolen",
        "not reg",
    ),
    (
        ('claims = ["plate", "vehicle_status"]', 'claims = ["plate", "colour"]'),
        "purposes.car_loan.claims",
        "unknown claim",
    ),
    (
        ('claims = ["plate", "vehicle_status"]', 'claims = ["plate", "plate"]'),
        "purposes.car_loan.claims",
        "duplicate",
    ),
    (
        ('claims = ["plate", "vehicle_status"]', 'claims = ["vin"]'),
        "purposes.car_loan.claims",
        "never-disclose",
    ),
    (
        ("predicates = []", 'predicates = ["unencumbered"]'),
        "purposes.car_loan.predicates",
        "not in the domain",
    ),
    (("max_uses = 2", "max_uses = 0"), "purposes.car_loan.max_uses", "at least 1"),
    (("max_uses = 2", 'max_uses = "2"'), "purposes.car_loan.max_uses", "integer"),
    (
        ("default_validity_days = 5", "default_validity_days = 11"),
        "purposes.car_loan.default_validity_days",
        "exceeds",
    ),
    (
        ("data_life_days = 1", 'data_life_days = 1\nconsumption = "burn"'),
        "purposes.car_loan.consumption",
        "unknown consumption",
    ),
    (
        ("data_life_days = 1", 'data_life_days = 1\nconsumption = "amount"'),
        "purposes.car_loan.consumption",
        "amount predicate",
    ),
    (
        ("data_life_days = 1", "data_life_days = 1\nmax_use = 3"),
        "purposes.car_loan.max_use",
        "unknown key",
    ),
    (('provider_role = "traffic_police"', 'provider = "x"'), "provider", "unknown key"),
    (('values = ["OK", "STOLEN"]', "values = []"), "fields.status.values", "enum"),
    (("max_length = 10", 'max_length = 10\ncurrency = "CNY"'), "fields.plate.currency", "amount"),
    (('domain = "vehicle"', 'domain = "Vehicle"'), "domain", "must match"),
    (
        ('provider_role = "traffic_police"', 'provider_role = "traffic police"'),
        "provider_role",
        "must match",
    ),
    (
        ("[predicates.owned_by_subject]", "[predicates.in_good_standing]"),
        "predicates.in_good_standing",
        "closure_start",
    ),
    (
        (
            "[predicates.owned_by_subject]",
            "[predicates.owned_by_subject]\noptions = { colour = 1 }",
        ),
        "predicates.owned_by_subject.options.colour",
        "unknown option",
    ),
    (
        (
            "[predicates.owned_by_subject]",
            "[predicates.owned_by_subject]\noptions = { owner_field = 1 }",
        ),
        "predicates.owned_by_subject.options.owner_field",
        "must be str",
    ),
    (("[fields.plate]", DUPLICATE_FIELD), "predicates.owned_by_subject", "duplicate name"),
    (
        (
            "[purposes.car_loan]",
            RULE_PREFIX
            + 'kind = "date_span"\nstart = "plate"\nend = "valid_to"\nmax_years = 1'
            + RULE_SUFFIX,
        ),
        "rules[0]",
        "not a date field",
    ),
    (
        (
            "[purposes.car_loan]",
            RULE_PREFIX
            + 'kind = "required_when"\nfield = "status"\nequals = "GONE"\nrequire = []'
            + RULE_SUFFIX,
        ),
        "rules[0]",
        "enum field",
    ),
    (
        ("[purposes.car_loan]", RULE_PREFIX + 'kind = "sometimes"' + RULE_SUFFIX),
        "rules[0].kind",
        "unknown rule kind",
    ),
]


@pytest.mark.parametrize(("change", "key", "fragment"), BROKEN)
def test_broken_catalog_names_file_domain_and_key(
    tmp_path: Path, change: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = change
    assert old in VALID
    with pytest.raises(CatalogError) as caught:
        Catalog.from_dir(write(tmp_path, VALID.replace(old, new, 1)))
    error = caught.value
    assert error.file == "vehicle.toml"
    assert error.key == key
    assert fragment in str(error)
    assert "vehicle.toml" in str(error)
    if key != "domain":
        assert error.domain == "vehicle"


def test_duplicate_domain_across_files(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.toml")
    write(tmp_path, VALID, "b.toml")
    with pytest.raises(CatalogError, match=r"b\.toml.*duplicate domain.*a\.toml"):
        Catalog.from_dir(tmp_path)


@pytest.mark.parametrize("data", [b"domain = ", b"\xff\xfe"])
def test_unparseable_file(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "bad.toml").write_bytes(data)
    with pytest.raises(CatalogError, match=r"bad\.toml: not valid UTF-8 TOML"):
        Catalog.from_dir(tmp_path)


def test_a_registered_custom_predicate_can_be_bound(tmp_path: Path) -> None:
    @predicate("not_stolen", requires_fields=("status",))
    def not_stolen(
        fields: object, params: object, ctx: PredicateContext, options: object
    ) -> PredicateResult:
        """The vehicle is not reported stolen."""
        assert isinstance(fields, dict)
        return PredicateResult(fields["status"] != "STOLEN")

    text = VALID.replace("predicates = []", 'predicates = ["not_stolen"]')
    text = text.replace("[predicates.owned_by_subject]", "[predicates.not_stolen]")
    with pytest.raises(CatalogError, match="not registered"):
        Catalog.from_dir(write(tmp_path, text))
    registry = PredicateRegistry.default().with_predicates(not_stolen)
    catalog = Catalog.from_dir(tmp_path, predicates=registry)
    assert "not_stolen" in catalog.purpose("vehicle", "car_loan").allowed
    assert not_stolen.description == "The vehicle is not reported stolen."


BUDGETED = VALID.replace("predicates = []", 'predicates = ["owned_by_subject"]')


@pytest.mark.parametrize(
    ("budget", "count", "period"),
    [
        ('{ count = 4, period = "30d" }', 4, timedelta(days=30)),
        ('{ count = 1, period = "12h" }', 1, timedelta(hours=12)),
    ],
)
def test_evaluation_budget_is_parsed(
    tmp_path: Path, budget: str, count: int, period: timedelta
) -> None:
    text = BUDGETED.replace(
        "data_life_days = 1", f"data_life_days = 1\nevaluation_budget = {budget}"
    )
    spec = Catalog.from_dir(write(tmp_path, text)).purpose("vehicle", "car_loan").evaluation_budget
    assert spec is not None
    assert (spec.count, spec.period) == (count, period)
    assert (
        Catalog.from_dir(write(tmp_path, BUDGETED)).purpose("vehicle", "car_loan").evaluation_budget
        is None
    )


@pytest.mark.parametrize(
    ("budget", "key", "fragment"),
    [
        ('{ count = 0, period = "30d" }', "evaluation_budget.count", "at least 1"),
        ('{ count = 4, period = "30" }', "evaluation_budget.period", "days or hours"),
        ('{ count = 4, period = "0d" }', "evaluation_budget.period", "days or hours"),
        ("{ count = 4 }", "evaluation_budget.period", "required string"),
        ('{ count = 4, period = "1d", per = "bank" }', "evaluation_budget.per", "unknown key"),
        ("4", "evaluation_budget", "must be a table"),
    ],
)
def test_broken_evaluation_budget(tmp_path: Path, budget: str, key: str, fragment: str) -> None:
    text = BUDGETED.replace(
        "data_life_days = 1", f"data_life_days = 1\nevaluation_budget = {budget}"
    )
    with pytest.raises(CatalogError, match=fragment) as caught:
        Catalog.from_dir(write(tmp_path, text))
    assert caught.value.key == f"purposes.car_loan.{key}"


def test_a_parameterized_predicate_needs_a_budget(tmp_path: Path, catalog: Catalog) -> None:
    source = Path(__file__).parents[3] / "consent" / "catalog" / "income.toml"
    text = source.read_text(encoding="utf-8")
    budget = 'evaluation_budget = { count = 4, period = "30d" }'
    assert budget in text
    with pytest.raises(CatalogError, match=r"covers_amount.*parameters") as caught:
        Catalog.from_dir(write(tmp_path, text.replace(budget, ""), "income.toml"))
    assert caught.value.key == "purposes.fx_purchase.evaluation_budget"
    spec = catalog.purpose("income", "fx_purchase").evaluation_budget
    assert spec is not None
    assert spec.describe() == "4 per 30d"


def test_record_ids_are_pseudonymous_unless_the_domain_marks_them_public(
    tmp_path: Path, catalog: Catalog
) -> None:
    public = {name for name, spec in catalog.domains.items() if spec.record_id_public}
    assert public == {"warehouse_receipt", "patent", "business_registration"}  # not income
    assert not Catalog.from_dir(write(tmp_path, VALID)).domain("vehicle").record_id_public
    marked = VALID.replace(
        'provider_role = "traffic_police"',
        'provider_role = "traffic_police"\nrecord_id_public = true',
    )
    assert Catalog.from_dir(write(tmp_path, marked)).domain("vehicle").record_id_public
    wrong = marked.replace("record_id_public = true", 'record_id_public = "yes"')
    with pytest.raises(CatalogError, match="record_id_public: must be a boolean"):
        Catalog.from_dir(write(tmp_path, wrong))


# -- claim names (issue 17 item 1) ------------------------------------------------------------


def test_a_field_is_disclosed_under_its_claim_name(tmp_path: Path) -> None:
    catalog = Catalog.from_dir(write(tmp_path, VALID))
    spec = catalog.domain("vehicle")
    assert spec.field_of("vehicle_status") == "status"
    assert spec.field_of("plate") == "plate"
    assert spec.field_of("status") is None
    assert spec.claim_name("status") == "vehicle_status"
    assert spec.is_claim("vehicle_status")
    assert not spec.is_claim("status")
    assert spec.current_claim("status") == "vehicle_status"  # the former name
    assert spec.current_claim("plate") == "plate"


@pytest.mark.parametrize(
    "reserved", ["status", "iss", "nbf", "exp", "cnf", "vct", "sub", "iat", "jti", "aud"]
)
def test_a_purpose_disclosing_a_registered_claim_name_is_refused(
    tmp_path: Path, reserved: str
) -> None:
    text = (
        VALID.replace('claim = "vehicle_status"\n', "")
        .replace("[fields.status]", f"[fields.{reserved}]")
        .replace('claims = ["plate", "vehicle_status"]', f'claims = ["plate", "{reserved}"]')
    )
    with pytest.raises(CatalogError) as caught:
        Catalog.from_dir(write(tmp_path, text))
    assert caught.value.key == "purposes.car_loan.claims"
    message = str(caught.value)
    assert f"purpose 'car_loan' would disclose {reserved!r}" in message
    assert f'[fields.{reserved}] claim = "..."' in message


def test_a_registered_name_is_refused_as_a_claim_name_too(tmp_path: Path) -> None:
    text = VALID.replace('claim = "vehicle_status"', 'claim = "exp"').replace(
        '"vehicle_status"]', '"exp"]'
    )
    with pytest.raises(CatalogError, match="would disclose 'exp'"):
        Catalog.from_dir(write(tmp_path, text))


def test_a_field_kept_out_of_every_purpose_may_keep_a_registered_name(tmp_path: Path) -> None:
    text = VALID.replace('claim = "vehicle_status"\n', "").replace(
        'claims = ["plate", "vehicle_status"]', 'claims = ["plate"]'
    )
    assert Catalog.from_dir(write(tmp_path, text)).domain("vehicle").is_claim("status")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (('claims = ["plate", "vehicle_status"]', 'claims = ["plate", "status"]'), "list that"),
        (('claim = "vehicle_status"', 'claim = "plate"'), "another field"),
        (('claim = "vehicle_status"', 'claim = "Vehicle-Status"'), "must match"),
    ],
)
def test_bad_claim_names_are_refused(
    tmp_path: Path, change: tuple[str, str], fragment: str
) -> None:
    with pytest.raises(CatalogError, match=fragment):
        Catalog.from_dir(write(tmp_path, VALID.replace(*change)))


def test_the_shipped_catalog_discloses_no_registered_name(catalog: Catalog) -> None:
    for domain in catalog.domains.values():
        for purpose in domain.purposes.values():
            assert not purpose.allowed & REGISTERED_CLAIM_NAMES, (domain.name, purpose.name)
    assert catalog.domain("patent").claim_name("status") == "patent_status"
    assert catalog.domain("business_registration").claim_name("status") == "registration_status"
