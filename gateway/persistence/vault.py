"""Records encrypted at rest (envelope encryption with crypto-shredding).

Each subject has a random 256-bit data key. A record version's fields are sealed with
AES-256-GCM under
that key; the associated data binds the domain, the record id, the version and the subject, so a
ciphertext moved to another record, version or subject fails to open. Data keys are stored wrapped
(AES-256-GCM) by a key-encryption key (KEK) named by its key id: rotating the KEK re-wraps the data
keys and never touches the records. Erasing a subject deletes its data key, after which its
ciphertexts can never be opened again (crypto-shredding); reads then fail with ``DATA_ERASED``.
An erasure covers some domains only (a provider erases its own domains' records): the subject's
records of other domains are re-sealed under a new data key before the old key is deleted, so the
erased ciphertexts are shredded all the same, and later uploads to an erased domain are refused.

What is derived from a subject's records and kept (an attestation's disclosed claims and signed
token) is sealed too, under a second data key per (subject, domain) (``seal_derived``); erasing a
domain deletes that key with the records, so the derived copies die with them.

Subjects are stored only as a keyed pseudonym, never as the id itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from attestgate.audit.sql import Connection
from attestgate.gateway.persistence.migrate import create_sqlite_schema
from attestgate.protocol.encoding import canonical_json
from attestgate.protocol.reasons import DomainError, Reason

NONCE_BYTES = 12
_SEALED = b"agv1:"  # sealed derived data: magic, subject ref, newline, nonce, ciphertext
ERASED_DERIVED = b"agv1:erased"
"""What stands in for derived data whose subject's records were erased (``forget_derived``)."""
UNWRAP_CACHE_SIZE = 4096
JsonValue = str | int | bool | None


class KekSource(Protocol):
    """Where key-encryption keys come from (``gateway.common.keys.KeyRing``)."""

    def current_kek(self) -> tuple[str, bytes]:
        """The (key id, 32-byte key) that wraps new data keys."""
        ...

    def kek(self, kid: str) -> bytes:
        """The key with this id (current or retired)."""
        ...


@dataclass(frozen=True)
class StoredRecord:
    """One decrypted record version."""

    domain: str
    record_id: str
    version: int
    subject_ref: str
    provider_id: str
    fields: Mapping[str, JsonValue]
    created_at: datetime


def ensure_schema(conn: sqlite3.Connection) -> None:
    """SQLite: create the gateway's tables if missing (the schema lives in
    ``gateway.persistence``)."""
    create_sqlite_schema(conn)


