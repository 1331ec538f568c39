"""Erasure leaves nothing behind (issue 14, section 4, "Erasure leftovers").

Before: after ``EraseSubject`` the disclosed values of an attestation (a patent title) stayed in
plaintext in its stored response, ``GetAttestation`` still returned them, and consents kept the
subject id. Now an attestation's response is sealed under the subject's derived data key of the
domain from the start (it never reaches the disk in plaintext), the erasure deletes that key,
``GetAttestation`` answers ``DATA_ERASED``, and consents, requests and their events name the
owner as ``erased:<pseudonym>``. Checked on the bytes of the SQLite files (database and WAL) and
on every row of every PostgreSQL table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attestgate.audit.events import AuditEvent
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from attestgate.sdk import errors
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.integration.live import LiveGateway

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server

SUBJECT = "acme-ip-7f3a9c"
TITLE = "Quasi-lossless photonic demultiplexer 4471"
PATENT_NO = "ZL202410004471.9"
CLAIMS = ["patent_no", "title", "patent_status", "expiry_date"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    """A live gateway on SQLite, and on PostgreSQL when a server answers."""
    changes: dict[str, str] = {}
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        assert main(["db", "migrate", "--db", url, "--data-dir", str(tmp_path / "gw")]) == 0
        changes["db"] = url
    started = live.start_live(tmp_path / "gw", clock, **changes)
    try:
        yield started
    finally:
        started.close()


def _consent(gw: LiveGateway, bank: Any) -> Any:
    request = bank.request_consent(
        owner=SUBJECT, domain="patent", purpose="ip_pledge_loan", claims=CLAIMS,
        record_id=PATENT_NO,
    )  # fmt: skip
    return gw.owner(SUBJECT).approve(request.id)


def _pledge_attestation(gw: LiveGateway) -> tuple[Any, Any]:
    """The patent of SUBJECT uploaded by the IP office, a consent for bank-a, one attestation
    disclosing the title; returns (bank client, attestation)."""
    office = gw.provider("ip-office", roles=["ip_office"])
    fields = {**live.patent_fields(SUBJECT), "title": TITLE, "patent_no": PATENT_NO}
    office.put_record(domain="patent", subject=SUBJECT, record_id=PATENT_NO, fields=fields)
    bank = gw.bank("bank-a")
    attestation = bank.issue(_consent(gw, bank).id, params={})
    assert attestation.claims["title"] == TITLE
    return bank, attestation


def _stored_bytes(gw: LiveGateway) -> bytes:
    """Everything the database holds: the SQLite files, or every row of every PostgreSQL table."""
    if gw.config.db.startswith("postgresql"):
        conn = gw.parts.storage.read()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        dump = []
        for (table,) in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                dump.append(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)))
        return "\n".join(dump).encode("utf-8", "backslashreplace")
    db = Path(gw.config.db)
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_disclosed_values_never_reach_the_disk_in_plaintext(gw: LiveGateway) -> None:
    _pledge_attestation(gw)
    assert TITLE.encode() not in _stored_bytes(gw)  # sealed from the start


def test_after_erasure_nothing_of_the_subject_is_left(gw: LiveGateway) -> None:
    bank, attestation = _pledge_attestation(gw)
    assert bank.get_attestation(attestation.jti).claims["title"] == TITLE
    unused = _consent(gw, bank)  # approved, never used
    gw.provider("ip-office-2", roles=["ip_office"]).erase_subject(SUBJECT)

    with pytest.raises(errors.DataErased):
        bank.get_attestation(attestation.jti)
    stored = _stored_bytes(gw)
    for value in (TITLE, SUBJECT):
        assert value.encode() not in stored, value
    used = bank.get_consent(attestation.consent_id)
    assert used.owner.startswith("erased:ps_")  # the audit log's pseudonym, not the id
    assert used.state.value == "EXHAUSTED"  # states are kept (max_uses 1, used once)
    assert bank.get_consent(unused.id).state.value == "ACTIVE"
    with pytest.raises(errors.DataErased):
        bank.issue(unused.id, params={})
    with pytest.raises(errors.DataErased):  # no pledge of a patent record that is gone
        bank.redeem(attestation, transaction_ref="loan-1")
    assert SUBJECT.encode() not in _stored_bytes(gw)  # the refusal wrote no id either


def test_an_erasure_of_another_domain_keeps_the_attestation(gw: LiveGateway) -> None:
    """The control: a tax bureau erasing the subject's income leaves the patent's attestation."""
    bank, attestation = _pledge_attestation(gw)
    gw.provider("tax-bureau", roles=["tax_bureau"]).erase_subject(SUBJECT)
    assert bank.get_attestation(attestation.jti).claims["title"] == TITLE
    assert bank.get_consent(attestation.consent_id).owner == SUBJECT


INCOME_RECORD = "inc-2025-7f3a9c"


def test_an_income_erasure_leaves_no_record_id_and_keeps_the_owner_s_pseudonym(
    gw: LiveGateway,
) -> None:
    """Income record ids are personal (not ``record_id_public``): after the erasure no table
    (consents, requests, attestations, capacity ledger, evaluation budgets) holds one, and a
    later refusal about the erased owner's consent names the owner by the same pseudonym as
    every earlier leaf, not by a pseudonym of the tombstone."""
    tax = gw.provider("tax-bureau", roles=["tax_bureau", "fx_authority"])
    tax.put_record(
        domain="income", subject=SUBJECT, record_id=INCOME_RECORD, fields=live.INCOME_FIELDS
    )
    tax.put_fx_rates(table_id="pboc-1", rates={"USD": live.USD_RATE})
    bank = gw.bank("bank-a")
    used, unused = _income_consent(gw, bank), _income_consent(gw, bank)
    bank.issue(used.id, params={"amount": 1_000_000, "currency": "USD"})
    assert INCOME_RECORD.encode() in _stored_bytes(gw)  # the control: it was there

    tax.erase_subject(SUBJECT)
    with pytest.raises(errors.DataErased):
        bank.issue(unused.id, params={"amount": 1_000_000, "currency": "USD"})
    stored = _stored_bytes(gw)
    for value in (INCOME_RECORD, SUBJECT):
        assert value.encode() not in stored, value
    refusal = _last_leaf(gw)
    assert refusal.decision.value == "deny"
    assert refusal.subject == gw.parts.trail.pseudonym(SUBJECT)


def _income_consent(gw: LiveGateway, bank: Any) -> Any:
    request = bank.request_consent(
        owner=SUBJECT, domain="income", purpose="fx_purchase",
        claims=["tax_year", "covers_amount"], record_id=INCOME_RECORD, bounds=live.FX_BOUNDS,
    )  # fmt: skip
    return gw.owner(SUBJECT).approve(request.id)


def _last_leaf(gw: LiveGateway) -> AuditEvent:
    conn = gw.parts.storage.read()
    (data,) = conn.execute("SELECT data FROM audit_leaves ORDER BY idx DESC LIMIT 1").fetchone()
    return AuditEvent.from_json(bytes(data))


def test_the_erased_owner_prefix_is_reserved(gw: LiveGateway) -> None:
    """Nobody can ask for, or sign in as, the tombstone of an erased owner's consents."""
    tombstone = "erased:" + gw.parts.trail.pseudonym(SUBJECT)
    with pytest.raises(errors.InvalidArgument, match="reserved"):
        gw.bank("bank-a").request_consent(
            owner=tombstone, domain="patent", purpose="ip_pledge_loan", claims=CLAIMS,
            record_id=PATENT_NO,
        )  # fmt: skip
    with pytest.raises(errors.AuthenticationError) as refused:
        gw.owner(tombstone).list_consents()
    assert refused.value.reason == "TOKEN_CLAIMS_INVALID"
