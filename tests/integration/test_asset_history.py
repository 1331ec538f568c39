"""Issue 19 item 4 over gRPC against a real gateway, on SQLite and PostgreSQL: ``GetAssetHistory``.

A receipt is registered, pledged by bank A, released, pledged by bank B, released, transferred to a
new holder, updated and its holder erased. The history a regulator reads is exactly the log's
events naming the receipt (read from the database, not through the gateway), in order; every
proof is the one the independent RFC 9162 reference (``tests/unit/audit/merkle_reference.py``)
computes from the raw leaves, and the SDK verifies each against a signed checkpoint. A bank reads
the same under an ACTIVE consent of the current holder for a pledging purpose, sees holders as
pseudonyms only, and is refused otherwise without any change to the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.jose import json_object
from attestgate.sdk import (
    AssetEvent,
    AsyncBankClient,
    AsyncRegulatorClient,
    BankClient,
    Consent,
    LogVerificationError,
    errors,
)
from attestgate.sdk._internal import history, opening
from attestgate.v1 import record_pb2, record_pb2_grpc
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.unit.audit import merkle_reference

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server

RECEIPT = live.WAREHOUSE_FIELDS["receipt_id"]
DOMAIN = "warehouse_receipt"
HOLDER, NEW_HOLDER = "acme-trading", "beta-metals"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gateway = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        upload(gateway, HOLDER)
        yield gateway
    finally:
        gateway.close()


def upload(gw: LiveGateway, holder: str, **fields: Any) -> None:
    gw.provider("warehouse-1").put_record(
        domain=DOMAIN,
        subject=holder,
        record_id=RECEIPT,
        fields={**live.WAREHOUSE_FIELDS, "holder": holder, **fields},
    )


def consent(gw: LiveGateway, bank: BankClient, owner: str, **kwargs: Any) -> Consent:
    fields = {"domain": DOMAIN, "purpose": "pledge_financing", "record_id": RECEIPT} | kwargs
    request = bank.request_consent(owner=owner, claims=["unencumbered"], **fields)
    return gw.owner(owner).approve(request.id)


def pledge_and_release(gw: LiveGateway, bank: BankClient) -> None:
    redemption = bank.redeem(bank.issue(consent(gw, bank, HOLDER).id), transaction_ref="loan")
    bank.release_pledge(redemption, reason="REPAID")


def lifecycle(gw: LiveGateway) -> None:
    """Pledged by A, released; pledged by B, released; transferred; a new version."""
    pledge_and_release(gw, gw.bank("bank-a"))
    pledge_and_release(gw, gw.bank("bank-b"))
    upload(gw, NEW_HOLDER)
    upload(gw, NEW_HOLDER, status="ACTIVE", quantity=240)


def raw_history(gw: LiveGateway, role: str, sub: str, **fields: Any) -> Any:
    """``GetAssetHistory`` on a plain channel (no SDK: the wire response as sent)."""
    request = record_pb2.GetAssetHistoryRequest(domain=DOMAIN, asset_id=RECEIPT, **fields)
    with gw.channel() as channel:
        stub = record_pb2_grpc.RecordServiceStub(channel)
        return stub.GetAssetHistory(request, metadata=gw.metadata(role, sub))


def settled(gw: LiveGateway) -> None:
    live.wait_for_checkpoint(gw.regulator(), len(live.leaves(gw)))


def check_against_log(gw: LiveGateway, history: list[AssetEvent]) -> None:
    all_leaves = live.leaves(gw)
    size = history[0].proof.tree_size
    assert [e.entry.index for e in history] == live.log_history(all_leaves, size, DOMAIN, RECEIPT)
    for event in history:
        assert event.entry.data == all_leaves[event.entry.index]
        assert list(event.proof.hashes) == merkle_reference.path(
            event.entry.index, all_leaves[:size]
        )
        assert event.checkpoint is not None
        assert event.checkpoint.root_hash == merkle_reference.mth(all_leaves[:size])


def test_a_regulator_reads_the_whole_life_of_a_receipt_verified(gw: LiveGateway) -> None:
    lifecycle(gw)
    gw.provider("warehouse-1").erase_subject(NEW_HOLDER)
    settled(gw)
    history = gw.regulator().asset_history(DOMAIN, RECEIPT, verify=True)
    assert [e.type for e in history] == [
        "record.put",
        "attestation.redeemed",
        "pledge.released",
        "attestation.redeemed",
        "pledge.released",
        "record.transferred",
        "record.put",
        "record.erased",
    ]
    check_against_log(gw, history)
    pledgees = [e.entry.event["actor_id"] for e in history if e.type == "attestation.redeemed"]
    assert pledgees == ["bank-a", "bank-b"]
    versions = [e.entry.event["objects"].get("version") for e in history[5:7]]
    assert versions == ["2", "3"]
    holders = [e.entry.event["subject"] for e in history]
    assert len(set(holders[:5])) == 1
    assert holders[5] != holders[0]  # the transfer changed it


def test_a_bank_of_the_current_holder_reads_it_with_pseudonyms(gw: LiveGateway) -> None:
    lifecycle(gw)
    bank_c = gw.bank("bank-c")
    given = consent(gw, bank_c, NEW_HOLDER)
    settled(gw)
    history = bank_c.asset_history(DOMAIN, RECEIPT, consent=given, vkey=gw.vkey)
    check_against_log(gw, history)
    regulator_view = gw.regulator().asset_history(DOMAIN, RECEIPT)
    assert [e.entry for e in history] == [e.entry for e in regulator_view]
    for event in history:  # holders by pseudonym only, never their ids
        assert event.entry.event["subject"].startswith("ps_")
        for holder in (HOLDER, NEW_HOLDER):
            assert holder.encode() not in event.entry.data
    unverified = bank_c.asset_history(DOMAIN, RECEIPT, consent=given.id, verify=False)
    assert [e.entry for e in unverified] == [e.entry for e in history]
    assert {e.checkpoint for e in unverified} == {None}


def test_the_async_clients_read_the_same(gw: LiveGateway) -> None:
    lifecycle(gw)
    given = consent(gw, gw.bank("bank-c"), NEW_HOLDER)
    settled(gw)
    expected = [e.entry for e in gw.regulator().asset_history(DOMAIN, RECEIPT)]

    async def run() -> None:
        token = gw.token("bank", "bank-c")
        regulator_token = gw.token("regulator", "csrc")
        async with (
            AsyncBankClient(gw.target, token=token, tls=gw.tls) as bank,
            AsyncRegulatorClient(gw.target, token=regulator_token, vkey=gw.vkey, tls=gw.tls) as reg,
        ):
            read = await bank.asset_history(DOMAIN, RECEIPT, consent=given, vkey=gw.vkey)
            assert [e.entry for e in read] == expected
            assert [e.entry for e in await reg.asset_history(DOMAIN, RECEIPT)] == expected

    asyncio.run(run())


def test_pages_join_up_to_the_whole_history(gw: LiveGateway) -> None:
    lifecycle(gw)
    settled(gw)
    seen, token, pages = [], "", 0
    while True:
        response = raw_history(gw, "regulator", "csrc", page_size=2, page_token=token)
        seen += [e.entry.index for e in response.events]
        pages += 1
        token = response.next_page_token
        if not token:
            break
    whole = gw.regulator().asset_history(DOMAIN, RECEIPT)
    assert seen == [e.entry.index for e in whole]
    assert pages == 4  # 7 events, 2 a page


def test_refusals_say_why_and_change_nothing(gw: LiveGateway) -> None:
    lifecycle(gw)
    bank_c, bank_d = gw.bank("bank-c"), gw.bank("bank-d")
    previous = consent(gw, bank_c, HOLDER)  # the holder before the transfer
    current = consent(gw, bank_c, NEW_HOLDER)
    gw.provider("registry-1").put_record(
        domain="business_registration",
        subject=NEW_HOLDER,
        record_id=live.BUSINESS_FIELDS["uscc"],
        fields=live.BUSINESS_FIELDS,
    )
    check = bank_c.request_consent(
        owner=NEW_HOLDER,
        domain="business_registration",
        purpose="counterparty_check",
        claims=["in_good_standing"],
        record_id=live.BUSINESS_FIELDS["uscc"],
    )
    counterparty = gw.owner(NEW_HOLDER).approve(check.id)
    settled(gw)
    before = live.leaves(gw)

    def refused(error: type[errors.AttestgateError], bank: BankClient, **kwargs: Any) -> str:
        call = {"domain": DOMAIN, "asset_id": RECEIPT, "verify": False} | kwargs
        with pytest.raises(error) as caught:
            bank.asset_history(call.pop("domain"), call.pop("asset_id"), **call)
        return str(caught.value.reason)

    assert refused(errors.FailedPrecondition, bank_c, consent=previous) == "RECORD_TRANSFERRED"
    assert refused(errors.PermissionDenied, bank_d, consent=current) == "NOT_CONSENT_GRANTEE"
    wrong_purpose = refused(
        errors.PermissionDenied,
        bank_c,
        domain="business_registration",
        asset_id=live.BUSINESS_FIELDS["uscc"],
        consent=counterparty,
    )
    assert wrong_purpose == "HISTORY_NOT_ALLOWED_FOR_PURPOSE"
    other = refused(errors.PermissionDenied, bank_c, asset_id="WR-OTHER", consent=current)
    assert other == "CONSENT_NOT_FOR_ASSET"
    assert refused(errors.InvalidArgument, bank_c, consent="") == "INVALID_ARGUMENT"
    assert refused(errors.NotFound, bank_c, consent="no-such-consent") == "CONSENT_NOT_FOUND"
    income = refused(errors.InvalidArgument, bank_c, domain="income", consent=current)
    assert income == "INVALID_ARGUMENT"
    bank_c.issue(current.id)  # its one use: the consent is EXHAUSTED, no longer ACTIVE
    assert refused(errors.FailedPrecondition, bank_c, consent=current) == "CONSENT_NOT_ACTIVE"
    with pytest.raises(errors.NotFound) as unknown:
        gw.regulator().asset_history(DOMAIN, "WR-NEVER")
    assert unknown.value.reason == "RECORD_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as owner_call:  # owners read their activity instead
        raw_history(gw, "owner", NEW_HOLDER)
    assert owner_call.value.code() is grpc.StatusCode.PERMISSION_DENIED
    after = live.leaves(gw)
    assert after[: len(before)] == before
    issued = [json_object(leaf, max_depth=8)["type"] for leaf in after[len(before) :]]
    assert set(issued) <= {"attestation.issued", "consent.exhausted"}  # only the issue wrote


def test_a_forged_checkpoint_or_proof_fails_verification(gw: LiveGateway) -> None:
    lifecycle(gw)
    settled(gw)
    response = raw_history(gw, "regulator", "csrc")
    key = opening.verifier(gw.vkey)
    opener = history.wire_checkpoint_opener(key, key.name)
    assert len(history.history_page(response, opener)) == 7  # as sent: every proof checks
    tampered = record_pb2.GetAssetHistoryResponse()
    tampered.CopyFrom(response)
    proof = tampered.events[3].inclusion_proof
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    with pytest.raises(LogVerificationError, match="inclusion proof of event"):
        history.history_page(tampered, opener)
    edited = record_pb2.GetAssetHistoryResponse()
    edited.CopyFrom(response)
    edited.events[0].entry.data = edited.events[0].entry.data.replace(b"allow", b"deny!")
    with pytest.raises(LogVerificationError):
        history.history_page(edited, opener)
    other = live.start_live(gw.config.data_dir.parent / "other", FixedClock(gw.clock.now()))
    try:
        with pytest.raises(LogVerificationError):  # another log's key: the note does not verify
            gw.regulator(vkey=other.vkey).asset_history(DOMAIN, RECEIPT)
    finally:
        other.close()
