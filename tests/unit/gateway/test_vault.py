"""Records at rest: envelope encryption, AAD binding, KEK rotation, crypto-shredding."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attestgate.gateway.persistence import vault
from attestgate.gateway.persistence.migrate import applied_version, migrate
from attestgate.gateway.persistence.storage import connect
from attestgate.protocol.reasons import DomainError, Reason

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FIELDS = {
    "tax_year": 2025,
    "after_tax_income": 61234500,
    "employer_name": "Zhongshan Precision Works",
    "taxpayer_id": "91310115MA1K4TQX7Y",
}


class Keks:
    """A real in-memory key-encryption-key source with rotation."""

    def __init__(self) -> None:
        self.keys = {"kek-1": os.urandom(32)}
        self.current = "kek-1"

    def current_kek(self) -> tuple[str, bytes]:
        return self.current, self.keys[self.current]

    def kek(self, kid: str) -> bytes:
        return self.keys[kid]

    def rotate(self) -> None:
        kid = f"kek-{len(self.keys) + 1}"
        self.keys[kid] = os.urandom(32)
        self.current = kid


def pseudonym(subject: str) -> str:
    return hmac.new(b"k" * 32, subject.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path / "vault.db")
    vault.ensure_schema(conn)
    yield conn
    conn.close()


@pytest.fixture
def keks() -> Keks:
    return Keks()


def put(
    v: vault.RecordVault, db: sqlite3.Connection, record_id: str = "inc-2025", **fields: object
) -> int:
    merged = {**FIELDS, **fields}
    return v.put(
        db,
        domain="income",
        record_id=record_id,
        subject="owner-1",
        provider_id="tax-bureau",
        fields=merged,  # type: ignore[arg-type]
        now=NOW,
    )


def test_round_trip_and_versions(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    assert put(v, db) == 1
    assert put(v, db, after_tax_income=1) == 2
    record = v.get(db, domain="income", subject="owner-1", record_id="inc-2025")
    assert record.version == 2
    assert record.fields["after_tax_income"] == 1
    assert record.subject_ref == pseudonym("owner-1")


def test_file_holds_no_plaintext(tmp_path: Path, keks: Keks) -> None:
    conn = connect(tmp_path / "plain.db")
    vault.ensure_schema(conn)
    put(vault.RecordVault(keks, pseudonym), conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for value in ("61234500", "Zhongshan Precision Works", "91310115MA1K4TQX7Y", "owner-1"):
        assert value.encode() not in raw, value


def test_swapped_ciphertexts_fail(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    put(v, db, record_id="a")
    put(v, db, record_id="b", after_tax_income=5)
    rows = {
        r[0]: (r[1], r[2]) for r in db.execute("SELECT record_id, nonce, ciphertext FROM records")
    }
    db.execute("UPDATE records SET nonce = ?, ciphertext = ? WHERE record_id = 'a'", rows["b"])
    with pytest.raises(DomainError) as err:
        v.get(db, domain="income", subject="owner-1", record_id="a")
    assert err.value.reason is Reason.INTERNAL
    assert (
        v.get(db, domain="income", subject="owner-1", record_id="b").fields["after_tax_income"] == 5
    )


def test_kek_rotation_rewraps_without_reencrypting(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    put(v, db)
    before = db.execute("SELECT ciphertext FROM records").fetchall()
    keks.rotate()
    assert v.rewrap(db) == 1
    assert db.execute("SELECT kek_id FROM subject_keys").fetchall() == [("kek-2",)]
    assert db.execute("SELECT ciphertext FROM records").fetchall() == before
    del keks.keys["kek-1"]  # the old KEK is no longer needed
    assert v.get(db, domain="income", subject="owner-1", record_id=None).version == 1
    assert v.rewrap(db) == 0


def test_erasure_shreds_and_later_reads_fail(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    put(v, db)
    put(v, db, record_id="inc-2024")
    assert v.erase(db, "owner-1", NOW, domains={"income"}) == 2
    assert db.execute("SELECT COUNT(*) FROM subject_keys").fetchone() == (0,)
    for record_id in ("inc-2025", None):
        with pytest.raises(DomainError) as err:
            v.get(db, domain="income", subject="owner-1", record_id=record_id)
        assert err.value.reason is Reason.DATA_ERASED
    with pytest.raises(DomainError) as err:
        put(v, db)
    assert err.value.reason is Reason.DATA_ERASED


def test_record_id_of_another_subject_is_refused(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    put(v, db)
    with pytest.raises(DomainError) as err:
        v.put(
            db,
            domain="income",
            record_id="inc-2025",
            subject="owner-2",
            provider_id="p",
            fields={"tax_year": 1},
            now=NOW,
        )
    assert err.value.reason is Reason.RECORD_VERSION_CONFLICT


def test_missing_record(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    with pytest.raises(DomainError) as err:
        v.get(db, domain="patent", subject="nobody", record_id=None)
    assert err.value.reason is Reason.RECORD_NOT_FOUND


def test_erasure_of_some_domains_keeps_the_others(db: sqlite3.Connection, keks: Keks) -> None:
    v = vault.RecordVault(keks, pseudonym)
    put(v, db)
    patent = {"patent_no": "ZL1", "title": "Coupler", "status": "VALID"}
    v.put(db, domain="patent", record_id="ZL1", subject="owner-1", provider_id="ip",
          fields=patent, now=NOW)  # fmt: skip
    key_before = db.execute("SELECT wrapped_key FROM subject_keys").fetchone()
    sealed_before = db.execute("SELECT ciphertext FROM records WHERE domain = 'patent'").fetchone()
    assert v.erase(db, "owner-1", NOW, domains={"income", "warehouse_receipt"}) == 1
    # The old data key is gone: the patent record lives on, re-sealed under a new one.
    assert db.execute("SELECT wrapped_key FROM subject_keys").fetchone() != key_before
    assert (
        db.execute("SELECT ciphertext FROM records WHERE domain = 'patent'").fetchone()
        != sealed_before
    )
    assert v.get(db, domain="patent", subject="owner-1", record_id=None).fields == patent
    for domain in ("income", "warehouse_receipt"):
        with pytest.raises(DomainError) as err:
            v.get(db, domain=domain, subject="owner-1", record_id=None)
        assert err.value.reason is Reason.DATA_ERASED
    with pytest.raises(DomainError) as err:
        put(v, db)
    assert err.value.reason is Reason.DATA_ERASED
    v.put(
        db,
        domain="patent",
        record_id="ZL1",
        subject="owner-1",
        provider_id="ip",
        fields=patent,
        now=NOW,
    )  # fmt: skip  (the kept domain still takes uploads)
    rows = db.execute("SELECT domain, records FROM domain_erasures ORDER BY domain").fetchall()
    assert rows == [("income", 1), ("warehouse_receipt", 0)]


def test_erasure_needs_a_domain(db: sqlite3.Connection, keks: Keks) -> None:
    with pytest.raises(ValueError, match="at least one domain"):
        vault.RecordVault(keks, pseudonym).erase(db, "owner-1", NOW, domains=())


def test_an_erasure_from_before_domains_still_covers_every_domain(
    tmp_path: Path, keks: Keks
) -> None:
    conn = connect(tmp_path / "old.db")
    migrate(conn, now=NOW, target=1)  # a database of schema version 1 with a full erasure
    assert applied_version(conn) == 1
    conn.execute(
        "INSERT INTO erasures VALUES (?, '2026-01-02T00:00:00+00:00', 3)", (pseudonym("owner-1"),)
    )
    migrate(conn, now=NOW)
    v = vault.RecordVault(keks, pseudonym)
    for domain in ("income", "patent"):
        with pytest.raises(DomainError) as err:
            v.put(conn, domain=domain, record_id="r", subject="owner-1", provider_id="p",
                  fields={"x": 1}, now=NOW)  # fmt: skip
        assert err.value.reason is Reason.DATA_ERASED
    v.put(conn, domain="income", record_id="r", subject="owner-2", provider_id="p",
          fields={"x": 1}, now=NOW)  # fmt: skip
