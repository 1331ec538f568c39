"""The composition root: storage, keys, the audit sequencer and the four services, wired once;
plus the operational parts: the readiness watches (health follows storage and the audit writer)
and, when configured, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from attestgate.audit.cosignatures import PublishedCheckpoints
from attestgate.audit.events import Pseudonymizer
from attestgate.audit.sequencer import BatchReport, Sequencer, SequencerSettings
from attestgate.audit.tiles import LogTiles
from attestgate.audit.tree import AuditLog
from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.clock import Clock, SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.signals import ChangeSignal
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.ops.readiness import ReadinessGate, ReadinessWatch, storage_probe
from attestgate.gateway.ops.writer_watch import WriterWatch
from attestgate.gateway.persistence.storage import Storage, open_storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.public import PublicAddress, PublicServer, attach_public
from attestgate.gateway.public import issuer_name as public_issuer_name
from attestgate.gateway.public import public_address as resolve_public_address
from attestgate.gateway.public.status import status_route
from attestgate.gateway.public.tiles import tile_routes
from attestgate.gateway.transport.server import (
    Gateway,
    GatewayServicers,
    build_server,
    prepare_data_dir,
)
from attestgate.gateway.transport.services.attestation import AttestationServicer
from attestgate.gateway.transport.services.audit import AuditServicer
from attestgate.gateway.transport.services.consent import ConsentServicer
from attestgate.gateway.transport.services.record import RecordServicer
from attestgate.gateway.usecases import trail
from attestgate.gateway.usecases.activity import OwnerActivity
from attestgate.gateway.usecases.attestations.manager import AttestationManager
from attestgate.gateway.usecases.attestations.redeem import Redeemer
from attestgate.gateway.usecases.attestations.refusals import RefusalAudit
from attestgate.gateway.usecases.attestations.vc_types import VcTypes
from attestgate.gateway.usecases.consents import ConsentManager
from attestgate.gateway.usecases.owner_records import OwnerRecords
from attestgate.gateway.usecases.provenance import AssetHistory, index_events
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.gateway.usecases.records import RecordManager
from attestgate.gateway.usecases.refusal_budget import RefusalBudget
from attestgate.gateway.usecases.status import AttestationStatus
from attestgate.gateway.usecases.status_publication import StatusPublisher
from attestgate.gateway.witness.collector import CosignatureCollector, chain
from attestgate.protocol.note import NoteSigner

if TYPE_CHECKING:  # optional extras (prometheus-client, the portal's web stack), typing only
    from attestgate.gateway.ops.metrics import GatewayMetrics, MetricsServer
    from attestgate.gateway.portal.server import PortalServer


@dataclass(frozen=True)
class GatewayParts:
    """The collaborators ``build_parts`` makes, each once. Only the composition root, operator
    commands and white-box tests hold them all: every use case, servicer and portal page is
    handed the few it uses."""

    config: GatewayConfig
    clock: Clock
    keyring: KeyRing
    storage: Storage
    catalog: Catalog
    vault: RecordVault
    log: AuditLog
    trail: trail.Trail
    providers: ProviderRegistry
    refusal_budget: RefusalBudget
    public: PublicAddress | None
    """Where the public HTTPS face listens (``None``: off); its URL is the issuer."""
    vc_types: VcTypes
    """The issuer name (every new attestation's ``iss``) and the types' metadata documents."""
    consent_changes: ChangeSignal = field(default_factory=ChangeSignal)
    """Woken when a consent change is staged and after each commit (consent-event streams)."""
    commits: ChangeSignal = field(default_factory=ChangeSignal)
    """Woken after each commit (checkpoint streams)."""
    status: AttestationStatus | None = None
    """Attestations' Token Status List entries (``None``: no public face to publish them)."""
    published: PublishedCheckpoints = field(default_factory=PublishedCheckpoints)
    """The checkpoint the log serves, with its witnesses' cosignatures (``witness_k``)."""


@dataclass(frozen=True)
class UseCases:
    """The use cases ``build_use_cases`` wires, shared by the gRPC services and the portal."""

    consents: ConsentManager
    records: RecordManager
    attestations: AttestationManager
    activity: OwnerActivity
    history: AssetHistory
    owner_records: OwnerRecords


@dataclass(frozen=True)
class BuiltGateway:
    """What ``build_gateway`` returns: the gRPC server (``start`` / ``stop`` / ``wait``) and the
    parts wired around it, for the CLI, tests and operators' tooling to look at."""

    server: Gateway
    """The gRPC server with its start and stop hooks."""
    parts: GatewayParts
    """The collaborators everything was built from (storage, keys, catalog, log, ...)."""
    use_cases: UseCases
    """The use cases the servicers and the portal call."""
    readiness: ReadinessWatch
    """The storage readiness watch behind the health service."""
    writer_watch: WriterWatch | None = None
    """The audit writer's stall watch (``None``: ``audit_writer_stall_timeout`` is 0)."""
    metrics_endpoint: MetricsServer | None = None
    """The ``/metrics`` endpoint (``None``: metrics are off)."""
    portal: PortalServer | None = None
    """The owner and regulator portal (``None``: no ``portal`` address configured)."""
    public: PublicServer | None = None
    """The public HTTPS face: issuer and type metadata (``None``: off)."""
    status_lists: StatusPublisher | None = None
    """Publishes the signed status lists the public face serves (``None``: the face is off)."""

    @property
    def config(self) -> GatewayConfig:
        """The configuration the gateway was built with."""
        return self.server.config

    @property
    def port(self) -> int:
        """The bound gRPC port (after ``start``)."""
        return self.server.port

    @property
    def address(self) -> str:
        """``HOST:PORT`` with the real port (after ``start``)."""
        return self.server.address

    def start(self) -> int:
        """Start storage, the audit writer, the watches, metrics and portal; serve gRPC."""
        return self.server.start()

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop (``Gateway.stop``), then stop and close everything started."""
        self.server.stop(grace)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop`` completed (or ``timeout``); True if stopped."""
        return self.server.wait(timeout)


def build_parts(config: GatewayConfig, *, clock: Clock, keyring: KeyRing) -> GatewayParts:
    """Open the database (SQLite: created and migrated if needed; PostgreSQL: its schema must be
    current) and build every collaborator once; nothing runs yet."""
    storage = open_storage(config)
    storage.create(clock.now())
    signer = NoteSigner(config.log_origin, keyring.note_signer_key)
    log = AuditLog(storage.writer_connection, signer=signer, origin=config.log_origin)
    pseudonymizer = Pseudonymizer(keyring.pseudonym_key)
    catalog = Catalog.load_default()
    public = [name for name, domain in catalog.domains.items() if domain.record_id_public]
    address = resolve_public_address(config)
    vc_types = VcTypes.of(catalog, public_issuer_name(config, address))
    trail_ = trail.Trail(pseudonymizer, public)
    return GatewayParts(
        config=config,
        clock=clock,
        keyring=keyring,
        storage=storage,
        catalog=catalog,
        vault=RecordVault(keyring, pseudonymizer.pseudonym),
        log=log,
        trail=trail_,
        providers=ProviderRegistry(config.data_dir),
        refusal_budget=RefusalBudget(config.refusal_audit_per_minute, config.refusal_audit_burst),
        public=address,
        vc_types=vc_types,
        published=PublishedCheckpoints(config.witness_k),
        status=None
        if address is None
        else AttestationStatus(
            storage=storage,
            clock=clock,
            trail=trail_,
            issuer=vc_types.issuer,
            list_size=config.status_list_size,
        ),
    )


def start_writes(
    parts: GatewayParts, *, on_batch: Callable[[BatchReport], None] | None = None
) -> Sequencer:
    """Start the group-committing sequencer and make sure the log has a signed checkpoint;
    ``on_batch`` hears about every batch (metrics). Returns the running sequencer."""
    config = parts.config

    def committed(_index: int) -> None:  # wake every waiting stream; they re-read storage
        parts.commits.notify()
        parts.consent_changes.notify()

    sequencer = Sequencer(
        parts.storage.writer_connection,
        parts.log,
        settings=SequencerSettings(
            max_batch=config.audit_batch_max,
            max_wait=timedelta(milliseconds=config.audit_batch_wait_ms),
            checkpoint_interval=config.checkpoint_interval,
        ),
        now=parts.clock.now,
        on_commit=committed,
        indexer=index_events,
        begin=parts.storage.begin_batch,
        on_batch=on_batch,
    )
    parts.storage.attach(sequencer)
    parts.storage.write(lambda tx: None)  # writes the first checkpoint of a new log
    return sequencer


def build_use_cases(parts: GatewayParts) -> UseCases:
    """Each use case once, handed the parts it uses."""
    config = parts.config
    refusals = RefusalAudit(
        storage=parts.storage,
        clock=parts.clock,
        trail=parts.trail,
        refusal_budget=parts.refusal_budget,
    )
    redeemer = Redeemer(
        storage=parts.storage,
        clock=parts.clock,
        catalog=parts.catalog,
        vault=parts.vault,
        keyring=parts.keyring,
        trail=parts.trail,
        refusals=refusals,
        issuer=parts.vc_types.issuer,
        former_issuers=_former_issuers(parts),
        status=parts.status,
    )
    return UseCases(
        consents=ConsentManager(
            storage=parts.storage,
            clock=parts.clock,
            catalog=parts.catalog,
            keyring=parts.keyring,
            trail=parts.trail,
            refusal_budget=parts.refusal_budget,
            consent_changes=parts.consent_changes,
            max_pending_requests=config.max_pending_requests,
            status=parts.status,
        ),
        records=RecordManager(
            storage=parts.storage,
            clock=parts.clock,
            catalog=parts.catalog,
            vault=parts.vault,
            trail=parts.trail,
            providers=parts.providers,
            fx_rates_role=config.fx_rates_role,
            token_leeway=config.token_leeway,
            data_dir=config.data_dir,
            status=parts.status,
        ),
        attestations=AttestationManager(
            storage=parts.storage,
            clock=parts.clock,
            catalog=parts.catalog,
            vault=parts.vault,
            keyring=parts.keyring,
            trail=parts.trail,
            refusals=refusals,
            redeemer=redeemer,
            issuer=parts.vc_types.issuer,
            attestation_ttl=config.attestation_ttl,
            vc_types=parts.vc_types,
            status=parts.status,
        ),
        activity=OwnerActivity(storage=parts.storage, log=parts.log, trail=parts.trail),
        history=AssetHistory(
            storage=parts.storage,
            log=parts.log,
            catalog=parts.catalog,
            vault=parts.vault,
            clock=parts.clock,
            trail=parts.trail,
        ),
        owner_records=OwnerRecords(storage=parts.storage, catalog=parts.catalog, vault=parts.vault),
    )


def build_servicers(parts: GatewayParts, use_cases: UseCases) -> GatewayServicers:
    """The four gRPC services over ``use_cases``."""
    return GatewayServicers(
        consent=ConsentServicer(
            consents=use_cases.consents,
            activity=use_cases.activity,
            consent_changes=parts.consent_changes,
        ),
        attestation=AttestationServicer(
            attestations=use_cases.attestations,
            clock=parts.clock,
            keyring=parts.keyring,
            issuer=parts.vc_types.issuer,
            former_issuers=_former_issuers(parts),
        ),
        record=RecordServicer(records=use_cases.records, history=use_cases.history),
        audit=AuditServicer(
            storage=parts.storage,
            log=parts.log,
            commits=parts.commits,
            published=parts.published,
        ),
    )


def build_gateway(config: GatewayConfig, *, clock: Clock | None = None) -> BuiltGateway:
    """The gateway ``attestgate serve`` runs: real services on the configured database."""
    clock = clock or SystemClock()
    keyring = prepare_data_dir(config, clock=clock)
    parts = build_parts(config, clock=clock, keyring=keyring)
    use_cases = build_use_cases(parts)
    metrics = _metrics(config)
    gateway = build_server(
        config,
        keyring=keyring,
        clock=clock,
        servicers=build_servicers(parts, use_cases),
        observer=metrics,
    )
    collector = _witnesses(gateway, parts, metrics)
    on_batch = chain(
        metrics.batch_committed if metrics is not None else None,
        collector.batch_committed if collector is not None else None,
    )
    if metrics is not None:
        parts.refusal_budget.on_suppressed = metrics.refusal_unlogged
    if metrics is not None and gateway.streams is not None:
        metrics.watch_streams(gateway.streams.in_use, gateway.streams.limits.total)

    def start() -> None:
        sequencer = start_writes(parts, on_batch=on_batch)
        if writer is not None:  # assigned below, before the gateway starts
            writer.follow(sequencer.progress)

    gateway.on_start.append(start)
    gateway.on_stop.append(parts.storage.close)  # runs after the watches stopped (reverse order)
    readiness, gate = _watch_readiness(gateway, parts.storage, metrics)
    writer = _watch_writer(gateway, gate, metrics)
    endpoint: MetricsServer | None = None
    if metrics is not None:
        from attestgate.gateway.ops.metrics import metrics_server  # noqa: PLC0415

        endpoint = metrics_server(config, metrics)  # refuses a public address before any start
        gateway.on_start.append(endpoint.start)
        gateway.on_stop.append(endpoint.stop)
    if collector is not None:  # after the writer started; stopped before storage closes
        gateway.on_start.append(collector.start)
        gateway.on_stop.append(collector.stop)
    portal = _portal(gateway, parts, use_cases) if config.portal else None
    lists = _status_lists(gateway, parts)
    public = _public(gateway, parts, lists) if parts.public is not None else None
    return BuiltGateway(
        gateway, parts, use_cases, readiness, writer, endpoint, portal, public, lists
    )


def _witnesses(
    gateway: Gateway, parts: GatewayParts, metrics: GatewayMetrics | None
) -> CosignatureCollector | None:
    """The collector of witness cosignatures (``None``: no ``[[witnesses]]`` configured)."""
    config = parts.config
    if not config.witnesses:
        return None
    collector = CosignatureCollector(
        storage=parts.storage,
        log=parts.log,
        clock=parts.clock,
        witnesses=config.witnesses,
        timeout=config.witness_timeout.total_seconds(),
        retry_max=config.witness_retry_max.total_seconds(),
        observer=metrics,
    )
    if metrics is not None:
        metrics.watch_witnesses(collector.behind)
    return collector


def _former_issuers(parts: GatewayParts) -> tuple[str, ...]:
    """The ``iss`` of attestations issued before the public URL was the issuer: the gateway id."""
    return () if parts.vc_types.issuer == parts.config.gateway_id else (parts.config.gateway_id,)


def _status_lists(gateway: Gateway, parts: GatewayParts) -> StatusPublisher | None:
    """The status lists' publisher (after the writer starts, stopped before storage closes)."""
    if parts.status is None:
        return None
    publisher = StatusPublisher(
        storage=parts.storage,
        clock=parts.clock,
        keyring=parts.keyring,
        status=parts.status,
        issuer=parts.vc_types.issuer,
        interval=parts.config.status_list_interval,
    )
    gateway.on_start.append(publisher.start)
    gateway.on_stop.append(publisher.stop)
    return publisher


def _public(gateway: Gateway, parts: GatewayParts, lists: StatusPublisher | None) -> PublicServer:
    """The public HTTPS face beside ``gateway``: issuer keys, type metadata, status lists."""
    assert parts.public is not None
    clock, keyring = parts.clock, parts.keyring
    interval = int(parts.config.status_list_interval.total_seconds())
    routes = [] if lists is None else [status_route(parts.vc_types.issuer, lists.token, interval)]
    storage, published = parts.storage, parts.published
    routes += tile_routes(  # tlog-tiles; the checkpoint with its cosignatures
        parts.vc_types.issuer, LogTiles(storage.read), lambda: published.latest(storage.read())
    )
    return attach_public(
        gateway,
        parts.config,
        parts.public,
        jwks=lambda: keyring.issuer_jwks(clock.now()),
        types=parts.vc_types.documents,
        routes=routes,
    )


def _portal(gateway: Gateway, parts: GatewayParts, use_cases: UseCases) -> PortalServer:
    """The owner and regulator portal beside ``gateway``, over the same use cases."""
    # Imported only when asked for: the portal's web stack is the optional "portal" extra.
    from attestgate.gateway.portal import attach_portal  # noqa: PLC0415
    from attestgate.gateway.portal.auditview import LogView  # noqa: PLC0415

    return attach_portal(
        gateway,
        parts.config,
        clock=parts.clock,
        catalog=parts.catalog,
        consents=use_cases.consents,
        activity=use_cases.activity,
        history=use_cases.history,
        records=use_cases.owner_records,
        audit_log=LogView(parts.storage, parts.log, parts.keyring, parts.config.log_origin),
    )


def _metrics(config: GatewayConfig) -> GatewayMetrics | None:
    """The metrics collectors when ``config.metrics`` names an endpoint, else ``None``."""
    if not config.metrics:
        return None
    # Imported only when asked for: nothing of prometheus-client loads while metrics are off.
    from attestgate.gateway.ops.metrics import GatewayMetrics  # noqa: PLC0415

    return GatewayMetrics()


def _watch_readiness(
    gateway: Gateway, storage: Storage, metrics: GatewayMetrics | None
) -> tuple[ReadinessWatch, ReadinessGate]:
    """Health NOT_SERVING while storage does not answer, SERVING again once it does; the
    returned gate takes further conditions (the audit writer's)."""
    listeners: list[Callable[[bool], None]] = [gateway.set_serving]
    if metrics is not None:
        listeners.append(metrics.set_ready)
    gate = ReadinessGate(listeners)
    interval = gateway.config.storage_check_interval.total_seconds()
    watch = ReadinessWatch(
        storage_probe(storage),
        [gate.condition("storage")],
        interval=interval,
        timeout=max(interval, 2.0),
    )
    gateway.after_start.append(watch.start)
    gateway.on_stop.append(watch.stop)
    return watch, gate


def _watch_writer(
    gateway: Gateway, gate: ReadinessGate, metrics: GatewayMetrics | None
) -> WriterWatch | None:
    """Health NOT_SERVING while the audit writer is stalled (``gateway.ops.writer_watch``); None
    when ``audit_writer_stall_timeout`` is 0 (off)."""
    stall_after = gateway.config.audit_writer_stall_timeout.total_seconds()
    if stall_after <= 0:
        return None
    watch = WriterWatch([gate.condition("audit writer")], stall_after=stall_after)
    gateway.after_start.append(watch.start)
    gateway.on_stop.append(watch.stop)
    if metrics is not None:
        metrics.watch_writer(lambda: watch.stalled, watch.seconds_since_batch)
    return watch
