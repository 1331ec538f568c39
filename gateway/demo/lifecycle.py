"""The demo's asset lifecycle scene (issue 19): after the pledges of ``assets``, bank-a's loan on
the warehouse receipt is repaid and released, bank-b pledges the receipt, repays and releases, the
receipt is transferred to a new holder, and the regulator reads its history with every inclusion
proof checked; the patent loan is repaid and released."""

from __future__ import annotations

from attestgate.gateway.demo.cast import CaseRecord, Cast
from attestgate.gateway.demo.evidence import checkpoint_covering
from attestgate.gateway.demo.report import Report
from attestgate.gateway.demo.scenes import Ask, consent
from attestgate.sdk.types import Redemption

RECEIPT_LIFE = [
    "record.put",
    "attestation.redeemed",
    "pledge.released",
    "attestation.redeemed",
    "pledge.released",
    "record.transferred",
]
"""The receipt's history after this scene: registered, pledged to bank-a, released, pledged to
bank-b, released, transferred."""


def lifecycle(report: Report, cast: Cast, receipt: CaseRecord, patent: CaseRecord) -> None:
    """Release, pledge again, transfer, provenance; the patent loan repaid."""
    _release(report, cast, "bank-a", receipt.redemption, "the copper loan")
    second = _pledge_again(report, cast)
    _release(report, cast, "bank-b", second, "its loan")
    sold = _transfer(report, cast)
    checkpoint_covering(cast.audit, sold + 1)  # the history stops at the latest checkpoint
    _history(report, cast)
    repaid = _release(report, cast, "bank-b", patent.redemption, "the patent loan")
    checkpoint_covering(cast.audit, repaid + 1)
    events = cast.audit.asset_history("patent", cast.stage.name("ZL202410000001.1"))
    report.expect(
        [e.type for e in events][-1] == "pledge.released",
        f"the patent's verified history ends with its release ({len(events)} events): it can "
        "back a new loan",
    )


def _release(report: Report, cast: Cast, bank: str, redemption: Redemption, loan: str) -> int:
    """The pledgee releases (the loan is repaid); the release's log index."""
    released = cast.banks[bank].release_pledge(redemption, reason="REPAID")
    report.expect(
        released.released_by == cast.bank_id(bank) and released.reason == "REPAID",
        f"{cast.bank_id(bank)} releases its pledge of {released.asset_id}: {loan} is repaid "
        f"(log entry {released.log_index})",
    )
    return released.log_index


def _pledge_again(report: Report, cast: Cast) -> Redemption:
    record = cast.stage.name("WR-2026-0001")
    ask = Ask(
        "bank-b", "trader", "warehouse_receipt", "pledge_financing", ("unencumbered",), record
    )
    held = cast.banks["bank-b"].issue(consent(report, cast, ask).id)
    report.expect(held.claims.get("unencumbered") is True, "the released receipt is free again")
    redemption = cast.banks["bank-b"].redeem(held, transaction_ref=cast.stage.name("wr-b-2"))
    report.expect(
        redemption.consumption == "pledge",
        f"{cast.bank_id('bank-b')} pledges it now (log entry {redemption.log_index})",
    )
    return redemption


def _transfer(report: Report, cast: Cast) -> int:
    """The warehouse records the sale to a new holder; the transfer's log index."""
    record, buyer = cast.stage.name("WR-2026-0001"), cast.stage.name("beta-metals")
    receipt = cast.providers["warehouse"].put_record(
        domain="warehouse_receipt",
        subject=buyer,
        record_id=record,
        fields={
            "receipt_id": record, "commodity": "copper cathode", "quantity": 250, "unit": "t",
            "warehouse": "Qianhai Bonded Warehouse 3", "status": "ACTIVE", "holder": buyer,
        },
    )  # fmt: skip
    report.expect(
        receipt.version == 2,
        f"the warehouse records the sale: {record} now belongs to {buyer} (version "
        f"{receipt.version}, log entry {receipt.log_index})",
    )
    return receipt.log_index


def _history(report: Report, cast: Cast) -> None:
    record = cast.stage.name("WR-2026-0001")
    events = cast.audit.asset_history("warehouse_receipt", record, verify=True)
    report.expect(
        [e.type for e in events] == RECEIPT_LIFE,
        f"the regulator reads {record}'s history, {len(events)} events each checked against "
        "a signed checkpoint (inclusion proofs): " + ", ".join(e.type for e in events),
    )
    pledgees = [e.entry.event["actor_id"] for e in events if e.type == "attestation.redeemed"]
    holders = {e.entry.event["subject"] for e in events}
    report.expect(
        pledgees == [cast.bank_id("bank-a"), cast.bank_id("bank-b")] and len(holders) == 2,
        f"pledged by {' then '.join(pledgees)}; two holders, seen only as pseudonyms "
        f"({', '.join(sorted(h[:10] + '...' for h in holders))})",
    )
