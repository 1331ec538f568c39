"""Issue 4 "Tests" at the SDK level against the real gateway: offline verification, redeem once,
expiry, holder binding, idempotent issue, and concurrency (single use, income capacity)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.encoding import b64url_decode
from attestgate.protocol.sdjwt_format import REGISTERED_CLAIM_NAMES
from attestgate.sdk import Attestation, AttestationState, BankClient, ConsentState, errors
from attestgate.sdk.types import ClaimValue, Consent
from tests.integration import live
from tests.integration.live import LiveGateway

FX: dict[str, ClaimValue] = {
    "amount": 5_000_000,
    "currency": "USD",
}  # USD 50,000.00 = CNY 356,170.00 at 7.1234


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    # 16 workers so that the concurrency tests really run side by side.
    yield from live.live_gateway(tmp_path, clock, max_workers=16)


def income_consent(gw: LiveGateway, bank: BankClient, owner: str = "alice") -> Consent:
    request = bank.request_consent(
        owner=owner,
        domain="income",
        purpose="fx_purchase",
        bounds=live.FX_BOUNDS,
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
    )
    return gw.owner(owner).approve(request.id)


@pytest.fixture
def income(gw: LiveGateway) -> LiveGateway:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})
    return gw


def registry_consent(gw: LiveGateway, bank: BankClient, max_uses: int = 10) -> Consent:
    gw.provider("samr").put_record(
        domain="business_registration",
        subject="example-co",
        record_id="91440300MA5XXXXXX1",
        fields=live.BUSINESS_FIELDS,
    )
    request = bank.request_consent(
        owner="example-co",
        domain="business_registration",
        purpose="counterparty_check",
        claims=["registration_status", "in_good_standing"],
        max_uses=max_uses,
    )
    return gw.owner("example-co").approve(request.id)


def test_verify_redeem_once(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(income_consent(income, bank).id, params=FX)
    assert attestation.claims == {"tax_year": 2025, "covers_amount": True}
    assert attestation.expires_at == income.clock.now() + timedelta(minutes=10)
    assert bank.verify(attestation.token) == {"tax_year": 2025, "covers_amount": True}
    assert "keys" in bank.issuer_keys()

    redemption = bank.redeem(attestation.token, transaction_ref="fx-1")
    assert (redemption.consumption, redemption.consumed_currency) == ("amount", "CNY")
    assert redemption.consumed_amount == 35_617_000
    with pytest.raises(errors.AlreadyRedeemed):
        bank.redeem(attestation, transaction_ref="fx-1")
    with pytest.raises(errors.AlreadyRedeemed):
        bank.redeem(attestation, transaction_ref="fx-2")
    held = bank.get_attestation(attestation.jti)
    assert (held.state, held.transaction_ref) == (AttestationState.REDEEMED, "fx-1")


def test_verify_refuses_tampering_offline(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    token = bank.issue(income_consent(income, bank).id, params=FX).token
    jwt, *disclosures = token.split("~")
    forged = "~".join([jwt, *disclosures[:-2], disclosures[-2][:-2] + "AA", ""])
    for bad in (forged, token + token, "not-a-token", jwt[:-4] + "AAAA~"):
        with pytest.raises(errors.InvalidAttestation):
            bank.verify(bad)


def test_expired_attestation(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(income_consent(income, bank).id, params=FX)
    income.clock.advance(timedelta(minutes=11))
    with pytest.raises(errors.InvalidAttestation):
        bank.verify(attestation.token)
    with pytest.raises(errors.AttestationExpired):
        bank.redeem(attestation, transaction_ref="fx-late")
    assert bank.get_attestation(attestation.jti).state is AttestationState.EXPIRED


def test_attestation_of_bank_a_refused_for_bank_b(income: LiveGateway) -> None:
    bank_a = income.bank("bank-a")
    attestation = bank_a.issue(income_consent(income, bank_a).id, params=FX)
    # Bank B even holds A's key: the gateway still refuses, because B is not the holder.
    bank_b = income.bank("bank-b", holder_key=bank_a.holder_key)
    with pytest.raises(errors.PermissionDenied):
        bank_b.redeem(attestation, transaction_ref="fx-b")
    with pytest.raises(errors.PermissionDenied):
        bank_b.get_attestation(attestation.jti)
    # A stranger's key cannot redeem either, and A's attestation is untouched.
    with pytest.raises(errors.InvalidAttestation):
        income.bank("bank-a").redeem(attestation, transaction_ref="fx-a")
    assert bank_a.redeem(attestation, transaction_ref="fx-a").jti == attestation.jti


def test_repeated_request_id_returns_the_same_attestation(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    consent = registry_consent(gw, bank)
    first = bank.issue(consent.id, request_id="req-1")
    again = bank.issue(consent.id, request_id="req-1")
    assert (again.jti, again.token) == (first.jti, first.token)
    assert bank.get_consent(consent.id).uses == 1
    assert bank.issue(consent.id, request_id="req-2").jti != first.jti
    assert bank.get_consent(consent.id).uses == 2


def test_concurrent_retries_with_one_request_id_use_the_consent_once(gw: LiveGateway) -> None:
    # The retries pass the read phase together; the unit of work lets exactly one count a use.
    bank = gw.bank("bank-a")
    consent = registry_consent(gw, bank)
    start = threading.Barrier(8)

    def retry(_: int) -> Attestation:
        start.wait()
        return bank.issue(consent.id, request_id="req-same")

    with ThreadPoolExecutor(8) as pool:
        issued = list(pool.map(retry, range(8)))
    assert len({(a.jti, a.token) for a in issued}) == 1
    assert bank.get_consent(consent.id).uses == 1


def test_paused_and_revoked_since_issue(gw: LiveGateway) -> None:
    bank, owner = gw.bank("bank-a"), gw.owner("example-co")
    consent = registry_consent(gw, bank)
    attestation = bank.issue(consent.id)
    owner.pause(consent.id)
    with pytest.raises(errors.ConsentPaused):
        bank.redeem(attestation, transaction_ref="t-1")
    owner.resume(consent.id)
    second = bank.issue(consent.id)
    owner.revoke(consent.id)
    with pytest.raises(errors.ConsentRevoked):
        bank.redeem(second, transaction_ref="t-2")
    assert bank.get_consent(consent.id).state is ConsentState.REVOKED


def test_issue_sees_pause_resume_and_revoke_made_after_earlier_issues(gw: LiveGateway) -> None:
    # The read phase keeps ACTIVE consents in memory; the unit of work must still refuse with
    # the precise reason, count nothing, and later calls must see the consent as it is now.
    bank, owner = gw.bank("bank-a"), gw.owner("example-co")
    consent = registry_consent(gw, bank)
    bank.issue(consent.id)
    owner.pause(consent.id)
    for _ in range(2):
        with pytest.raises(errors.ConsentPaused):
            bank.issue(consent.id)
    owner.resume(consent.id)
    bank.issue(consent.id)
    assert bank.get_consent(consent.id).uses == 2
    owner.revoke(consent.id)
    for _ in range(2):
        with pytest.raises(errors.ConsentRevoked):
            bank.issue(consent.id)
    assert bank.get_consent(consent.id).uses == 2


def test_issue_refuses_a_spent_consent_after_serving_it(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    consent = registry_consent(gw, bank, max_uses=2)
    bank.issue(consent.id)
    bank.issue(consent.id)
    for _ in range(2):
        with pytest.raises(errors.FailedPrecondition) as refused:
            bank.issue(consent.id)
        assert refused.value.reason == "CONSENT_EXHAUSTED"
    assert bank.get_consent(consent.id).uses == 2


def test_verify_refreshes_jwks_after_key_rotation(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    consent = registry_consent(gw, bank)
    assert bank.verify(bank.issue(consent.id).token)  # caches the JWKS
    old_kids = {key["kid"] for key in bank.issuer_keys()["keys"]}
    gw.parts.keyring.rotate_signing_key(gw.clock.now())
    token = bank.issue(consent.id).token
    assert bank.verify(token) == {"registration_status": "CLOSURE", "in_good_standing": True}
    assert {key["kid"] for key in bank.issuer_keys()["keys"]} > old_kids


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at once (after a barrier); each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except errors.AttestgateError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_fifty_threads_redeem_one_attestation(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(income_consent(income, bank).id, params=FX)
    bank.verify(attestation.token)  # warm the JWKS cache outside the race
    outcomes = run_together(
        [lambda: bank.redeem(attestation, transaction_ref="fx-race") for _ in range(50)]
    )
    wins = [o for o in outcomes if not isinstance(o, Exception)]
    losses = [o for o in outcomes if isinstance(o, errors.AlreadyRedeemed)]
    assert (len(wins), len(losses)) == (1, 49), outcomes


def redeem(bank: BankClient, attestation: Attestation) -> Any:
    return bank.redeem(attestation, transaction_ref="fx-" + attestation.jti)


def test_capacity_is_never_overdrawn(income: LiveGateway) -> None:
    # Each attestation alone is covered (CNY 356,170 of 612,345); both together are not.
    bank_a, bank_b = income.bank("bank-a"), income.bank("bank-b")
    first = bank_a.issue(income_consent(income, bank_a).id, params=FX)
    second = bank_b.issue(income_consent(income, bank_b).id, params=FX)
    pairs: list[tuple[BankClient, Attestation]] = [(bank_a, first), (bank_b, second)]
    outcomes = run_together([partial(redeem, b, a) for b, a in pairs])
    refused = [o for o in outcomes if isinstance(o, errors.CapacityExhausted)]
    wins = [o for o in outcomes if not isinstance(o, Exception)]
    assert (len(wins), len(refused)) == (1, 1), outcomes
    assert wins[0].consumed_amount == 35_617_000


# -- no registered claim name disclosed (issue 17 item 1) -------------------------------------


def _disclosed_names(token: str) -> list[str]:
    """The claim names of a compact SD-JWT's disclosures (RFC 9901 §4.2.1), read raw."""
    return [json.loads(b64url_decode(d))[1] for d in token.split("~")[1:] if d]