class RecordVault:
    """Seals, opens, versions and shreds records. Every method runs in the caller's transaction."""

    def __init__(self, keks: KekSource, pseudonym: Callable[[str], str]) -> None:
        self._keks = keks
        self._pseudonym = pseudonym
        # The subject_keys row is read on every access, so an erased subject (row deleted) is never
        # served from this cache; it only saves unwrapping a wrapped key already seen.
        self._unwrapped = lru_cache(maxsize=UNWRAP_CACHE_SIZE)(self._unwrap_uncached)

    def subject_ref(self, subject: str) -> str:
        """The stored (pseudonymous) reference of a subject."""
        return self._pseudonym(subject)

    def put(
        self,
        conn: Connection,
        *,
        domain: str,
        record_id: str,
        subject: str,
        provider_id: str,
        fields: Mapping[str, JsonValue],
        now: datetime,
        transfer: bool = False,
    ) -> int:
        """Store a new version of a record; returns the version number (1, 2, ...). A version
        for another subject than the current holder's is refused unless ``transfer`` (the
        asset changes holder: the caller decided the domain allows it)."""
        ref = self.subject_ref(subject)
        self._refuse_if_erased(conn, ref, domain)
        holder = self.holder_ref(conn, domain, record_id)
        if holder is not None and holder != ref and not transfer:
            raise DomainError(
                Reason.RECORD_VERSION_CONFLICT, "the record id belongs to another subject"
            )
        version = self._next_version(conn, domain, record_id)
        key = self._data_key(conn, ref, now, create=True)
        nonce = os.urandom(NONCE_BYTES)
        plaintext = canonical_json(dict(fields), ascii_only=True)
        aad = _record_aad(domain, record_id, version, ref)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
        conn.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (domain, record_id, version, ref, provider_id, nonce, sealed, _ts(now)),
        )
        return version

    def holder_ref(self, conn: Connection, domain: str, record_id: str) -> str | None:
        """The subject ref of a record's latest version (its current holder), if it exists."""
        row = conn.execute(
            "SELECT subject_ref FROM records WHERE domain = ? AND record_id = ? "
            "ORDER BY version DESC LIMIT 1",
            (domain, record_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def tenure(
        self, conn: Connection, domain: str, record_id: str, subject: str
    ) -> tuple[bool, datetime | None]:
        """In one statement: whether ``subject`` holds the record now (its latest version), and
        when they became its holder by a transfer (the first version of their current tenure;
        None if no other subject ever held it before)."""
        ref = self.subject_ref(subject)
        row = conn.execute(
            "SELECT (SELECT subject_ref FROM records WHERE domain = ? AND record_id = ? "
            "ORDER BY version DESC LIMIT 1), "
            "(SELECT MIN(created_at) FROM records WHERE domain = ? AND record_id = ? AND "
            "version > (SELECT MAX(version) FROM records WHERE domain = ? AND record_id = ? "
            "AND subject_ref <> ?))",
            (domain, record_id, domain, record_id, domain, record_id, ref),
        ).fetchone()
        holds = row is not None and row[0] is not None and str(row[0]) == ref
        since = None if row is None or row[1] is None else datetime.fromisoformat(str(row[1]))
        return holds, since

    def get(
        self, conn: Connection, *, domain: str, subject: str, record_id: str | None
    ) -> StoredRecord:
        """The latest version of a subject's record (by id, or the latest in the domain) that
        the subject still holds: ``RECORD_TRANSFERRED`` for one now held by another subject."""
        ref = self.subject_ref(subject)
        row = self._latest_row(conn, domain, ref, record_id)
        if row is None:
            self._refuse_if_erased(conn, ref, domain)
            if record_id is not None and self.holder_ref(conn, domain, record_id) is not None:
                raise DomainError(
                    Reason.RECORD_TRANSFERRED,
                    f"the {domain} record changed holder: the previous holder's consents no "
                    "longer cover it; ask the new holder for consent",
                )
            raise DomainError(Reason.RECORD_NOT_FOUND, f"no {domain} record for this subject")
        rec_id, version, provider_id, nonce, sealed, created_at, kek_id, wrapped = row
        if kek_id is None:
            raise DomainError(Reason.DATA_ERASED, "the subject's data key is gone")
        key = self._unwrapped(str(kek_id), ref, bytes(wrapped))
        plaintext = _open(key, nonce, sealed, _record_aad(domain, rec_id, version, ref))
        return StoredRecord(
            domain=domain,
            record_id=rec_id,
            version=version,
            subject_ref=ref,
            provider_id=provider_id,
            fields=json.loads(plaintext),
            created_at=datetime.fromisoformat(created_at),
        )

    def erase(
        self, conn: Connection, subject: str, now: datetime, *, domains: Collection[str]
    ) -> int:
        """Crypto-shred a subject's records of ``domains`` (a non-empty set) and refuse later
        uploads there; returns how many record versions became unreadable."""
        if not domains:
            raise ValueError("an erasure needs at least one domain")
        ref = self.subject_ref(subject)
        scope = sorted(set(domains))
        rows = conn.execute(
            "SELECT domain, record_id, version, nonce, ciphertext FROM records "
            "WHERE subject_ref = ?",
            (ref,),
        ).fetchall()
        self._reseal(conn, ref, [tuple(r) for r in rows if r[0] not in scope], now)
        counts = {domain: sum(1 for r in rows if r[0] == domain) for domain in scope}
        for domain, count in counts.items():
            # The ciphertexts are useless without the old key; deleting them too frees space.
            conn.execute("DELETE FROM records WHERE subject_ref = ? AND domain = ?", (ref, domain))
            self._forget_derived_key(conn, ref, domain)
            conn.execute(
                "INSERT INTO domain_erasures VALUES (?, ?, ?, ?) ON CONFLICT(subject_ref, domain) "
                "DO UPDATE SET erased_at = excluded.erased_at, "
                "records = domain_erasures.records + excluded.records",
                (ref, domain, _ts(now), count),
            )
        return sum(counts.values())

    def rewrap(self, conn: Connection) -> int:
        """Re-wrap every data key under the current KEK (after rotation); returns how many."""
        kid, kek = self._keks.current_kek()
        rows = conn.execute(
            "SELECT subject_ref, kek_id, wrapped_key FROM subject_keys WHERE kek_id != ?", (kid,)
        ).fetchall()
        for ref, old_kid, wrapped in rows:
            key = _unwrap(self._keks.kek(old_kid), old_kid, ref, wrapped)
            conn.execute(
                "UPDATE subject_keys SET kek_id = ?, wrapped_key = ? WHERE subject_ref = ?",
                (kid, _wrap(kek, kid, ref, key), ref),
            )
        derived = conn.execute(
            "SELECT subject_ref, domain, kek_id, wrapped_key FROM derived_keys WHERE kek_id != ?",
            (kid,),
        ).fetchall()
        for ref, domain, old_kid, wrapped in derived:
            name = _derived_key_name(ref, domain)
            key = _unwrap(self._keks.kek(old_kid), old_kid, name, wrapped)
            conn.execute(
                "UPDATE derived_keys SET kek_id = ?, wrapped_key = ? "
                "WHERE subject_ref = ? AND domain = ?",
                (kid, _wrap(kek, kid, name, key), ref, domain),
            )
        return len(rows) + len(derived)

    # -- data derived from records -------------------------------------------------------------

    def seal_derived(
        self,
        conn: Connection,
        *,
        subject: str,
        domain: str,
        label: str,
        plaintext: bytes,
        now: datetime,
    ) -> bytes:
        """``plaintext`` derived from the subject's ``domain`` records, sealed under their derived
        data key; ``label`` (an attestation's jti) is bound as associated data."""
        ref = self.subject_ref(subject)
        row = conn.execute(
            "SELECT kek_id, wrapped_key FROM derived_keys WHERE subject_ref = ? AND domain = ?",
            (ref, domain),
        ).fetchone()
        name = _derived_key_name(ref, domain)
        if row is not None:
            key = self._unwrapped(str(row[0]), name, bytes(row[1]))
        else:
            kid, kek = self._keks.current_kek()
            key = AESGCM.generate_key(bit_length=256)
            conn.execute(
                "INSERT INTO derived_keys VALUES (?, ?, ?, ?, ?)",
                (ref, domain, kid, _wrap(kek, kid, name, key), _ts(now)),
            )
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, f"{name}|{label}".encode())
        return _SEALED + ref.encode() + b"\n" + nonce + sealed

    def open_derived(self, conn: Connection, *, domain: str, label: str, sealed: bytes) -> bytes:
        """What ``seal_derived`` sealed; ``DATA_ERASED`` once the subject's records of ``domain``
        were erased. Data stored before sealing existed is returned as it is."""
        if not sealed.startswith(_SEALED):
            return sealed
        ref, _, rest = sealed[len(_SEALED) :].partition(b"\n")
        row = None
        if sealed != ERASED_DERIVED:
            row = conn.execute(
                "SELECT kek_id, wrapped_key FROM derived_keys WHERE subject_ref = ? AND domain = ?",
                (ref.decode(), domain),
            ).fetchone()
        if row is None:
            raise DomainError(
                Reason.DATA_ERASED,
                "the subject's records this was derived from were erased, and it with them",
            )
        name = _derived_key_name(ref.decode(), domain)
        key = self._unwrapped(str(row[0]), name, bytes(row[1]))
        nonce, body = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
        return _open(key, nonce, body, f"{name}|{label}".encode())

    # -- internals -----------------------------------------------------------------------------

    def _forget_derived_key(self, conn: Connection, ref: str, domain: str) -> None:
        conn.execute("DELETE FROM derived_keys WHERE subject_ref = ? AND domain = ?", (ref, domain))

    def _refuse_if_erased(self, conn: Connection, ref: str, domain: str) -> None:
        erased = conn.execute(
            "SELECT 1 FROM domain_erasures WHERE subject_ref = ? AND domain IN (?, '*') LIMIT 1",
            (ref, domain),
        ).fetchone()
        if erased is not None:
            raise DomainError(Reason.DATA_ERASED, f"the subject's {domain} data was erased")

    def _reseal(
        self, conn: Connection, ref: str, kept: list[tuple[Any, ...]], now: datetime
    ) -> None:
        """Delete the subject's data key; first re-seal the ``kept`` records (domain, record id,
        version, nonce, ciphertext) under a new one, associated data unchanged."""
        old = self._data_key(conn, ref, None, create=False) if kept else b""
        conn.execute("DELETE FROM subject_keys WHERE subject_ref = ?", (ref,))
        if not kept:
            return
        new = self._data_key(conn, ref, now, create=True)
        for domain, record_id, version, nonce, sealed in kept:
            aad = _record_aad(domain, record_id, version, ref)
            plaintext = _open(old, bytes(nonce), bytes(sealed), aad)
            fresh = os.urandom(NONCE_BYTES)
            conn.execute(
                "UPDATE records SET nonce = ?, ciphertext = ? "
                "WHERE domain = ? AND record_id = ? AND version = ?",
                (fresh, AESGCM(new).encrypt(fresh, plaintext, aad), domain, record_id, version),
            )

    def _next_version(self, conn: Connection, domain: str, record_id: str) -> int:
        (latest,) = conn.execute(
            "SELECT MAX(version) FROM records WHERE domain = ? AND record_id = ?",
            (domain, record_id),
        ).fetchone()
        return int(latest or 0) + 1

    def _latest_row(
        self, conn: Connection, domain: str, ref: str, record_id: str | None
    ) -> tuple[Any, ...] | None:
        # One statement on the hot path: the record and its subject's wrapped data key together.
        sql = (
            "SELECT r.record_id, r.version, r.provider_id, r.nonce, r.ciphertext, r.created_at,"
            " k.kek_id, k.wrapped_key FROM records r"
            " LEFT JOIN subject_keys k ON k.subject_ref = r.subject_ref"
            " WHERE r.domain = ? AND r.subject_ref = ?"
            # not a record transferred to another subject since (its later versions are theirs)
            " AND NOT EXISTS (SELECT 1 FROM records n WHERE n.domain = r.domain"
            " AND n.record_id = r.record_id AND n.version > r.version"
            " AND n.subject_ref <> r.subject_ref)"
        )
        args: tuple[str, ...] = (domain, ref)
        if record_id is not None:
            sql += " AND r.record_id = ?"
            args += (record_id,)
        order = " ORDER BY r.created_at DESC, r.version DESC LIMIT 1"
        row = conn.execute(sql + order, args).fetchone()
        return None if row is None else tuple(row)

    def _unwrap_uncached(self, kid: str, ref: str, wrapped: bytes) -> bytes:
        return _unwrap(self._keks.kek(kid), kid, ref, wrapped)

    def _data_key(self, conn: Connection, ref: str, now: datetime | None, *, create: bool) -> bytes:
        row = conn.execute(
            "SELECT kek_id, wrapped_key FROM subject_keys WHERE subject_ref = ?", (ref,)
        ).fetchone()
        if row is not None:
            return self._unwrapped(str(row[0]), ref, bytes(row[1]))
        if not create:
            raise DomainError(Reason.DATA_ERASED, "the subject's data key is gone")
        kid, kek = self._keks.current_kek()
        key = AESGCM.generate_key(bit_length=256)
        conn.execute(
            "INSERT INTO subject_keys VALUES (?, ?, ?, ?)",
            (ref, kid, _wrap(kek, kid, ref, key), _ts(now or datetime.now(UTC))),
        )
        return key


def _record_aad(domain: str, record_id: str, version: int, ref: str) -> bytes:
    # ascii_only: the associated data of every stored record has \u escapes (golden vector).
    record: dict[str, str | int] = {
        "domain": domain,
        "record_id": record_id,
        "version": version,
        "subject": ref,
    }
    return canonical_json(record, ascii_only=True)


def _derived_key_name(ref: str, domain: str) -> str:
    """What a derived data key is wrapped for (pseudonyms have no '|'; record keys: the ref)."""
    return f"{ref}|{domain}"


def _open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        # Tampered storage: never hand out data that does not authenticate.
        raise DomainError(Reason.INTERNAL, "stored record failed authentication") from None


def _wrap(kek: bytes, kid: str, ref: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, f"dek|{kid}|{ref}".encode())


def _unwrap(kek: bytes, kid: str, ref: str, wrapped: bytes) -> bytes:
    nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    try:
        return AESGCM(kek).decrypt(nonce, sealed, f"dek|{kid}|{ref}".encode())
    except InvalidTag:
        raise DomainError(Reason.INTERNAL, "a data key failed to unwrap") from None


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
