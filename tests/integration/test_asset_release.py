"""Issue 19 items 1, 2 and 5 over gRPC against a real gateway, on SQLite and PostgreSQL.

Release: the pledgee bank releases its pledge (``BankClient.release_pledge``) and the receipt can
back a new loan under a new consent; another bank is refused (``NOT_PLEDGEE``); releasing again
answers the first release; a regulator forces a release with its own reason codes; a cancelled
FX purchase gives its income back (``release_amount``). Encumbrance: provider uploads that
contradict the gateway's pledge ledger are refused (``RECORD_CONTRADICTS_PLEDGE``), a stale
``PLEDGED`` is reconciled by the ledger and the attestation names the basis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.jose import json_object, parse_compact_jws
from attestgate.sdk import AsyncBankClient, Attestation, BankClient, errors
from attestgate.sdk.types import ClaimValue
from attestgate.v1 import attestation_pb2, attestation_pb2_grpc
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.integration.live import LiveGateway

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server

RECEIPT = live.WAREHOUSE_FIELDS["receipt_id"]
HOLDER = "acme-trading"
FX: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}  # CNY 356,170.00
FX_COST = 35_617_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gateway = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        gateway.provider("warehouse-1").put_record(
            domain="warehouse_receipt",
            subject=HOLDER,
            record_id=RECEIPT,
            fields=live.WAREHOUSE_FIELDS,
        )
        yield gateway
    finally:
        gateway.close()


def receipt_attestation(gw: LiveGateway, bank: BankClient) -> Attestation:
    """A new consent of the holder for ``bank`` and an attestation under it."""
    request = bank.request_consent(
        owner=HOLDER,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=RECEIPT,
    )
    consent = gw.owner(HOLDER).approve(request.id)
    return bank.issue(consent.id)


def plain_claims(attestation: Attestation) -> dict[str, Any]:
    return json_object(parse_compact_jws(attestation.token.split("~")[0]).payload, max_depth=8)


def events(gw: LiveGateway, kind: str) -> list[dict[str, Any]]:
    rows = gw.parts.storage.read().execute("SELECT data FROM audit_leaves ORDER BY idx").fetchall()
    found = [json_object(bytes(r[0]), max_depth=8) for r in rows]
    return [e for e in found if e["type"] == kind]


def upload_status(gw: LiveGateway, status: str) -> None:
    gw.provider("warehouse-1").put_record(
        domain="warehouse_receipt",
        subject=HOLDER,
        record_id=RECEIPT,
        fields={**live.WAREHOUSE_FIELDS, "status": status},
    )


def test_pledgee_releases_and_the_receipt_backs_a_new_loan(gw: LiveGateway) -> None:
    bank_a, bank_b = gw.bank("bank-a"), gw.bank("bank-b")
    held_a, held_b = receipt_attestation(gw, bank_a), receipt_attestation(gw, bank_b)
    assert held_a.claims["unencumbered"] is True
    redemption = bank_a.redeem(held_a, transaction_ref="loan-a")
    assert redemption.consumption == "pledge"
    with pytest.raises(errors.CapacityExhausted):  # one pledge at a time
        bank_b.redeem(held_b, transaction_ref="loan-b")
    assert receipt_attestation(gw, bank_b).claims["unencumbered"] is False

    with pytest.raises(errors.PermissionDenied) as denied:  # not B's pledge
        bank_b.release_pledge(redemption, reason="REPAID")
    assert denied.value.reason == "NOT_PLEDGEE"

    released = bank_a.release_pledge(redemption, reason="REPAID", request_id="rel-1")
    assert (released.consumption, released.domain, released.asset_id) == (
        "pledge",
        "warehouse_receipt",
        RECEIPT,
    )
    assert (released.reason, released.released_by_role, released.released_by) == (
        "REPAID",
        "bank",
        "bank-a",
    )
    assert released.log_index > 0
    # Releasing twice answers the first release (another request id, even another reason).
    assert bank_a.release_pledge(held_a.jti, reason="CANCELLED") == released
    assert bank_a.release_pledge(redemption, reason="REPAID", request_id="rel-1") == released
    with pytest.raises(errors.Conflict):  # the same request id for another request
        bank_a.release_pledge(redemption, reason="CANCELLED", request_id="rel-1")

    fresh = receipt_attestation(gw, bank_b)  # a new consent, and the receipt is free again
    assert fresh.claims["unencumbered"] is True
    assert bank_b.redeem(fresh, transaction_ref="loan-b2").consumption == "pledge"
    assert receipt_attestation(gw, bank_a).claims["unencumbered"] is False

    (event,) = [e for e in events(gw, "pledge.released") if e["decision"] == "allow"]
    assert (event["actor_role"], event["actor_id"], event["reason"]) == ("bank", "bank-a", "REPAID")
    assert event["objects"]["attestation_jti"] == held_a.jti
    assert event["objects"]["record_id"] == RECEIPT
    assert event["subject"].startswith("ps_")  # the holder by pseudonym only
    assert HOLDER not in str(event)
    denials = [e for e in events(gw, "pledge.released") if e["decision"] == "deny"]
    assert [(e["actor_id"], e["reason"]) for e in denials] == [
        ("bank-b", "NOT_PLEDGEE"),
        ("bank-a", "REQUEST_ID_CONFLICT"),
    ]


def test_release_refusals(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    held = receipt_attestation(gw, bank)
    with pytest.raises(errors.FailedPrecondition) as unredeemed:
        bank.release_pledge(held, reason="REPAID")
    assert unredeemed.value.reason == "NOTHING_TO_RELEASE"
    redemption = bank.redeem(held, transaction_ref="loan-1")
    with pytest.raises(errors.InvalidArgument) as bad_reason:  # a regulator's reason
        bank.release_pledge(redemption, reason="COURT_ORDER")
    assert bad_reason.value.violations[0].field == "reason"
    with pytest.raises(errors.InvalidArgument):
        bank.release_pledge(redemption, reason="the loan was repaid by Alice")  # no free text
    with pytest.raises(errors.InvalidInput):
        bank.release_pledge(redemption, reason="")
    with pytest.raises(errors.NotFound):
        bank.release_pledge("no-such-jti", reason="REPAID")
    # Owners and providers may not release (the role table).
    channel = gw.channel()
    try:
        stub = attestation_pb2_grpc.AttestationServiceStub(channel)
        request = attestation_pb2.ReleaseRedemptionRequest(
            attestation=f"attestations/{held.jti}", reason="REPAID"
        )
        for role, sub in (("owner", HOLDER), ("provider", "warehouse-1")):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ReleaseRedemption(request, metadata=gw.metadata(role, sub))
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    finally:
        channel.close()
    assert receipt_attestation(gw, gw.bank("bank-b")).claims["unencumbered"] is False


def test_regulator_forces_a_release(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    redemption = bank.redeem(receipt_attestation(gw, bank), transaction_ref="loan-1")
    regulator = gw.regulator(sub="csrc")
    with pytest.raises(errors.InvalidArgument):  # a bank's reason
        regulator.force_release(redemption, reason="REPAID")
    forced = regulator.force_release(redemption, reason="COURT_ORDER")
    assert (forced.released_by_role, forced.released_by, forced.reason) == (
        "regulator",
        "csrc",
        "COURT_ORDER",
    )
    assert bank.release_pledge(redemption, reason="REPAID") == forced  # already released
    (event,) = events(gw, "pledge.released")
    assert (event["actor_role"], event["actor_id"], event["reason"]) == (
        "regulator",
        "csrc",
        "COURT_ORDER",
    )
    assert event["objects"]["pledgee"] == "bank-a"
    # The owner sees the forced release in their activity, at the log index the release names.
    seen = [e for e in gw.owner(HOLDER).activity() if e.type == "pledge.released"]
    assert [(e.log_index, e.actor_id, e.reason) for e in seen] == [
        (forced.log_index, "csrc", "COURT_ORDER")
    ]
    assert receipt_attestation(gw, gw.bank("bank-b")).claims["unencumbered"] is True


def test_async_bank_releases_too(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    redemption = bank.redeem(receipt_attestation(gw, bank), transaction_ref="loan-1")

    async def run() -> None:
        token = gw.token("bank", "bank-a")
        async with AsyncBankClient(gw.target, token=token, tls=gw.tls) as client:
            released = await client.release_pledge(redemption, reason="REPAID")
            assert released.consumption == "pledge"
            assert await client.release_pledge(redemption.jti, reason="REPAID") == released

    asyncio.run(run())


def test_uploads_must_agree_with_the_pledge_ledger(gw: LiveGateway) -> None:
    with pytest.raises(errors.FailedPrecondition) as free:  # no pledge is held
        upload_status(gw, "PLEDGED")
    assert free.value.reason == "RECORD_CONTRADICTS_PLEDGE"
    bank = gw.bank("bank-a")
    held = receipt_attestation(gw, bank)
    assert plain_claims(held)["encumbrance_basis"] == "pledge_ledger"
    redemption = bank.redeem(held, transaction_ref="loan-1")
    for status in ("ACTIVE", "RELEASED", "CANCELLED"):  # a bank holds the pledge
        with pytest.raises(errors.FailedPrecondition) as pledged:
            upload_status(gw, status)
        assert pledged.value.reason == "RECORD_CONTRADICTS_PLEDGE"
        assert pledged.value.metadata["ledger"] == "pledged"
    upload_status(gw, "PLEDGED")  # the provider's mirror of the ledger
    bank.release_pledge(redemption, reason="REPAID")
    # The stored PLEDGED is stale now: the ledger decides, and the attestation says so.
    stale = receipt_attestation(gw, gw.bank("bank-b"))
    assert stale.claims["unencumbered"] is True
    assert plain_claims(stale)["encumbrance_basis"] == "pledge_ledger_over_provider_status"
    with pytest.raises(errors.FailedPrecondition):
        upload_status(gw, "PLEDGED")
    upload_status(gw, "RELEASED")
    agreed = receipt_attestation(gw, gw.bank("bank-c"))
    assert plain_claims(agreed)["encumbrance_basis"] == "pledge_ledger"
    upload_status(gw, "CANCELLED")  # free in the ledger: the warehouse may cancel it
    assert receipt_attestation(gw, gw.bank("bank-d")).claims["unencumbered"] is False


def income_attestation(gw: LiveGateway, bank: BankClient) -> Attestation:
    request = bank.request_consent(
        owner="alice",
        domain="income",
        purpose="fx_purchase",
        bounds=live.FX_BOUNDS,
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
    )
    return bank.issue(gw.owner("alice").approve(request.id).id, params=FX)


def test_a_cancelled_fx_purchase_gives_its_income_back(gw: LiveGateway) -> None:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-1", rates={"USD": live.USD_RATE})
    bank = gw.bank("bank-a")
    redemption = bank.redeem(income_attestation(gw, bank), transaction_ref="fx-1")
    assert redemption.consumed_amount == FX_COST
    assert income_attestation(gw, bank).claims["covers_amount"] is False  # the rest is too small
    with pytest.raises(errors.PermissionDenied) as denied:
        gw.bank("bank-b").release_amount(redemption, reason="CANCELLED")
    assert denied.value.reason == "NOT_PLEDGEE"
    released = bank.release_amount(redemption, reason="CANCELLED")
    assert (released.consumption, released.released_amount, released.released_currency) == (
        "amount",
        FX_COST,
        "CNY",
    )
    assert released.asset_id == ""  # an income record id may name a person
    assert bank.release_amount(redemption.jti, reason="REVERSED") == released
    assert income_attestation(gw, bank).claims["covers_amount"] is True  # capacity returned
    (event,) = [e for e in events(gw, "capacity.released") if e["decision"] == "allow"]
    assert (event["actor_id"], event["reason"]) == ("bank-a", "CANCELLED")
    assert "record_id" not in event["objects"]
    assert event["objects"]["record_pseudonym"].startswith("pr_")
    assert "inc-2025" not in str(event)
    assert str(FX_COST) not in str(event)


# --- item 3: transfer (circulation) ----------------------------------------------------------

NEW_HOLDER = "beta-logistics"


def transfer(gw: LiveGateway, to: str, status: str = "ACTIVE") -> None:
    gw.provider("warehouse-1").put_record(
        domain="warehouse_receipt",
        subject=to,
        record_id=RECEIPT,
        fields={**live.WAREHOUSE_FIELDS, "status": status, "holder": to},
    )


def holder_attestation(gw: LiveGateway, bank: BankClient, holder: str) -> Attestation:
    request = bank.request_consent(
        owner=holder,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=RECEIPT,
    )
    return bank.issue(gw.owner(holder).approve(request.id).id)


def test_a_transfer_ends_the_previous_holders_consents(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    old_request = bank.request_consent(
        owner=HOLDER,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=RECEIPT,
    )
    old_consent = gw.owner(HOLDER).approve(old_request.id)
    issued_before = receipt_attestation(gw, bank)
    transfer(gw, NEW_HOLDER)
    (moved,) = events(gw, "record.transferred")
    assert (moved["objects"]["record_id"], moved["objects"]["version"]) == (RECEIPT, "2")
    assert NEW_HOLDER not in str(moved)  # the new holder by pseudonym only
    with pytest.raises(errors.FailedPrecondition) as stale:  # issued before the transfer
        bank.redeem(issued_before, transaction_ref="loan-old")
    assert stale.value.reason == "RECORD_TRANSFERRED"
    with pytest.raises(errors.FailedPrecondition) as old:  # a consent of the previous holder
        bank.issue(old_consent.id)
    assert old.value.reason == "RECORD_TRANSFERRED"
    fresh = holder_attestation(gw, bank, NEW_HOLDER)  # the new holder's consent is needed
    assert fresh.claims["unencumbered"] is True
    assert bank.redeem(fresh, transaction_ref="loan-new").consumption == "pledge"
    with pytest.raises(errors.FailedPrecondition) as pledged:  # pledged by the new holder
        transfer(gw, HOLDER)
    assert pledged.value.reason == "ASSET_PLEDGED"


def test_a_consent_covers_one_tenure_of_its_holder(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    request = bank.request_consent(
        owner=HOLDER,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=RECEIPT,
    )
    given_before = gw.owner(HOLDER).approve(request.id)
    gw.clock.advance(timedelta(seconds=1))
    transfer(gw, NEW_HOLDER)
    gw.clock.advance(timedelta(seconds=1))
    transfer(gw, HOLDER)  # back to the first holder
    with pytest.raises(errors.FailedPrecondition) as moved:
        bank.issue(given_before.id)
    assert moved.value.reason == "RECORD_TRANSFERRED"
    assert holder_attestation(gw, bank, HOLDER).claims["unencumbered"] is True
    assert len(events(gw, "record.transferred")) == 2


def test_a_pledged_asset_moves_only_after_its_release(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    redemption = bank.redeem(receipt_attestation(gw, bank), transaction_ref="loan-1")
    with pytest.raises(errors.FailedPrecondition) as pledged:
        transfer(gw, NEW_HOLDER)
    assert pledged.value.reason == "ASSET_PLEDGED"
    assert events(gw, "record.transferred") == []
    bank.release_pledge(redemption, reason="REPAID")
    transfer(gw, NEW_HOLDER)
    consent_before = gw.owner(HOLDER)  # the previous holder consents again: still not covered
    request = bank.request_consent(
        owner=HOLDER,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=RECEIPT,
    )
    with pytest.raises(errors.FailedPrecondition) as moved:
        bank.issue(consent_before.approve(request.id).id)
    assert moved.value.reason == "RECORD_TRANSFERRED"
    assert holder_attestation(gw, bank, NEW_HOLDER).claims["unencumbered"] is True


def test_income_records_never_change_subject(gw: LiveGateway) -> None:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    with pytest.raises(errors.FailedPrecondition) as conflict:
        provider.put_record(
            domain="income", subject="bob", record_id="inc-2025", fields=live.INCOME_FIELDS
        )
    assert conflict.value.reason == "RECORD_VERSION_CONFLICT"
