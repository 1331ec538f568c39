"""Issue 20 item 1 over gRPC against a real gateway, on SQLite and PostgreSQL: consented
parameter bounds. An issue outside the owner's bounds is refused (``PARAMS_EXCEED_CONSENT``, the
bound in the message, a field violation) and changes nothing; within them it works; the owner
narrows on approval and cannot widen; the signed artefact covers the bounds (a changed bound
breaks verification); consents without bounds keep issuing when the catalog later requires them,
while new requests without bounds are refused."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from attestgate.consent import artefact
from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.jose import Jwks, b64url_encode, json_object, parse_compact_jws
from attestgate.protocol.reasons import Reason
from attestgate.sdk import BankClient, errors
from attestgate.sdk.types import ClaimValue
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.portal_client import PortalSession

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server

OWNER = "alice"
BOUNDS: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}  # at most USD 50,000.00


def _upload(gateway: LiveGateway) -> None:
    provider = gateway.provider("tax-bureau")
    provider.put_record(
        domain="income", subject=OWNER, record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gateway = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        _upload(gateway)
        yield gateway
    finally:
        gateway.close()


def _request(bank: BankClient, bounds: Mapping[str, ClaimValue | Decimal] | None = None) -> str:
    made = bank.request_consent(
        owner=OWNER,
        domain="income",
        purpose="fx_purchase",
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
        bounds=bounds,
    )
    return made.id


@pytest.mark.timeout(30)
def test_issue_outside_the_bounds_is_refused_and_changes_nothing(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner(OWNER)
    request_id = _request(bank, {"amount": Decimal("50000.00"), "currency": "USD"})
    [pending] = owner.pending_requests()
    assert pending.bounds == BOUNDS
    assert pending.to_dict()["bounds"] == BOUNDS
    consent = owner.approve(request_id)
    assert consent.bounds == BOUNDS
    assert bank.get_consent(consent.id).bounds == BOUNDS

    regulator = gw.regulator()
    time.sleep(0.1)  # the approval's leaves are in a checkpoint (signed every 20 ms)
    log_size = regulator.checkpoint().size
    with pytest.raises(errors.PermissionDenied) as caught:
        bank.issue(consent.id, params={"amount": 5_000_001, "currency": "USD"})
    error = caught.value
    assert error.reason is Reason.PARAMS_EXCEED_CONSENT
    assert "at most 5000000 (50,000.00 USD)" in str(error)
    assert [v.field for v in error.violations] == ["params.amount"]
    assert error.metadata["bound"] == "5000000"
    with pytest.raises(errors.PermissionDenied) as other:
        bank.issue(consent.id, params={"amount": 100, "currency": "EUR"})
    assert other.value.reason is Reason.PARAMS_EXCEED_CONSENT
    assert "exactly 'USD'" in str(other.value)
    # No use spent, nothing issued, nothing written (not even an audit leaf).
    assert bank.get_consent(consent.id).uses == 0
    time.sleep(0.1)  # checkpoints are signed every 20 ms
    assert regulator.checkpoint().size == log_size

    within = bank.issue(consent.id, params=BOUNDS)
    assert within.claims["covers_amount"] is True
    assert bank.get_consent(consent.id).uses == 1


@pytest.mark.timeout(30)
def test_owner_narrows_on_approval_and_cannot_widen(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner(OWNER)
    widened = _request(bank, BOUNDS)
    with pytest.raises(errors.InvalidArgument) as caught:
        owner.approve(widened, bounds={"amount": 5_000_100})
    assert "above the requested bound (at most 5000000 (50,000.00 USD))" in str(caught.value)
    with pytest.raises(errors.InvalidArgument) as currency:
        owner.approve(widened, bounds={"currency": "EUR"})
    assert [v.field for v in currency.value.violations] == ["bounds.currency"]
    assert [r.id for r in owner.pending_requests()] == [widened]  # still pending

    consent = owner.approve(widened, bounds={"amount": Decimal("20000.00"), "currency": "USD"})
    assert consent.bounds == {"amount": 2_000_000, "currency": "USD"}
    with pytest.raises(errors.PermissionDenied) as refused:
        bank.issue(consent.id, params=BOUNDS)
    assert "at most 2000000 (20,000.00 USD)" in str(refused.value)
    assert bank.issue(consent.id, params={"amount": 2_000_000, "currency": "USD"}).jti


@pytest.mark.timeout(30)
def test_the_artefact_hash_covers_the_bounds(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner(OWNER)
    consent = owner.approve(_request(bank, BOUNDS))
    by_kid = dict(Jwks.from_dict(bank.issuer_keys()).keys)
    terms = artefact.verify_artefact(consent.artefact_jws, by_kid)
    assert terms["bounds"] == BOUNDS
    assert artefact.artefact_hash(consent.artefact_jws) == consent.artefact_hash
    attestation = bank.issue(consent.id, params=BOUNDS)
    bank.verify(attestation.token)
    issuer_jwt = json_object(
        parse_compact_jws(attestation.token.split("~")[0]).payload, max_depth=8
    )
    assert issuer_jwt["consent_hash"] == consent.artefact_hash

    # The same signature over terms with a raised bound: verification fails, the hash changes.
    head, _, signature = consent.artefact_jws.split(".")
    raised = {**terms, "bounds": {"amount": 9_000_000, "currency": "USD"}}
    forged = f"{head}.{b64url_encode(artefact.canonical_json(raised))}.{signature}"
    with pytest.raises(artefact.ArtefactError):
        artefact.verify_artefact(forged, by_kid)
    assert artefact.artefact_hash(forged) != consent.artefact_hash
    payload = json_object(parse_compact_jws(consent.artefact_jws).payload, max_depth=8)
    assert payload["bounds"] == BOUNDS


SHIPPED_RULE = 'required_bounds = ["amount", "currency"]\n'


def _catalog_before_the_rule(folder: Path) -> Catalog:
    """The shipped catalog without fx_purchase's rule (as it was before bounds were required)."""
    shipped = Path(artefact.__file__).parent / "catalog"
    for source in shipped.glob("*.toml"):
        shutil.copy(source, folder / source.name)
    income = folder / "income.toml"
    text = income.read_text(encoding="utf-8")
    assert SHIPPED_RULE in text
    income.write_text(text.replace(SHIPPED_RULE, ""), encoding="utf-8")
    catalog = Catalog.from_dir(folder)
    assert catalog.purpose("income", "fx_purchase").required_bounds == ()
    return catalog


