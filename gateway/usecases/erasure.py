"""What an erasure removes besides the records themselves (issue 14, "Erasure leftovers").

``EraseSubject`` crypto-shreds a subject's records of some domains (``RecordVault.erase``), which
also deletes the subject's derived data key of those domains, so every attestation response
sealed under it (disclosed values, the signed token) can never be opened again
(``RecordVault.open_derived`` answers ``DATA_ERASED``). ``forget_subject`` then removes the subject
id from what refers to those records, in the same transaction:

- attestations of the subject's consents there: the response is replaced by a tombstone (this also
  covers responses stored in plaintext before sealing existed);
- consent requests, consents and their status events there: the owner becomes
  ``erased:<pseudonym>`` (the pseudonym the audit log uses, so a regulator can still follow the
  trail), and a consent's signed artefact (which names the owner) is dropped; its hash stays, as
  attestations carry it. States are kept: banks see their consents as they were, and attestations
  under them are refused with ``DATA_ERASED``;
- the owner's idempotency entries for decisions on those requests (their scope names the owner);
- record ids of personal domains (not ``record_id_public``) in consents, requests, attestations,
  the capacity ledger and evaluation budgets: each becomes the record's ``pr_`` pseudonym, the
  name the audit log gives it (public asset ids stay: the pledge ledger is about the asset).

On SQLite the storage runs with ``secure_delete`` so replaced bytes are zeroed in the file, and
``scrub_files`` empties the write-ahead log once the erasure committed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from attestgate.audit.sql import Connection, Dialect
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import ERASED_DERIVED, RecordVault
from attestgate.gateway.usecases.trail import ERASED_OWNER, Trail, is_erased_owner
from attestgate.protocol.reasons import DomainError, Reason

_log = logging.getLogger("attestgate.erasure")


def refuse_erased_owner(owner: str) -> None:
    """``DATA_ERASED`` for a consent whose owner's records were erased."""
    if is_erased_owner(owner):
        raise DomainError(Reason.DATA_ERASED, "the owner's records under this consent were erased")


def forget_subject(
    conn: Connection, vault: RecordVault, trail: Trail, subject: str, domains: Collection[str]
) -> None:
    """Remove ``subject`` from what refers to its records of ``domains`` (module docstring)."""
    tombstone = ERASED_OWNER + vault.subject_ref(subject)
    for domain in sorted(set(domains)):
        _forget_record_ids(conn, trail, subject, domain)
        consent_ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM consents WHERE owner = ? AND record_domain = ?", (subject, domain)
            ).fetchall()
        ]
        conn.execute(
            "UPDATE attestations SET response = ? WHERE consent_id IN "
            "(SELECT id FROM consents WHERE owner = ? AND record_domain = ?)",
            (ERASED_DERIVED, subject, domain),
        )
        _forget_decisions(conn, subject, consent_ids)
        conn.execute(
            "UPDATE consent_events SET owner = ? WHERE owner = ? AND request_id IN "
            "(SELECT id FROM consent_requests WHERE owner = ? AND domain = ?)",
            (tombstone, subject, subject, domain),
        )
        conn.execute(
            "UPDATE consents SET owner = ?, artefact_jws = '' "
            "WHERE owner = ? AND record_domain = ?",
            (tombstone, subject, domain),
        )
        conn.execute(
            "UPDATE consent_requests SET owner = ? WHERE owner = ? AND domain = ?",
            (tombstone, subject, domain),
        )


def scrub_files(storage: Storage) -> None:
    """After an erasure committed: SQLite keeps superseded page images (with the ids just
    replaced) in its write-ahead log until a checkpoint overwrites them; copy the log into the
    database (whose freed space ``secure_delete`` zeroed) and truncate it to nothing. PostgreSQL
    leaves dead row versions to autovacuum, beyond reach of any SQL reader."""
    if storage.dialect is not Dialect.SQLITE:
        return
    busy, _, _ = storage.read().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        _log.warning(
            "the write-ahead log could not be truncated after an erasure; it will be "
            "overwritten by later writes"
        )


_RECORD_ID_COLUMNS = (
    ("attestations", "domain"),
    ("capacity", "domain"),
    ("evaluation_budgets", "domain"),
    ("consent_requests", "domain"),
    ("consents", "record_domain"),
)
"""Tables naming a record by (domain column, ``record_id``)."""


def _forget_record_ids(conn: Connection, trail: Trail, subject: str, domain: str) -> None:
    """Replace the ids of ``subject``'s records of a personal ``domain`` by their pseudonyms.

    A record id belongs to one subject (the vault's key is (domain, record_id)), and the subject's
    consents name every record anything was derived from; run before the owner is tombstoned."""
    if trail.record_ids_public(domain):
        return  # asset ids stay
    rows = conn.execute(
        "SELECT record_id FROM consents WHERE owner = ? AND record_domain = ? "
        "AND record_id IS NOT NULL UNION SELECT record_id FROM consent_requests "
        "WHERE owner = ? AND domain = ? AND record_id IS NOT NULL UNION SELECT a.record_id "
        "FROM attestations a JOIN consents c ON c.id = a.consent_id "
        "WHERE c.owner = ? AND a.domain = ?",
        (subject, domain, subject, domain, subject, domain),
    ).fetchall()
    for (record_id,) in rows:
        ref = trail.personal_record_ref(domain, str(record_id))
        for table, column in _RECORD_ID_COLUMNS:
            conn.execute(
                f"UPDATE {table} SET record_id = ? WHERE {column} = ? AND record_id = ?",  # noqa: S608
                (ref, domain, str(record_id)),
            )


def _forget_decisions(conn: Connection, subject: str, consent_ids: Sequence[str]) -> None:
    """Delete the owner's idempotency entries whose stored response is one of ``consent_ids``
    (approvals; the scope ``<method>|owner:<subject>`` names the owner)."""
    if not consent_ids:
        return
    suffix = f"|owner:{subject}"
    wanted = {c.encode() for c in consent_ids}
    escaped = suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT scope, request_id, response FROM idempotency WHERE scope LIKE ? ESCAPE '\\'",
        ("%" + escaped,),
    ).fetchall()
    for scope, request_id, response in rows:
        if str(scope).endswith(suffix) and bytes(response) in wanted:
            conn.execute(
                "DELETE FROM idempotency WHERE scope = ? AND request_id = ?", (scope, request_id)
            )
