"""Provider use cases: signed record uploads, FX rate tables, erasure (no gRPC here).

A provider signs what it uploads with its own key (a JWS whose ``kid`` is its provider id),
registered by the operator with ``attestgate providers add``. The gateway verifies the signature
with
the registered key and an algorithm fixed by that key's type (never by the token), checks that the
caller is that provider and holds the role the upload needs (``gateway.usecases.provider_access``:
the
domain's ``provider_role``, or the configured ``fx_rates_role``), validates the record against the
catalog, then seals it in the vault. Each event names the role that allowed it. A refused upload
or erasure (bad signature, missing role, an FX table out of order) changes nothing, not even the
audit log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.audit.events import EventType
from attestgate.audit.sequencer import Tx
from attestgate.audit.sql import Connection
from attestgate.consent.catalog import Catalog
from attestgate.consent.fx import FxRateTable
from attestgate.consent.policy import validate_record
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.persistence import ledger
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.usecases import erasure, idempotency, provider_access
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import check_id
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.gateway.usecases.providers import Provider, ProviderRegistry
from attestgate.gateway.usecases.status import AttestationStatus
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.jose import (
    JoseError,
    json_loads,
    parse_compact_jws,
    verify_eddsa,
    verify_es256,
)
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

MAX_SIGNED_BYTES = 256 * 1024
_MAX_JSON_DEPTH = 16  # a record's fields or a rate table sit at depth 2


@dataclass(frozen=True)
class RecordReceipt:
    """What a provider gets back for an upload."""

    domain: str
    record_id: str
    version: int
    created_at: datetime
    log_index: int


@dataclass(frozen=True)
class FxReceipt:
    """What a provider gets back for an FX rate table."""

    table_id: str
    rate_count: int
    created_at: datetime
    log_index: int


@dataclass(frozen=True)
class ErasureReceipt:
    """The deletion receipt of a subject's erasure (also an audit-log entry)."""

    subject_pseudonym: str
    records_erased: int
    erased_at: datetime
    log_index: int


