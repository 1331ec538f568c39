"""The demo's asset and registry scenes: a warehouse receipt pledged once (a second bank's pledge
refused), a patent pledge loan, and a counterparty check of a company in closure."""

from __future__ import annotations

from attestgate.gateway.demo.cast import CaseRecord, Cast, claims_text, json_claims
from attestgate.gateway.demo.report import Report
from attestgate.gateway.demo.scenes import Ask, consent, redeem_and_retry
from attestgate.protocol.reasons import Reason


def warehouse(report: Report, cast: Cast) -> CaseRecord:
    """Both banks get an attestation while the receipt is free; only the first pledge holds."""
    claims = ("receipt_id", "commodity", "quantity", "unit", "warehouse", "unencumbered")
    record = cast.stage.name("WR-2026-0001")
    banks = ("bank-a", "bank-b")
    held = []
    for bank in banks:
        ask = Ask(bank, "trader", "warehouse_receipt", "pledge_financing", claims, record)
        held.append(cast.banks[bank].issue(consent(report, cast, ask).id))
    report.expect(
        all(h.claims.get("unencumbered") is True for h in held),
        f"both banks hold an attestation while the receipt is free: {claims_text(held[0].claims)}",
    )
    tx = cast.stage.name("pledge-wr-a")
    case = redeem_and_retry(report, cast, held[0], bank="bank-a", tx=tx, domain="warehouse_receipt")
    report.refused(
        lambda: cast.banks["bank-b"].redeem(
            held[1], transaction_ref=cast.stage.name("pledge-wr-b")
        ),
        Reason.CAPACITY_EXHAUSTED,
        f"{cast.bank_id('bank-b')}'s pledge of the same receipt is refused: no double pledge",
    )
    return case


def patent(report: Report, cast: Cast) -> CaseRecord:
    """An IP-backed loan: the patent is valid, owned by the applicant, and pledged once."""
    claims = (
        "patent_no", "title", "patent_status", "expiry_date", "owned_by_subject", "unencumbered",
    )  # fmt: skip
    ask = Ask(
        "bank-b", "inventor", "patent", "ip_pledge_loan", claims,
        cast.stage.name("ZL202410000001.1"),
    )  # fmt: skip
    bank = cast.banks["bank-b"]
    held = bank.issue(consent(report, cast, ask).id)
    report.expect(
        held.claims.get("owned_by_subject") is True
        and held.claims.get("unencumbered") is True
        and held.claims.get("patent_status") == "VALID",
        f"the patent can back the loan: {claims_text(held.claims)}",
    )
    report.expect(bank.verify(held.token) == json_claims(held.claims), "verified offline")
    tx = cast.stage.name("ip-loan-0001")
    return redeem_and_retry(report, cast, held, bank="bank-b", tx=tx, domain="patent")


def company(report: Report, cast: Cast) -> CaseRecord:
    """A counterparty check: the company is in closure, still registered; no personal id leaves."""
    claims = ("name", "registration_status", "closure_end", "in_good_standing")
    ask = Ask(
        "bank-a", "company", "business_registration", "counterparty_check", claims,
        cast.stage.name("91440300MA5X"),
    )  # fmt: skip
    held = cast.banks["bank-a"].issue(
        consent(report, cast, ask).id, claims=[*claims, "legal_rep_id"]
    )
    report.expect(
        held.claims.get("registration_status") == "CLOSURE"
        and held.claims.get("in_good_standing") is True,
        f"in closure and within its window, so still registered: {claims_text(held.claims)}",
    )
    withheld = {w.claim: w.reason for w in held.withheld}
    report.expect(
        "legal_rep_id" in withheld and "legal_rep_id" not in held.claims,
        f"the legal representative's id never leaves ({withheld.get('legal_rep_id')})",
    )
    tx = cast.stage.name("kyc-0001")
    return redeem_and_retry(
        report, cast, held, bank="bank-a", tx=tx, domain="business_registration"
    )
