"""Issue 3 "Tests" through the SDK against the real gateway: four domains end to end, narrowing,
the consent-event stream across reconnects, ownership, and bad input without state change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import BankClient, ConsentRequestState, ConsentState, OwnerClient, errors
from attestgate.sdk.types import ConsentEvent
from tests.integration import live
from tests.integration.live import LiveGateway


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


@dataclass(frozen=True)
class DomainCase:
    domain: str
    purpose: str
    provider: str
    subject: str
    record_id: str
    fields: dict[str, Any]
    claims: tuple[str, ...]
    unticked: str
    params: dict[str, Any] = field(default_factory=dict)


CASES = [
    DomainCase(
        "income",
        "fx_purchase",
        "tax-bureau",
        "alice",
        "inc-2025",
        live.INCOME_FIELDS,
        ("tax_year", "covers_amount"),
        "tax_year",
        {"amount": 5_000_000, "currency": "USD"},
    ),
    DomainCase(
        "warehouse_receipt",
        "pledge_financing",
        "qh-warehouse",
        "acme-trading",
        "WR-2026-0001",
        live.WAREHOUSE_FIELDS,
        ("receipt_id", "commodity", "quantity", "unencumbered"),
        "quantity",
    ),
    DomainCase(
        "patent",
        "ip_pledge_loan",
        "ip-office",
        "acme-ip",
        "ZL202410000001.1",
        live.patent_fields("acme-ip"),
        ("patent_no", "title", "expiry_date", "owned_by_subject", "unencumbered"),
        "title",
    ),
    DomainCase(
        "business_registration",
        "counterparty_check",
        "samr",
        "example-co",
        "91440300MA5XXXXXX1",
        live.BUSINESS_FIELDS,
        ("name", "registration_status", "closure_end", "in_good_standing"),
        "name",
    ),
]


def upload(gw: LiveGateway, case: DomainCase) -> None:
    provider = gw.provider(case.provider)
    receipt = provider.put_record(
        domain=case.domain, subject=case.subject, record_id=case.record_id, fields=case.fields
    )
    assert (receipt.domain, receipt.record_id, receipt.version) == (case.domain, case.record_id, 1)
    if case.domain == "income":
        fx = provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})
        assert fx.rate_count == 1


def request(bank: BankClient, case: DomainCase) -> Any:
    return bank.request_consent(
        owner=case.subject,
        domain=case.domain,
        purpose=case.purpose,
        claims=case.claims,
        record_id=case.record_id,
        bounds=live.FX_BOUNDS if case.purpose == "fx_purchase" else None,
    )


def is_state(consent_id: str, state: ConsentState) -> Any:
    return lambda e: e.consent_id == consent_id and e.state is state


@pytest.mark.parametrize("case", CASES, ids=[c.domain for c in CASES])
def test_domain_end_to_end(gw: LiveGateway, case: DomainCase) -> None:
    upload(gw, case)
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)

    first = request(bank, case)
    assert first.state is ConsentRequestState.PENDING
    assert [r.id for r in owner.pending_requests()] == [first.id]
    kept = [c for c in case.claims if c != case.unticked]
    consent = owner.approve(first.id, claims=kept)
    assert consent.state is ConsentState.ACTIVE
    assert consent.claims == tuple(kept)
    assert bank.get_consent(consent.name).artefact_hash == consent.artefact_hash

    # Narrowing honoured: the unticked claim is withheld and absent from the signed token.
    attestation = bank.issue(consent.id, params=case.params, claims=case.claims)
    assert case.unticked not in attestation.claims
    assert [(w.claim, w.reason) for w in attestation.withheld] == [(case.unticked, "NOT_CONSENTED")]
    verified = bank.verify(attestation.token)
    assert case.unticked not in verified
    assert set(verified) == set(attestation.claims)
    predicates = Catalog.load_default().domain(case.domain).predicates
    assert all(value is True for name, value in verified.items() if name in predicates)
    redemption = bank.redeem(attestation, transaction_ref=f"tx-{case.domain}")
    assert redemption.jti == attestation.jti

    # A second consent, revoked: the bank can no longer obtain attestations under it.
    second = request(bank, case)
    revoked = owner.revoke(owner.approve(second.id).id)
    assert revoked.state is ConsentState.REVOKED
    with pytest.raises(errors.ConsentRevoked):
        bank.issue(revoked.id, params=case.params)
    assert {c.id for c in bank.list_consents(state=ConsentState.REVOKED)} == {revoked.id}

    # The bank reads part of the stream, reconnects with its cursor and misses nothing.
    before = live.read_events(bank, None, lambda e: e.consent_id == consent.id)
    after = live.read_events(bank, before[-1].cursor, is_state(revoked.id, ConsentState.REVOKED))
    whole = live.read_events(bank, None, is_state(revoked.id, ConsentState.REVOKED))
    assert before + after == whole
    assert len({e.cursor for e in whole}) == len(whole)
    states = [(e.request_id, e.consent_id, e.state) for e in whole]
    assert states[0] == (first.id, None, ConsentRequestState.PENDING)
    assert (first.id, consent.id, ConsentState.ACTIVE) in states


def test_owner_sees_every_disclosure_in_activity(gw: LiveGateway) -> None:
    case = CASES[3]
    upload(gw, case)
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)
    consent = owner.approve(request(bank, case).id)
    attestation = bank.issue(consent.id)
    bank.redeem(attestation, transaction_ref="check-1")
    with pytest.raises(errors.AlreadyRedeemed):
        bank.redeem(attestation, transaction_ref="check-1")
    kinds = [(e.type, e.decision) for e in owner.activity()]
    assert ("attestation.issued", "allow") in kinds
    assert ("attestation.redeemed", "allow") in kinds
    assert ("attestation.refused", "deny") in kinds
    assert owner.activity() == gw.owner(case.subject).activity()
    assert gw.owner("someone-else").activity() == []


def test_pause_and_resume(gw: LiveGateway) -> None:
    case = CASES[3]
    upload(gw, case)
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)
    consent = owner.approve(request(bank, case).id)
    assert owner.pause(consent.id).state is ConsentState.PAUSED
    with pytest.raises(errors.ConsentPaused):
        bank.issue(consent.id)
    assert owner.resume(consent.name).state is ConsentState.ACTIVE
    assert bank.issue(consent.id).consent_id == consent.id
    with pytest.raises(errors.FailedPrecondition):
        owner.resume(consent.id)  # not paused


def test_reject(gw: LiveGateway) -> None:
    case = CASES[0]
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)
    rejected = owner.reject(request(bank, case).name)
    assert rejected.state is ConsentRequestState.REJECTED
    assert owner.pending_requests() == []
    with pytest.raises(errors.FailedPrecondition):
        owner.approve(rejected.id)


def test_another_owner_cannot_approve_and_nothing_changes(gw: LiveGateway) -> None:
    case = CASES[0]
    bank, owner, mallory = gw.bank("bank-a"), gw.owner("alice"), gw.owner("mallory")
    pending = request(bank, case)
    with pytest.raises(errors.PermissionDenied):
        mallory.approve(pending.id)
    with pytest.raises(errors.PermissionDenied):
        mallory.reject(pending.id)
    assert owner.pending_requests() == [pending]
    assert bank.list_consents() == []
    assert mallory.list_consents() == []

    consent = owner.approve(pending.id)
    for change in (mallory.pause, mallory.revoke):
        with pytest.raises(errors.PermissionDenied):
            change(consent.id)
    with pytest.raises(errors.PermissionDenied):
        gw.bank("bank-b").get_consent(consent.id)
    assert owner.list_consents() == [consent]


# --- bad input: INVALID_ARGUMENT with field violations, nothing changes -------------------------


@dataclass
class Snapshot:
    consents: list[Any]
    pending: list[Any]
    log_size: int


def snapshot(gw: LiveGateway, bank: BankClient, owner: OwnerClient) -> Snapshot:
    regulator = gw.regulator()
    # Let any batch in flight reach a checkpoint, so that equal sizes mean "nothing appended".
    size = regulator.checkpoint().size
    size = live.wait_for_checkpoint(regulator, size + 1, timeout=0.2).size
    return Snapshot(bank.list_consents(), owner.pending_requests(), size)


BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "unknown domain": {"domain": "salary", "purpose": "fx_purchase", "claims": ["tax_year"]},
    "unknown purpose": {"domain": "income", "purpose": "mortgage", "claims": ["tax_year"]},
    "unknown claim": {"domain": "income", "purpose": "fx_purchase", "claims": ["shoe_size"]},
    "oversize claim": {"domain": "income", "purpose": "fx_purchase", "claims": ["x" * 5000]},
}


@pytest.mark.parametrize("kwargs", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_consent_request(gw: LiveGateway, kwargs: dict[str, Any]) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner("alice")
    before = snapshot(gw, bank, owner)
    with pytest.raises(errors.InvalidArgument) as caught:
        bank.request_consent(owner="alice", **kwargs)
    assert caught.value.violations, "no field violations"
    assert snapshot(gw, bank, owner) == before


BAD_PARAMS: dict[str, dict[str, Any]] = {
    "negative amount": {"amount": -5_000_000, "currency": "USD"},
    "lower-case currency": {"amount": 5_000_000, "currency": "usd"},
    "unknown currency": {"amount": 5_000_000, "currency": "XYZ"},
    "oversize currency": {"amount": 5_000_000, "currency": "U" * 5000},
}


@pytest.mark.parametrize("params", BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_bad_predicate_params(gw: LiveGateway, params: dict[str, Any]) -> None:
    case = CASES[0]
    upload(gw, case)
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)
    consent = owner.approve(request(bank, case).id)
    before = snapshot(gw, bank, owner)
    with pytest.raises(errors.InvalidArgument) as caught:
        bank.issue(consent.id, params=params)
    assert caught.value.violations, "no field violations"
    after = snapshot(gw, bank, owner)
    assert (after.consents, after.pending) == (before.consents, before.pending)
    assert bank.get_consent(consent.id).uses == 0
    # Malformed input changes nothing, not even the audit log
    # (gateway.usecases.trail.audits_refusal).
    assert after.log_size == before.log_size


def test_oversize_record_field(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner("alice")
    provider = gw.provider("tax-bureau")
    before = snapshot(gw, bank, owner)
    fields = {**live.INCOME_FIELDS, "employer_name": "E" * 201}
    with pytest.raises(errors.InvalidArgument) as caught:
        provider.put_record(domain="income", subject="alice", record_id="r1", fields=fields)
    assert caught.value.violations
    assert snapshot(gw, bank, owner) == before


def test_events_carry_cursor_and_states(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner("alice")
    pending = request(bank, CASES[0])
    consent = owner.approve(pending.id)
    events = live.read_events(bank, None, is_state(consent.id, ConsentState.ACTIVE))
    states: list[tuple[str, Any]] = [(e.request_id, e.state) for e in events]
    assert states[0] == (pending.id, ConsentRequestState.PENDING)
    assert all(isinstance(e, ConsentEvent) and e.cursor for e in events)
    assert all(e.time is not None and e.time.tzinfo is not None for e in events)


def test_erasure_shreds_the_record(gw: LiveGateway) -> None:
    case = CASES[3]
    provider = gw.provider(case.provider, ed25519_key=True)  # EdDSA uploads work too
    provider.put_record(
        domain=case.domain, subject=case.subject, record_id=case.record_id, fields=case.fields
    )
    bank, owner = gw.bank("bank-a"), gw.owner(case.subject)
    consent = owner.approve(request(bank, case).id)
    receipt = provider.erase_subject(case.subject)
    assert receipt.records_erased == 1
    assert receipt.subject_pseudonym
    assert case.subject not in receipt.subject_pseudonym
    with pytest.raises(errors.DataErased):
        bank.issue(consent.id)
    assert bank.get_consent(consent.id).uses == 0


def test_upload_signed_by_an_unregistered_key_is_refused(gw: LiveGateway) -> None:
    registered = gw.provider("tax-bureau")
    gw.provider("tax-bureau")  # the operator replaced the key: the old client's key is stale
    with pytest.raises(errors.InvalidArgument) as caught:
        registered.put_record(
            domain="income", subject="alice", record_id="r1", fields=live.INCOME_FIELDS
        )
    assert caught.value.reason == "RECORD_SIGNATURE_INVALID"