@pytest.mark.timeout(30)
def test_consents_without_bounds_keep_issuing_when_the_catalog_requires_them(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "catalog").mkdir()
    earlier = _catalog_before_the_rule(tmp_path / "catalog")
    shipped = Catalog.load_default()
    assert shipped.purpose("income", "fx_purchase").required_bounds == ("amount", "currency")
    data_dir = tmp_path / "gw"
    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "load_default", classmethod(lambda cls: earlier))
        before = live.start_live(data_dir, clock)
        try:
            _upload(before)
            bank, owner = before.bank("bank-a"), before.owner(OWNER)
            old = owner.approve(_request(bank))
            pending = _request(bank)  # still pending when the rule arrives
            assert old.bounds == {}
            payload = json_object(parse_compact_jws(old.artefact_jws).payload, max_depth=8)
            assert "bounds" not in payload
        finally:
            before.close()

    after = live.start_live(data_dir, clock)  # the shipped catalog: bounds required
    try:
        bank, owner = after.bank("bank-a"), after.owner(OWNER)
        issued = bank.issue(old.id, params={"amount": 9_000_000, "currency": "USD"})
        assert issued.consent_id == old.id  # unbounded, as approved
        with pytest.raises(errors.InvalidArgument) as caught:
            _request(bank)
        assert "requires bounds on amount, currency" in str(caught.value)
        assert {v.field for v in caught.value.violations} == {"bounds.amount", "bounds.currency"}
        with pytest.raises(errors.InvalidArgument) as amount_only:
            _request(bank, {"amount": 100})
        assert "bounds.currency" in {v.field for v in amount_only.value.violations}
        assert owner.approve(_request(bank, BOUNDS)).bounds == BOUNDS
        assert owner.approve(pending).bounds == {}  # asked before the rule: approvable as asked
    finally:
        after.close()


@pytest.mark.timeout(30)
def test_the_portal_shows_the_bound_in_chinese_and_english(
    tmp_path: Path, clock: FixedClock
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, portal="127.0.0.1:0")
    try:
        _upload(gw)
        bank = gw.bank("bank-a")
        pending = _request(bank, BOUNDS)
        browser = PortalSession.of(gw)
        assert browser.sign_in_with(gw.token("owner", OWNER)).status == 303
        english = browser.request("GET", "/owner/requests", accept_language="en").body
        assert f'id="bounds-{pending}"' in english
        assert "amount at most 50,000.00 USD" in english
        chinese = browser.request("GET", "/owner/requests", accept_language="zh-CN").body
        assert "金额不超过 50,000.00 美元" in chinese
        assert "您批准的限额" in chinese

        assert f'value="50000.00" id="bound-{pending}-amount"' in english
        # Raising the maximum on the approve form is refused; the request stays pending.
        raised = browser.post(
            f"/owner/requests/{pending}/approve",
            {"claim": "covers_amount", "bound_max.amount": "60000.00"},
        )
        assert raised.status == 400
        assert "INVALID_ARGUMENT" in raised.body
        assert [r.id for r in gw.owner(OWNER).pending_requests()] == [pending]
        lowered = browser.post(
            f"/owner/requests/{pending}/approve",
            {"claim": "covers_amount", "bound_max.amount": "20000.00"},
        )
        assert lowered.status == 303
        [consent] = gw.owner(OWNER).list_consents()
        assert consent.bounds == {"amount": 2_000_000, "currency": "USD"}
        listed = browser.request("GET", "/owner/consents", accept_language="en").body
        assert f'id="bounds-{consent.id}"' in listed
        assert "amount at most 20,000.00 USD" in listed
        assert (
            "金额不超过 20,000.00 美元"
            in browser.request("GET", "/owner/consents", accept_language="zh-CN").body
        )
    finally:
        gw.close()
