"""RecordManager without a server: a signed upload is verified, sealed in the vault and audited;
a bad signature, a missing role or an invalid record is refused and stores nothing."""

from __future__ import annotations

import pytest

from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.records import RecordManager, latest_fx_table
from attestgate.protocol.reasons import DomainError, Reason
from tests.unit.gateway.usecases.conftest import INCOME, TAX, log_size, signed_record, signer


def stored_fields(parts: GatewayParts) -> dict[str, object]:
    record = parts.vault.get(parts.storage.read(), domain="income", subject="alice", record_id=None)
    return dict(record.fields)


def test_upload_is_sealed_versioned_and_audited(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    uploads = signer(parts, TAX, ("tax_bureau",), clock)
    before = log_size(parts)
    first = records.put_record(TAX, signed_record(uploads), None)
    second = records.put_record(TAX, signed_record(uploads, tax_year=2026), None)
    assert (first.version, second.version) == (1, 2)
    assert second.log_index == first.log_index + 1
    assert log_size(parts) == before + 2
    assert stored_fields(parts)["tax_year"] == 2026  # the latest version, decrypted
    raw = parts.storage.read().execute("SELECT * FROM records").fetchall()
    assert "ACME Shenzhen" not in repr(raw)  # sealed at rest


def refused_and_nothing_stored(
    parts: GatewayParts, records: RecordManager, reason: Reason, caller: Caller, signed: str
) -> None:
    before = log_size(parts)
    with pytest.raises(DomainError) as raised:
        records.put_record(caller, signed, None)
    assert raised.value.reason is reason
    assert parts.storage.read().execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0
    assert log_size(parts) == before


def test_a_tampered_upload_is_refused(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    uploads = signer(parts, TAX, ("tax_bureau",), clock)
    header, _, signature = signed_record(uploads).split(".")
    _, other_payload, _ = signed_record(uploads, after_tax_income=99_000_000).split(".")
    forged = f"{header}.{other_payload}.{signature}"  # a signature over another payload
    refused_and_nothing_stored(parts, records, Reason.RECORD_SIGNATURE_INVALID, TAX, forged)


def test_a_provider_without_the_domains_role_is_refused(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    signed = signed_record(signer(parts, TAX, ("fx_authority",), clock))
    refused_and_nothing_stored(parts, records, Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN, TAX, signed)


def test_an_upload_signed_for_another_provider_is_refused(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    signed = signed_record(signer(parts, TAX, ("tax_bureau",), clock))
    other = Caller("other-bureau", "provider")
    refused_and_nothing_stored(parts, records, Reason.UNKNOWN_PROVIDER, other, signed)


def test_a_record_outside_the_catalog_is_refused(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    signed = signed_record(signer(parts, TAX, ("tax_bureau",), clock), tax_year="2025")
    refused_and_nothing_stored(parts, records, Reason.RECORD_INVALID, TAX, signed)
    assert "tax_year" in INCOME  # the field exists: only its type is wrong


def test_fx_rates_are_stored_for_covers_amount(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    uploads = signer(parts, TAX, ("fx_authority",), clock)
    request = uploads.rates_request(
        table_id="pboc-1", rates={"USD": "7.1234"}, base="CNY", effective_at=None
    )
    receipt = records.put_fx_rates(TAX, request.signed_rates, None)
    assert receipt.rate_count == 1
    table = latest_fx_table(parts.storage.read())
    assert table is not None
    assert table.id == "pboc-1"
