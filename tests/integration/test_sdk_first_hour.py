"""Issue 16 items 7-10 at the SDK level, against the real gateway: holder keys kept across
clients, every mistake an ``AttestgateError`` whose ``str()`` says what to do, JSON-ready results
and the claims an owner unticked reported as withheld."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import BankClient, errors
from attestgate.sdk.types import ClaimValue, Consent, Withheld
from tests.integration import live
from tests.integration.live import LiveGateway

FX: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


@pytest.fixture
def income(gw: LiveGateway) -> LiveGateway:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})
    return gw


def consent(gw: LiveGateway, bank: BankClient, approve: list[str] | None = None) -> Consent:
    request = bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year", "covers_amount"]
    )
    return gw.owner("alice").approve(request.id, claims=approve)


# --- item 10: results as JSON, unticked claims withheld -------------------------------------------


def test_an_unticked_claim_comes_back_withheld_as_not_consented(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(consent(income, bank, approve=["covers_amount"]).id, params=FX)
    assert attestation.claims == {"covers_amount": True}
    assert attestation.withheld == (Withheld("tax_year", "NOT_CONSENTED"),)
    assert json.loads(json.dumps(attestation.claims)) == {"covers_amount": True}


def test_every_result_has_a_json_form(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    granted = consent(income, bank)
    attestation = bank.issue(granted.id, params=FX)
    data = json.loads(json.dumps(attestation.to_dict()))
    assert data["claims"] == {"tax_year": 2025, "covers_amount": True}
    assert data["withheld"] == [] and data["state"] == "ISSUED"
    assert data["expires_at"] == attestation.expires_at.isoformat()  # type: ignore[union-attr]
    assert json.loads(json.dumps(granted.to_dict()))["claims"] == ["tax_year", "covers_amount"]
    checkpoint = live.wait_for_checkpoint(income.regulator(), 1)
    assert json.loads(json.dumps(checkpoint.to_dict()))["root_hash"] == checkpoint.root_hash_b64
