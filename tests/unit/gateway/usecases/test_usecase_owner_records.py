"""OwnerRecords without a server: the consent screen reads, from the owner's own record, only the
plain claims the purpose would disclose (never the income, never a predicate), from the named
record or the latest one; nothing when there is no record or it was erased, and nothing of
another subject's record."""

from __future__ import annotations

from datetime import timedelta

from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.owner_records import OwnerRecords
from attestgate.gateway.usecases.records import RecordManager
from tests.unit.gateway.usecases.conftest import ALICE, TAX, log_size, signed_record, signer

ASKED = ("tax_year", "covers_amount", "after_tax_income")  # the last one is never disclosed


def _reader(parts: GatewayParts) -> OwnerRecords:
    return OwnerRecords(storage=parts.storage, catalog=parts.catalog, vault=parts.vault)


def _values(reader: OwnerRecords, caller: Caller, record_id: str | None) -> dict[str, object]:
    return dict(
        reader.disclosed_values(
            caller, domain="income", purpose="fx_purchase", record_id=record_id, claims=ASKED
        )
    )


def test_named_and_latest_record_give_only_the_plain_disclosed_claims(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    reader = _reader(parts)
    assert _values(reader, ALICE, None) == {}  # nothing uploaded yet
    uploads = signer(parts, TAX, ("tax_bureau",), clock)
    records.put_record(TAX, signed_record(uploads, "inc-2024", tax_year=2024), None)
    clock.advance(timedelta(seconds=1))  # "latest" is the newest upload
    records.put_record(TAX, signed_record(uploads, "inc-2025", tax_year=2025), None)
    before = log_size(parts)
    assert _values(reader, ALICE, "inc-2024") == {"tax_year": 2024}
    assert _values(reader, ALICE, None) == {"tax_year": 2025}  # the latest upload
    assert _values(reader, ALICE, "inc-missing") == {}
    assert _values(reader, Caller("bob", "owner"), "inc-2025") == {}  # alice's, not bob's
    assert log_size(parts) == before  # reading one's own record logs and changes nothing


def test_an_erased_owner_has_nothing_to_show(
    parts: GatewayParts, records: RecordManager, clock: FixedClock
) -> None:
    reader = _reader(parts)
    uploads = signer(parts, TAX, ("tax_bureau",), clock)
    records.put_record(TAX, signed_record(uploads), None)
    assert _values(reader, ALICE, None) == {"tax_year": 2025}
    records.erase_subject(TAX, "alice", None)
    assert _values(reader, ALICE, None) == {}
    assert _values(reader, ALICE, "inc-2025") == {}
