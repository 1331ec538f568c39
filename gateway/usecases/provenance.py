"""GetAssetHistory: an asset's events in log order, each with its inclusion proof (issue 19 item 4).

An asset is a record of a domain whose record ids are public asset ids (``record_id_public``:
warehouse receipts, patents), so its leaves name it in clear. The sequencer's indexer keeps
``asset_index``: every allowed ``record.put`` (registered, new versions), ``record.transferred``,
``attestation.redeemed`` (a pledge, by the bank that redeemed), ``pledge.released`` naming the
asset, and the ``record.erased`` of its holder at the time. The history is those leaves, exactly
as the log holds them (subjects as pseudonyms), up to the latest signed checkpoint, each with its
RFC 9162 proof in that checkpoint's tree: whoever reads it checks it without trusting the gateway.

Who may read it (docs/catalog.md, "Provenance"): a regulator; a bank under an ACTIVE consent that
the asset's current holder gave it, in the asset's domain, for that asset (or the holder's latest
record), for a purpose that pledges the asset (``consumption = "pledge"``); an owner the assets
they hold (the portal). Reads change nothing: neither they nor their refusals are audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attestgate.audit.events import AuditEvent, Decision, EventType
from attestgate.audit.sql import Connection
from attestgate.audit.store import StoredCheckpoint, insert_rows
from attestgate.audit.tree import AuditLog
from attestgate.consent.catalog import Catalog
from attestgate.consent.machine import effective_state
from attestgate.consent.model import Consent, ConsentId, ConsentState
from attestgate.consent.predicates import ConsumptionKind
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.usecases import trail
from attestgate.gateway.usecases.attestations.transfer import refuse_transferred_since
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import check_id
from attestgate.gateway.usecases.trail import Trail
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

VERSION_EVENTS = frozenset({EventType.RECORD_PUT, EventType.RECORD_TRANSFERRED})
"""Events that give the asset a version, and a holder."""
ASSET_EVENTS = VERSION_EVENTS | {EventType.ATTESTATION_REDEEMED, EventType.PLEDGE_RELEASED}
"""Events that name the asset in their objects (``domain``, ``record_id``)."""


def index_events(conn: Connection, first_index: int, events: Sequence[AuditEvent]) -> None:
    """The sequencer's indexer: the owners' activity (``trail.index_subjects``) and the assets'
    histories."""
    trail.index_subjects(conn, first_index, events)
    for offset, event in enumerate(events):
        if event.decision is Decision.ALLOW:
            insert_rows(conn, "asset_index (domain, record_id, idx, holder)",
                        _asset_rows(conn, first_index + offset, event))  # fmt: skip


def _asset_rows(
    conn: Connection, index: int, event: AuditEvent
) -> list[tuple[str, str, int, str | None]]:
    domain, record_id = event.objects.get("domain"), event.objects.get("record_id")
    if event.type in ASSET_EVENTS and domain and record_id:  # named in clear: a public asset
        holder = event.subject if event.type in VERSION_EVENTS else None
        return [(domain, record_id, index, holder)]
    if event.type is EventType.RECORD_ERASED and event.subject is not None:
        domains = event.objects.get("domains", "").split(",")
        return [(d, r, index, None) for d, r in held_assets(conn, event.subject, domains)]
    return []


def held_assets(conn: Connection, holder: str, domains: Sequence[str]) -> list[tuple[str, str]]:
    """``(domain, record_id)`` of the assets in ``domains`` whose latest version gave them to
    ``holder`` (a subject pseudonym)."""
    found: list[tuple[str, str]] = []
    for domain in domains:
        rows = conn.execute(
            "SELECT a.record_id FROM asset_index a WHERE a.holder = ? AND a.domain = ? AND a.idx ="
            " (SELECT MAX(b.idx) FROM asset_index b WHERE b.domain = a.domain"
            " AND b.record_id = a.record_id AND b.holder IS NOT NULL) ORDER BY a.record_id",
            (holder, domain),
        ).fetchall()
        found.extend((domain, str(r[0])) for r in rows)
    return found


@dataclass(frozen=True)
class HistoryPage:
    """One page of an asset's history: ``(log index, leaf, inclusion proof)`` oldest first, all
    in the tree of ``checkpoint``, and the cursor of the next page (None: last)."""

    events: list[tuple[int, bytes, list[bytes]]]
    checkpoint: StoredCheckpoint
    next_after: int | None


class AssetHistory:
    """The GetAssetHistory use case (module docstring)."""

    def __init__(
        self,
        *,
        storage: Storage,
        log: AuditLog,
        catalog: Catalog,
        vault: RecordVault,
        clock: Clock,
        trail: Trail,
    ) -> None:
        self._storage = storage
        self._log = log
        self._catalog = catalog
        self._vault = vault
        self._clock = clock
        self._trail = trail

    def pseudonym(self, caller: Caller) -> str:
        """The caller's pseudonym in the log (how an owner recognises themselves)."""
        return self._trail.pseudonym(caller.subject)

    def held(self, caller: Caller) -> list[tuple[str, str]]:
        """``(domain, asset id)`` of the assets the calling owner holds now: records of domains
        whose ids are public and that a purpose pledges (receipts, patents)."""
        domains = [
            d.name
            for d in self._catalog.domains.values()
            if d.record_id_public
            and any(p.consumption is ConsumptionKind.PLEDGE for p in d.purposes.values())
        ]
        return held_assets(self._storage.read(), self.pseudonym(caller), domains)

    @property
    def origin(self) -> str:
        """The log's origin, which its checkpoints name."""
        return self._log.origin or ""

    def page(
        self, caller: Caller, domain: str, asset_id: str, *, consent_id: str, after: int, limit: int
    ) -> HistoryPage:
        """Up to ``limit`` events of the asset after log index ``after`` (-1: from the start)."""
        check_id("asset_id", asset_id)
        if not self._catalog.domain(domain).record_id_public:  # UNKNOWN_DOMAIN first
            raise invalid_argument(
                FieldViolation("domain", "its record ids are not public asset ids"),
                message=f"{domain} records are not assets: history is kept for assets only",
            )
        conn = self._storage.read()
        if caller.role == "bank":
            self._check_bank(conn, caller, domain, asset_id, consent_id)
        elif caller.role == "owner" and (domain, asset_id) not in self.held(caller):
            raise DomainError(Reason.RECORD_NOT_FOUND, f"you hold no {domain} asset {asset_id!r}")
        checkpoint = self._log.latest_checkpoint(conn)
        if checkpoint is None:
            raise DomainError(Reason.CHECKPOINT_NOT_FOUND, "the log has no checkpoint yet")
        indices = [
            int(r[0])
            for r in conn.execute(
                "SELECT idx FROM asset_index WHERE domain = ? AND record_id = ? AND idx > ?"
                " AND idx < ? ORDER BY idx LIMIT ?",
                (domain, asset_id, after, checkpoint.size, limit + 1),
            ).fetchall()
        ]
        if after < 0 and not indices:
            raise DomainError(
                Reason.RECORD_NOT_FOUND,
                f"no event of the log names the {domain} asset {asset_id!r}: check the id",
            )
        events = [
            (i, self._log.leaf(conn, i), self._log.inclusion_proof(conn, i, checkpoint.size))
            for i in indices[:limit]
        ]
        next_after = indices[limit - 1] if len(indices) > limit else None
        return HistoryPage(events, checkpoint, next_after)

    def _check_bank(
        self, conn: Connection, caller: Caller, domain: str, asset_id: str, consent_id: str
    ) -> None:
        if not consent_id:
            raise invalid_argument(
                FieldViolation("consent_id", "required for a bank"),
                message="name the current holder's consent you ask under (consent_id)",
            )
        consent = self._storage.consents(conn).get_consent(ConsentId(consent_id))
        if consent.grantee != caller.subject:
            raise DomainError(Reason.NOT_CONSENT_GRANTEE, "the consent was not granted to you")
        if consent.domain != domain or consent.record.record_id not in (None, asset_id):
            raise DomainError(
                Reason.CONSENT_NOT_FOR_ASSET,
                f"this consent does not cover the {domain} asset {asset_id!r}: ask its holder "
                "for a consent to it",
            )
        purpose = self._catalog.purpose(domain, consent.purpose)
        if purpose.consumption is not ConsumptionKind.PLEDGE:
            raise DomainError(
                Reason.HISTORY_NOT_ALLOWED_FOR_PURPOSE,
                f"purpose {consent.purpose} does not allow reading an asset's history: only a "
                "purpose that pledges the asset does (docs/catalog.md, Provenance)",
            )
        _require_active(consent, self._clock)
        refuse_transferred_since(self._vault, conn, consent, asset_id)


def _require_active(consent: Consent, clock: Clock) -> None:
    now = clock.now()
    state = effective_state(consent, now)
    if state is not ConsentState.ACTIVE or now < consent.valid_from:
        raise DomainError(
            Reason.CONSENT_NOT_ACTIVE,
            f"the consent is {state.value.lower()}, not active: ask the holder for a new one",
        )