@pytest.mark.parametrize(
    ("domain", "purpose", "subject", "record_id", "fields", "claims", "renamed"),
    [
        (
            "business_registration",
            "counterparty_check",
            "example-co",
            "91440300MA5XXXXXX1",
            live.BUSINESS_FIELDS,
            ["name", "status", "closure_end", "in_good_standing"],
            "registration_status",
        ),
        (
            "patent",
            "ip_pledge_loan",
            "acme-ip",
            "p-1",
            live.patent_fields("acme-ip"),
            ["patent_no", "title", "status", "expiry_date", "owned_by_subject", "unencumbered"],
            "patent_status",
        ),
    ],
)
def test_issued_attestations_disclose_no_registered_claim_name(
    gw: LiveGateway,
    domain: str,
    purpose: str,
    subject: str,
    record_id: str,
    fields: dict[str, Any],
    claims: list[str],
    renamed: str,
) -> None:
    """A bank that still asks for the former name ``status`` gets the record's status under
    its claim name; the token's disclosures carry no registered JWT / SD-JWT VC name."""
    provider = "samr" if domain == "business_registration" else "ip-office"
    gw.provider(provider).put_record(
        domain=domain, subject=subject, record_id=record_id, fields=fields
    )
    bank = gw.bank("bank-a")
    request = bank.request_consent(owner=subject, domain=domain, purpose=purpose, claims=claims)
    assert renamed in request.claims
    assert "status" not in request.claims
    consent = gw.owner(subject).approve(request.id)
    held = bank.issue(consent.id)
    assert held.claims[renamed] == fields["status"]
    names = _disclosed_names(held.token)
    assert renamed in names
    assert not set(names) & REGISTERED_CLAIM_NAMES, names
    assert bank.verify(held.token)[renamed] == fields["status"]
