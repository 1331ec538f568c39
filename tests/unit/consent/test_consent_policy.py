"""Minimum sufficiency per domain: disclosure, request limits, narrowing, record validation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.consent.policy import (
    Withheld,
    WithheldReason,
    decide,
    narrow_claims,
    validate_record,
    validate_request,
)
from attestgate.protocol.reasons import DomainError, Reason

W = WithheldReason

# domain, purpose, requested, consented, disclosed, withheld
DECISIONS = [
    (
        "income",
        "fx_purchase",
        ["covers_amount", "tax_year", "taxpayer_id", "gross_income", "bonus"],
        ["covers_amount", "tax_year"],
        ("covers_amount", "tax_year"),
        (
            Withheld("taxpayer_id", W.NEVER_DISCLOSED),
            Withheld("gross_income", W.NOT_ALLOWED_FOR_PURPOSE),
            Withheld("bonus", W.UNKNOWN_CLAIM),
        ),
    ),
    (
        "income",
        "fx_purchase",
        ["covers_amount", "tax_year"],
        ["covers_amount"],
        ("covers_amount",),
        (Withheld("tax_year", W.NOT_CONSENTED),),
    ),
    (
        "warehouse_receipt",
        "pledge_financing",
        ["unencumbered", "quantity", "holder", "status"],
        ["unencumbered", "quantity", "holder", "status"],
        ("unencumbered", "quantity"),
        (
            Withheld("holder", W.NOT_ALLOWED_FOR_PURPOSE),
            Withheld("status", W.NOT_ALLOWED_FOR_PURPOSE),
        ),
    ),
    (
        "patent",
        "ip_pledge_loan",
        ["owned_by_subject", "owner", "unencumbered", "owned_by_subject"],
        ["owned_by_subject"],
        ("owned_by_subject",),
        (
            Withheld("owner", W.NOT_ALLOWED_FOR_PURPOSE),
            Withheld("unencumbered", W.NOT_CONSENTED),
        ),
    ),
    (
        "business_registration",
        "counterparty_check",
        ["in_good_standing", "legal_rep_id", "closure_end", "uscc"],
        ["in_good_standing", "closure_end", "name"],
        ("in_good_standing", "closure_end"),
        (
            Withheld("legal_rep_id", W.NEVER_DISCLOSED),
            Withheld("uscc", W.NOT_ALLOWED_FOR_PURPOSE),
        ),
    ),
]


@pytest.mark.parametrize(
    ("domain", "purpose", "requested", "consented", "disclosed", "withheld"), DECISIONS
)
def test_decide(
    catalog: Catalog,
    domain: str,
    purpose: str,
    requested: list[str],
    consented: list[str],
    disclosed: tuple[str, ...],
    withheld: tuple[Withheld, ...],
) -> None:
    result = decide(
        catalog, domain=domain, purpose=purpose, requested=requested, consented=consented
    )
    assert result.disclosed == disclosed
    assert result.withheld == withheld


def test_never_disclosed_even_if_consented(catalog: Catalog) -> None:
    with pytest.raises(DomainError) as caught:
        decide(
            catalog,
            domain="income",
            purpose="fx_purchase",
            requested=["taxpayer_id"],
            consented=["taxpayer_id"],
        )
    assert caught.value.reason is Reason.NOTHING_TO_DISCLOSE
    assert caught.value.status_name == "FAILED_PRECONDITION"
    assert caught.value.metadata == {"withheld": "taxpayer_id:NEVER_DISCLOSED"}


def test_nothing_requested_is_nothing_to_disclose(catalog: Catalog) -> None:
    with pytest.raises(DomainError) as caught:
        decide(
            catalog, domain="patent", purpose="ip_pledge_loan", requested=[], consented=["title"]
        )
    assert caught.value.reason is Reason.NOTHING_TO_DISCLOSE


@pytest.mark.parametrize(
    ("domain", "purpose", "claims", "valid_for", "max_uses", "expected_validity"),
    [
        ("income", "fx_purchase", ["covers_amount", "tax_year"], timedelta(days=30), 1, 30),
        ("income", "fx_purchase", ["covers_amount"], None, 1, 30),
        ("warehouse_receipt", "pledge_financing", ["unencumbered"], None, 1, 14),
        ("patent", "ip_pledge_loan", ["owned_by_subject", "title"], timedelta(days=60), 1, 60),
        ("business_registration", "counterparty_check", ["in_good_standing"], None, 10, 30),
    ],
)
def test_valid_requests(
    catalog: Catalog,
    domain: str,
    purpose: str,
    claims: list[str],
    valid_for: timedelta | None,
    max_uses: int,
    expected_validity: int,
) -> None:
    result = validate_request(
        catalog,
        domain=domain,
        purpose=purpose,
        claims=claims,
        valid_for=valid_for,
        max_uses=max_uses,
    )
    assert result.claims == tuple(claims)
    assert result.valid_for == timedelta(days=expected_validity)
    assert result.purpose.name == purpose


# changes to a valid fx_purchase request -> reason, {field: description fragment}
BAD_REQUESTS = [
    ({"domain": "salary"}, Reason.UNKNOWN_DOMAIN, {"domain": "unknown domain"}),
    ({"purpose": "mortgage"}, Reason.UNKNOWN_PURPOSE, {"purpose": "unknown purpose"}),
    ({"claims": ["bonus"]}, Reason.UNKNOWN_CLAIM, {"claims[0]": "unknown claim"}),
    (
        {"claims": ["tax_year", "gross_income"]},
        Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE,
        {"claims[1]": "not for purpose"},
    ),
    (
        {"claims": ["taxpayer_id"]},
        Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE,
        {"claims[0]": "never disclosed"},
    ),
    ({"claims": ["tax_year", "tax_year"]}, Reason.INVALID_ARGUMENT, {"claims[1]": "duplicate"}),
    ({"claims": []}, Reason.INVALID_ARGUMENT, {"claims": "at least one"}),
    (
        {"valid_for": timedelta(days=30, seconds=1)},
        Reason.VALIDITY_EXCEEDS_PURPOSE,
        {"valid_for": "at most 30 days"},
    ),
    ({"valid_for": timedelta(0)}, Reason.INVALID_ARGUMENT, {"valid_for": "positive"}),
    ({"max_uses": 2}, Reason.USES_EXCEED_PURPOSE, {"max_uses": "at most 1"}),
    ({"max_uses": 0}, Reason.INVALID_ARGUMENT, {"max_uses": "at least 1"}),
    (
        {"claims": ["bonus", "gross_income"], "valid_for": timedelta(days=31), "max_uses": 5},
        Reason.UNKNOWN_CLAIM,
        {
            "claims[0]": "unknown",
            "claims[1]": "purpose",
            "valid_for": "at most",
            "max_uses": "at most",
        },
    ),
]


@pytest.mark.parametrize(("changes", "reason", "violations"), BAD_REQUESTS)
def test_bad_requests(
    catalog: Catalog, changes: dict[str, object], reason: Reason, violations: dict[str, str]
) -> None:
    request: dict[str, object] = {
        "domain": "income",
        "purpose": "fx_purchase",
        "claims": ["covers_amount"],
        "valid_for": timedelta(days=7),
        "max_uses": 1,
    }
    request.update(changes)
    with pytest.raises(DomainError) as caught:
        validate_request(catalog, **request)  # type: ignore[arg-type]
    error = caught.value
    assert error.reason is reason
    assert error.status_name == "INVALID_ARGUMENT"
    found = {v.field: v.description for v in error.violations}
    assert set(found) == set(violations)
    for field, fragment in violations.items():
        assert fragment in found[field]


def test_narrowing() -> None:
    requested = ("tax_year", "covers_amount")
    assert narrow_claims(requested, None) == requested
    assert narrow_claims(requested, ["covers_amount"]) == ("covers_amount",)
    assert narrow_claims(requested, ["covers_amount", "covers_amount"]) == ("covers_amount",)
    with pytest.raises(DomainError) as caught:
        narrow_claims(requested, ["covers_amount", "gross_income"])
    assert caught.value.reason is Reason.INVALID_ARGUMENT
    assert [v.field for v in caught.value.violations] == ["claims[1]"]
    with pytest.raises(DomainError) as caught:
        narrow_claims(requested, [])
    assert [v.field for v in caught.value.violations] == ["claims"]


VALID_RECORDS: dict[str, dict[str, object]] = {
    "income": {
        "tax_year": 2025,
        "gross_income": 48_000_000,
        "after_tax_income": 36_000_000,
        "tax_paid": 12_000_000,
        "taxpayer_id": "91440300MA5XXXXX",
    },
    "warehouse_receipt": {
        "receipt_id": "WR-1",
        "commodity": "copper cathode",
        "quantity": 25,
        "unit": "t",
        "warehouse": "Qianhai bonded 3",
        "status": "ACTIVE",
        "holder": "holder-1",
    },
    "patent": {
        "patent_no": "ZL202310000000.1",
        "title": "A gateway",
        "status": "VALID",
        "owner": "owner-a",
        "expiry_date": "2043-01-01",
    },
    "business_registration": {
        "uscc": "91440300MA5FXXXXXX",
        "name": "Qianhai Widgets Ltd",
        "status": "CLOSURE",
        "closure_start": "2024-02-29",
        "closure_end": "2027-02-28",
        "legal_rep_id": "id-1",
    },
}


@pytest.mark.parametrize("domain", list(VALID_RECORDS))
def test_valid_records(catalog: Catalog, domain: str) -> None:
    assert validate_record(catalog, domain, VALID_RECORDS[domain]) == VALID_RECORDS[domain]


# domain, changes (None deletes), {field: fragment}
BAD_RECORDS = [
    ("income", {"tax_year": "2025"}, {"fields.tax_year": "integer"}),
    ("income", {"after_tax_income": -1}, {"fields.after_tax_income": "negative"}),
    ("income", {"tax_paid": 2**63}, {"fields.tax_paid": "range"}),
    ("income", {"tax_paid": True}, {"fields.tax_paid": "integer"}),
    ("income", {"taxpayer_id": "9" * 33}, {"fields.taxpayer_id": "longer than 32"}),
    ("income", {"employer_name": "a\x00b"}, {"fields.employer_name": "control"}),
    ("income", {"salary": 1}, {"fields.salary": "unknown field"}),
    (
        "income",
        {"tax_year": None, "tax_paid": None},
        {"fields.tax_year": "required", "fields.tax_paid": "required"},
    ),
    ("warehouse_receipt", {"status": "LOST"}, {"fields.status": "one of ACTIVE"}),
    ("warehouse_receipt", {"commodity": "c" * 101}, {"fields.commodity": "longer than 100"}),
    ("patent", {"expiry_date": "2043-13-01"}, {"fields.expiry_date": "ISO 8601"}),
    ("patent", {"expiry_date": "20430101"}, {"fields.expiry_date": "ISO 8601"}),
    (
        "business_registration",
        {"closure_end": "2027-03-01"},
        {"fields.closure_end": "at most 3 years"},
    ),
    (
        "business_registration",
        {"closure_end": "2024-02-28"},
        {"fields.closure_end": "must not precede"},
    ),
    (
        "business_registration",
        {"closure_start": None},
        {"fields.closure_start": "required when status is CLOSURE"},
    ),
]


@pytest.mark.parametrize(("domain", "changes", "violations"), BAD_RECORDS)
def test_bad_records(
    catalog: Catalog, domain: str, changes: dict[str, object], violations: dict[str, str]
) -> None:
    record = dict(VALID_RECORDS[domain])
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    with pytest.raises(DomainError) as caught:
        validate_record(catalog, domain, record)
    error = caught.value
    assert error.reason is Reason.RECORD_INVALID
    found = {v.field: v.description for v in error.violations}
    assert set(found) == set(violations)
    for field, fragment in violations.items():
        assert fragment in found[field]
    # Record values are personal data: no message may echo one.
    texts = [error.message, *found.values()]
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert not any(value in text for text in texts)


def test_record_dates_are_normalized(catalog: Catalog) -> None:
    record = dict(VALID_RECORDS["patent"], expiry_date=date(2043, 1, 1))
    assert validate_record(catalog, "patent", record)["expiry_date"] == "2043-01-01"


def test_active_business_needs_no_closure_dates(catalog: Catalog) -> None:
    record = {"uscc": "u", "name": "n", "status": "ACTIVE", "legal_rep_id": "l"}
    assert validate_record(catalog, "business_registration", record) == record


# -- claims renamed off registered names (issue 17 item 1) ------------------------------------


def test_consents_naming_a_former_claim_name_keep_their_meaning(catalog: Catalog) -> None:
    """A consent and a request stored before ``status`` became ``registration_status``."""
    disclosure = decide(
        catalog,
        domain="business_registration",
        purpose="counterparty_check",
        requested=["status", "in_good_standing"],
        consented=["name", "status", "in_good_standing"],
    )
    assert disclosure.disclosed == ("registration_status", "in_good_standing")
    assert disclosure.withheld == ()


def test_a_request_naming_a_former_claim_name_is_stored_under_the_new_one(
    catalog: Catalog,
) -> None:
    result = validate_request(
        catalog,
        domain="patent",
        purpose="ip_pledge_loan",
        claims=["patent_no", "status"],
        valid_for=None,
        max_uses=1,
    )
    assert result.claims == ("patent_no", "patent_status")


def test_a_request_stored_before_a_rename_narrows_by_either_name(catalog: Catalog) -> None:
    """A pending request from before ``status`` became ``registration_status``: the owner's
    portal and SDK show the new name, so approving by it (or by the old one) must narrow."""
    current = catalog.domain("business_registration").current_claim
    requested = ("name", "status", "in_good_standing")
    assert narrow_claims(requested, ["registration_status"], current) == ("registration_status",)
    assert narrow_claims(requested, ["status", "registration_status"], current) == (
        "registration_status",
    )
    with pytest.raises(DomainError) as caught:
        narrow_claims(requested, ["registration_status"])  # names compared as written
    assert [v.field for v in caught.value.violations] == ["claims[0]"]