def latest_fx_table(conn: Connection) -> FxRateTable | None:
    """The most recently uploaded FX rate table, if any."""
    # rowid: SQLite's implicit one; PostgreSQL's schema has an identity column of that name.
    row = conn.execute(
        "SELECT table_id, base, rates, effective_at, created_at FROM fx_rates "
        "ORDER BY created_at DESC, rowid DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    as_of = provider_access.stored_as_of(row[3], row[4])
    return FxRateTable(id=row[0], rates=json.loads(row[2]), base=row[1], as_of=as_of)


class RecordManager:
    """Uploads and erasure by providers."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        catalog: Catalog,
        vault: RecordVault,
        trail: Trail,
        providers: ProviderRegistry,
        fx_rates_role: str,
        token_leeway: timedelta,
        data_dir: Path,
        status: AttestationStatus | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._catalog = catalog
        self._vault = vault
        self._trail = trail
        self._providers = providers
        self._fx_rates_role = fx_rates_role  # the role an FX rate table upload needs
        self._token_leeway = token_leeway  # clock skew allowed on a table's effective_at
        self._data_dir = data_dir  # named in the "grant the role" hint of a refusal
        self._status = status  # erased owners' attestations become INVALID

    def put_record(self, caller: Caller, signed: str, key: IdempotencyKey | None) -> RecordReceipt:
        """Verify, validate and seal a new record version."""
        provider, payload = self._verified_payload(caller, signed, "signed_record")
        domain = _text(payload, "domain")
        role = self._catalog.domain(domain).provider_role
        provider_access.require_role(
            provider, role, f"upload {domain} records", data_dir=self._data_dir
        )
        subject = check_id("signed_record.subject", _text(payload, "subject"))
        record_id = check_id("signed_record.record_id", _text(payload, "record_id"))
        fields = payload.get("fields")
        if not isinstance(fields, dict):
            raise invalid_argument(FieldViolation("signed_record.fields", "must be an object"))
        normalized = validate_record(self._catalog, domain, fields)
        now = self._clock.now()

        def unit(tx: Tx) -> int:
            replay = idempotency.lookup(tx.conn, key)
            if replay is not None:
                return int(replay)
            transfer = self._is_transfer(tx.conn, domain, record_id, subject)
            self._check_encumbrance(tx.conn, domain, record_id, normalized)
            version = self._vault.put(
                tx.conn,
                domain=domain,
                record_id=record_id,
                subject=subject,
                provider_id=caller.subject,
                fields=normalized,  # type: ignore[arg-type]
                now=now,
                transfer=transfer,
            )
            objects = {
                **self._trail.record_objects(domain, record_id),
                "version": str(version),
                "provider_role": role,
            }
            kind = EventType.RECORD_TRANSFERRED if transfer else EventType.RECORD_PUT
            tx.emit(self._event(kind, caller, subject, objects, now))
            if transfer and self._status is not None:  # the previous tenure's attestations
                self._status.on_transferred(tx, domain, record_id, now=now)
            idempotency.remember(tx.conn, key, str(version).encode(), now.isoformat())
            return version

        committed = self._storage.write(unit)
        version = committed.value
        index = committed.log_indices[0] if committed.log_indices else -1
        return RecordReceipt(domain, record_id, version, now, index)

    def put_fx_rates(self, caller: Caller, signed: str, key: IdempotencyKey | None) -> FxReceipt:
        """Verify and store an FX rate table (used by covers_amount)."""
        provider, payload = self._verified_payload(caller, signed, "signed_rates")
        role = self._fx_rates_role
        provider_access.require_role(
            provider, role, "upload FX rate tables", data_dir=self._data_dir
        )
        table_id = check_id("signed_rates.table_id", _text(payload, "table_id"))
        rates = payload.get("rates")
        if not isinstance(rates, dict) or not rates or len(rates) > 300:
            raise invalid_argument(FieldViolation("signed_rates.rates", "1..300 currency rates"))
        try:
            table = FxRateTable(id=table_id, rates=rates, base=str(payload.get("base", "CNY")))
        except ValueError as exc:
            raise invalid_argument(FieldViolation("signed_rates.rates", str(exc))) from None
        now = self._clock.now()
        effective = provider_access.effective_at(
            payload.get("effective_at"), now=now, leeway=self._token_leeway
        )

        def unit(tx: Tx) -> None:
            if idempotency.lookup(tx.conn, key) is not None:
                return
            taken = tx.conn.execute("SELECT 1 FROM fx_rates WHERE table_id = ?", (table.id,))
            if taken.fetchone() is not None:  # tables are immutable: a new one needs a new id
                raise invalid_argument(
                    FieldViolation("signed_rates.table_id", "a table with this id exists")
                )
            provider_access.check_fx_order(latest_fx_table(tx.conn), effective)
            tx.conn.execute(
                "INSERT INTO fx_rates (table_id, provider_id, base, rates, effective_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (table.id, caller.subject, table.base, json.dumps(dict(table.rates)),
                 effective.isoformat(), now.isoformat()),
            )  # fmt: skip
            objects = {"fx_table": table.id, "provider_role": role}
            tx.emit(self._event(EventType.FX_RATES_PUT, caller, None, objects, now))
            idempotency.remember(tx.conn, key, b"{}", now.isoformat())

        committed = self._storage.write(unit)
        index = committed.log_indices[0] if committed.log_indices else -1
        return FxReceipt(table.id, len(table.rates), now, index)

    def erase_subject(
        self, caller: Caller, subject: str, key: IdempotencyKey | None
    ) -> ErasureReceipt:
        """Crypto-shred a subject's records of the caller's own domains (those whose
        ``provider_role`` it holds) and log a deletion receipt."""
        check_id("subject", subject)
        provider = self._providers.provider(caller.subject)
        scope = provider_access.erasable_domains(provider, self._catalog, data_dir=self._data_dir)
        now = self._clock.now()

        def unit(tx: Tx) -> int:
            replay = idempotency.lookup(tx.conn, key)
            if replay is not None:
                return int(replay)
            reached = (
                [] if self._status is None else self._status.consents_erased(tx, subject, scope)
            )
            erased = self._vault.erase(tx.conn, subject, now, domains=scope)
            erasure.forget_subject(
                tx.conn, self._vault, self._trail, subject, scope
            )  # what refers to them
            objects = {
                "records_erased": str(erased),
                "domains": ",".join(sorted(scope)),
                "provider_role": ",".join(sorted(set(scope.values()))),
            }
            tx.emit(self._event(EventType.RECORD_ERASED, caller, subject, objects, now))
            if self._status is not None:
                self._status.on_erased(tx, reached, owner=subject, now=now)
            idempotency.remember(tx.conn, key, str(erased).encode(), now.isoformat())
            return erased

        committed = self._storage.write(unit)
        erasure.scrub_files(self._storage)
        index = committed.log_indices[0] if committed.log_indices else -1
        pseudonym = self._trail.pseudonym(subject)
        return ErasureReceipt(pseudonym, committed.value, now, index)

    # -- helpers -------------------------------------------------------------------------------

    def _is_transfer(self, conn: Connection, domain: str, record_id: str, subject: str) -> bool:
        """Whether this upload moves the asset to a new holder (docs/catalog.md, "Transfers"):
        a record of a domain whose ids are public asset ids, now held by another subject. A
        pledged asset is not transferred (``ASSET_PLEDGED``) until its pledgee releases it."""
        holder = self._vault.holder_ref(conn, domain, record_id)
        if holder is None or holder == self._vault.subject_ref(subject):
            return False
        if not self._trail.record_ids_public(domain):
            return False  # a personal record never changes subject: the vault refuses it
        _, pledged_by = ledger.consumed(conn, domain, record_id)
        if pledged_by is not None:
            raise DomainError(
                Reason.ASSET_PLEDGED,
                "a bank holds a pledge of this asset: it cannot change holder until the pledgee "
                "(or a regulator) releases the pledge",
            )
        return True

    def _check_encumbrance(
        self, conn: Connection, domain: str, record_id: str, fields: Mapping[str, object]
    ) -> None:
        """The gateway's pledge ledger is the one source of truth for encumbrance
        (docs/catalog.md): where the domain names the statuses that mirror a pledge
        (``unencumbered``'s ``pledged_statuses``), an upload must agree with the ledger, read in
        this unit of work (a redemption or release cannot slip in between)."""
        binding = self._catalog.domain(domain).predicates.get("unencumbered")
        mirrors = binding.options.get("pledged_statuses") if binding is not None else None
        if not isinstance(mirrors, list) or not mirrors:
            return
        status = fields.get("status")
        _, pledged_by = ledger.consumed(conn, domain, record_id)
        named = "/".join(str(m) for m in mirrors)
        if pledged_by is not None and status not in mirrors:
            raise DomainError(
                Reason.RECORD_CONTRADICTS_PLEDGE,
                f"a bank holds a pledge of this record in the gateway's ledger, which decides "
                f"encumbrance: upload it with status {named} until the pledgee (or a regulator) "
                f"releases the pledge",
                metadata={"status": str(status), "ledger": "pledged"},
            )
        if pledged_by is None and status in mirrors:
            raise DomainError(
                Reason.RECORD_CONTRADICTS_PLEDGE,
                f"no pledge of this record is held in the gateway's ledger, which decides "
                f"encumbrance: a record is {named} only while a bank's redemption pledges it",
                metadata={"status": str(status), "ledger": "free"},
            )

    def _verified_payload(
        self, caller: Caller, signed: str, field: str
    ) -> tuple[Provider, dict[str, Any]]:
        """The caller's registration and the payload its registered key signed."""
        if not signed or len(signed) > MAX_SIGNED_BYTES:
            raise invalid_argument(
                FieldViolation(field, f"a JWS of at most {MAX_SIGNED_BYTES} bytes")
            )
        try:  # the kernel's one rule for every token: strict base64url and JSON, bounded depth
            jws = parse_compact_jws(signed)
        except JoseError:
            raise _bad_signature(field) from None
        if jws.header.get("kid") != caller.subject:
            raise DomainError(
                Reason.UNKNOWN_PROVIDER, "the upload must be signed with the caller's provider key"
            )
        provider = self._providers.provider(caller.subject)  # else UNKNOWN_PROVIDER
        public_key = provider.key  # its type fixes the algorithm, never the token's header
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            algorithm, valid = "EdDSA", verify_eddsa(jws, public_key)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            algorithm, valid = "ES256", verify_es256(jws, public_key)
        else:
            raise DomainError(Reason.UNKNOWN_PROVIDER, "the provider key type is not supported")
        if jws.header.get("alg") != algorithm or not valid:
            raise _bad_signature(field)
        try:
            payload = json_loads(jws.payload, max_depth=_MAX_JSON_DEPTH)
        except JoseError:
            raise _bad_signature(field) from None
        if not isinstance(payload, dict):
            raise invalid_argument(FieldViolation(field, "payload must be a JSON object"))
        return provider, payload

    def _event(
        self,
        kind: EventType,
        caller: Caller,
        subject: str | None,
        objects: Mapping[str, str],
        now: datetime,
    ) -> Any:
        return self._trail.event(
            kind, now=now, role=caller.role, actor=caller.subject, subject=subject, objects=objects
        )


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_argument(FieldViolation(f"payload.{name}", "required string"))
    return value


def _bad_signature(field: str) -> DomainError:
    return DomainError(
        Reason.RECORD_SIGNATURE_INVALID,
        "the upload's signature does not verify with the provider's registered key",
        violations=[FieldViolation(field, "bad signature")],
    )
