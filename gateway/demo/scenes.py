"""The demo's scenes: providers upload, then the four domains end to end (DESIGN.md "Flow").

Each scene plays the parties through the SDK, prints what happens and checks what must hold; the
redemption it keeps as evidence comes back as a ``CaseRecord``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.demo.cast import CaseRecord, Cast, claims_text, json_claims
from attestgate.gateway.demo.report import Report, money
from attestgate.protocol.jose import b64url_decode, json_loads, json_object, parse_compact_jws
from attestgate.protocol.reasons import Reason
from attestgate.sdk.types import Attestation, ClaimValue, Consent

USD_RATE = "7.1234"
"""CNY per USD in the rate table the tax bureau uploads."""
AFTER_TAX_INCOME = 61_234_500  # CNY 612,345.00 in fen
FIRST_PURCHASE = 5_000_000  # USD 50,000.00 in cents
SECOND_PURCHASE = 4_000_000  # USD 40,000.00: more than what the first purchase leaves
HIDDEN = {"after_tax_income", "gross_income", "tax_paid", "taxpayer_id", "legal_rep_id"}


def upload(report: Report, cast: Cast) -> None:
    """The four providers upload signed records (and the tax bureau an FX rate table)."""
    name, today = cast.stage.name, SystemClock().now().date()
    records: list[tuple[str, str, str, str, dict[str, Any]]] = [
        ("tax", "income", cast.owner_id("person"), name("inc-2025"), {
            "tax_year": 2025, "gross_income": 80_000_000, "after_tax_income": AFTER_TAX_INCOME,
            "tax_paid": 18_765_500, "employer_name": "ACME Shenzhen",
            "taxpayer_id": "91440300TAX0001"}),
        ("warehouse", "warehouse_receipt", cast.owner_id("trader"), name("WR-2026-0001"), {
            "receipt_id": name("WR-2026-0001"), "commodity": "copper cathode", "quantity": 250,
            "unit": "t", "warehouse": "Qianhai Bonded Warehouse 3", "status": "ACTIVE",
            "holder": cast.owner_id("trader")}),
        ("ip", "patent", cast.owner_id("inventor"), name("ZL202410000001.1"), {
            "patent_no": name("ZL202410000001.1"), "title": "Low-loss optical coupler",
            "status": "VALID", "owner": cast.owner_id("inventor"),
            "expiry_date": date(2044, 3, 1)}),
        ("registry", "business_registration", cast.owner_id("company"), name("91440300MA5X"), {
            "uscc": "91440300MA5XXXXXX1", "name": "Shenzhen Example Co., Ltd.",
            "status": "CLOSURE", "closure_start": today - timedelta(days=365),
            "closure_end": today + timedelta(days=365), "legal_rep_id": "440300199001011234"}),
    ]  # fmt: skip
    for role, domain, subject, record_id, fields in records:
        provider = cast.providers[role]
        receipt = provider.put_record(
            domain=domain, subject=subject, record_id=record_id, fields=fields
        )
        report.expect(
            receipt.version >= 1,
            f"{provider.provider_id} signed and uploaded {domain} record {record_id} "
            f"(log entry {receipt.log_index})",
        )
    table = cast.providers["tax"].put_fx_rates(table_id=name("pboc-demo"), rates={"USD": USD_RATE})
    report.expect(table.rate_count == 1, f"tax bureau uploaded FX table {table.table_id}: "
                  f"1 USD = {USD_RATE} CNY")  # fmt: skip
    _, domain, subject, record_id, fields = records[0]
    forged = {**fields, "after_tax_income": 10**11}  # CNY 1 bn
    report.refused(
        lambda: cast.providers["warehouse"].put_record(
            domain=domain, subject=subject, record_id=record_id, fields=forged
        ),
        Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
        "the warehouse's key may not overwrite the tax bureau's income record",
    )


@dataclass(frozen=True)
class Ask:
    """A consent request: ``bank`` asks ``owner`` (cast roles) for ``claims`` of a record."""

    bank: str
    owner: str
    domain: str
    purpose: str
    claims: tuple[str, ...]
    record_id: str
    max_amount: tuple[int, str] | None = None
    """``(minor units, currency)``: the amount bound the owner approves (fx_purchase needs it)."""


def consent(report: Report, cast: Cast, ask: Ask) -> Consent:
    """The bank asks; the owner sees the request pending and approves it."""
    owner_id = cast.owner_id(ask.owner)
    request = cast.banks[ask.bank].request_consent(
        owner=owner_id,
        domain=ask.domain,
        purpose=ask.purpose,
        claims=ask.claims,
        record_id=ask.record_id,
        bounds={"amount": ask.max_amount[0], "currency": ask.max_amount[1]}
        if ask.max_amount
        else None,
    )
    bounded = f" (at most {money(*ask.max_amount)})" if ask.max_amount else ""
    report.say(
        f"{cast.bank_id(ask.bank)} asks {owner_id} for {ask.domain}/{ask.purpose}: "
        + ", ".join(ask.claims)
        + bounded
    )
    pending = [r.id for r in cast.owners[ask.owner].pending_requests()]
    report.expect(request.id in pending, f"{owner_id} sees the request pending")
    granted = cast.owners[ask.owner].approve(request.id)
    report.expect(
        granted.state.value == "ACTIVE",
        f"{owner_id} approves: consent {granted.id} is {granted.state.value}, signed by the "
        f"gateway (artefact hash {granted.artefact_hash[:12]}...)",
    )
    return granted


_MAX_DEPTH = 16  # our own attestations, decoded for display only


def disclosures(token: str) -> list[tuple[str, object]]:
    """(name, value) of each object-property disclosure in the token (RFC 9901 §4.2.1:
    ``[salt, name, value]``), decoded here only to show what the bank could read."""
    found: list[tuple[str, object]] = []
    for part in token.split("~")[1:]:
        if part:
            decoded = json_loads(b64url_decode(part), max_depth=_MAX_DEPTH)
            if isinstance(decoded, list) and len(decoded) == 3:
                found.append((str(decoded[1]), decoded[2]))
    return found


def issuer_of(token: str) -> str:
    """The ``iss`` of an attestation (read only to name the KB-JWT audience; verified before)."""
    return str(_unverified_claims(token)["iss"])


def _unverified_claims(token: str) -> dict[str, Any]:
    """The issuer-signed claims of an attestation, read for display (verified elsewhere)."""
    jws = parse_compact_jws(token.split("~", 1)[0])
    return json_object(jws.payload, max_depth=_MAX_DEPTH)


def redeem_and_retry(
    report: Report, cast: Cast, attestation: Attestation, *, bank: str, tx: str, domain: str
) -> CaseRecord:
    """Redeem once (kept as evidence), then try again: reuse must be refused."""
    client = cast.banks[bank]
    redemption = client.redeem(attestation, transaction_ref=tx)
    consumed = (
        f"{money(redemption.consumed_amount, redemption.consumed_currency)} consumed"
        if redemption.consumption == "amount"
        else {"pledge": "the asset is now pledged to it", "none": "nothing consumed"}.get(
            redemption.consumption, redemption.consumption
        )
    )
    report.expect(
        redemption.jti == attestation.jti,
        f"{cast.bank_id(bank)} redeems for {tx}: {consumed} (log entry {redemption.log_index})",
    )
    error = report.refused(
        lambda: client.redeem(attestation, transaction_ref=tx + "-again"),
        Reason.ATTESTATION_ALREADY_REDEEMED,
        "reuse refused",
    )
    second = (error.code, str(error.reason)) if error else ("OK", "")
    vct = _unverified_claims(attestation.token)["vct"]
    return CaseRecord(
        domain=domain,
        purpose=_purpose_of(str(vct)),
        consent_id=attestation.consent_id,
        attestation=attestation,
        presentation=client.presentations[tx],
        kb_aud=issuer_of(attestation.token),
        transaction_ref=tx,
        redemption=redemption,
        second_redeem=second,
    )


def _purpose_of(vct: str) -> str:
    """``<issuer>/types/<domain>/<purpose>/v1``, or ``urn:attestgate:<domain>:<purpose>:v1``
    from a gateway without its public face."""
    return vct.split("/")[-2] if vct.startswith("https://") else vct.split(":")[3]


def income(report: Report, cast: Cast) -> CaseRecord:
    """Income -> FX purchase: covered, the income never shown, reuse and overdraw refused."""
    bank, alice = cast.banks["bank-a"], cast.owner_id("person")
    ask = Ask(
        "bank-a", "person", "income", "fx_purchase", ("tax_year", "covers_amount"),
        cast.stage.name("inc-2025"), (FIRST_PURCHASE, "USD"),
    )  # fmt: skip
    granted = consent(report, cast, ask)
    report.say(
        f"{cast.bank_id('bank-a')} asks whether the income covers {money(FIRST_PURCHASE, 'USD')}"
        " (and, to test the gateway, for the income itself)"
    )
    usd: dict[str, ClaimValue] = {"amount": FIRST_PURCHASE, "currency": "USD"}
    first = bank.issue(granted.id, params=usd, claims=[*ask.claims, "after_tax_income"])
    report.expect(
        first.claims.get("covers_amount") is True,
        f"covered: the attestation says {claims_text(first.claims)}",
    )
    withheld = {w.claim: w.reason for w in first.withheld}
    readable = disclosures(first.token)
    report.expect(
        "after_tax_income" in withheld
        and not HIDDEN & ({name for name, _ in readable} | set(first.claims))
        and all(value != AFTER_TAX_INCOME for _, value in readable),
        "the income is never shown: after_tax_income withheld "
        f"({withheld.get('after_tax_income', 'not withheld!')}), no disclosure carries it",
    )
    report.expect(
        bank.verify(first.token) == json_claims(first.claims),
        "the bank verifies the SD-JWT offline against the gateway's JWKS",
    )
    tx = cast.stage.name("fx-0001")
    case = redeem_and_retry(report, cast, first, bank="bank-a", tx=tx, domain="income")
    report.say(f"{alice} wants to buy {money(SECOND_PURCHASE, 'USD')} more: a new consent")
    again = consent(report, cast, ask)
    second = bank.issue(again.id, params={"amount": SECOND_PURCHASE, "currency": "USD"})
    report.expect(
        second.claims.get("covers_amount") is False,
        "not covered by what the first purchase left: covers_amount = false",
    )
    report.refused(
        lambda: bank.redeem(second, transaction_ref=cast.stage.name("fx-0002")),
        Reason.CAPACITY_EXHAUSTED,
        "the second purchase beyond the remaining income is refused",
    )
    return case
