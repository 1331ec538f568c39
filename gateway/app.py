"""The composition root: storage, keys, the audit sequencer and the four services, wired once;
plus the operational parts: the readiness watches (health follows storage and the audit writer)
and, when configured, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from attestgate.audit.events import Pseudonymizer
from attestgate.audit.sequencer import BatchReport, Sequencer, SequencerSettings
from attestgate.audit.tree import AuditLog
from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.clock import Clock, SystemClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.ops.readiness import ReadinessGate, ReadinessWatch, storage_probe
from attestgate.gateway.ops.writer_watch import WriterWatch
from attestgate.gateway.persistence import vault
from attestgate.gateway.persistence.storage import open_storage
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
from attestgate.gateway.usecases.context import Core
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.gateway.usecases.refusal_budget import RefusalBudget
from attestgate.protocol.note import NoteSigner

if TYPE_CHECKING:  # optional extras (prometheus-client, the portal's web stack), typing only
    from attestgate.gateway.ops.metrics import GatewayMetrics, MetricsServer
    from attestgate.gateway.portal.server import PortalServer


@dataclass(frozen=True)
class BuiltGateway:
    """What ``build_gateway`` returns: the gRPC server (``start`` / ``stop`` / ``wait``) and the
    parts wired around it, for the CLI, tests and operators' tooling to look at."""

    server: Gateway
    """The gRPC server with its start and stop hooks."""
    core: Core
    """The use cases' collaborators (storage, keys, catalog, log)."""
    readiness: ReadinessWatch
    """The storage readiness watch behind the health service."""
    writer_watch: WriterWatch | None = None
    """The audit writer's stall watch (``None``: ``audit_writer_stall_timeout`` is 0)."""
    metrics_endpoint: MetricsServer | None = None
    """The ``/metrics`` endpoint (``None``: metrics are off)."""
    portal: PortalServer | None = None
    """The owner and regulator portal (``None``: no ``portal`` address configured)."""

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


def build_core(config: GatewayConfig, *, clock: Clock, keyring: KeyRing) -> Core:
    """Open the database (SQLite: created and migrated if needed; PostgreSQL: its schema must be
    current) and build every collaborator; nothing runs yet."""
    storage = open_storage(config)
    storage.create(clock.now())
    signer = NoteSigner(config.log_origin, keyring.note_signer_key)
    log = AuditLog(storage.writer_connection, signer=signer, origin=config.log_origin)
    pseudonymizer = Pseudonymizer(keyring.pseudonym_key)
    catalog = Catalog.load_default()
    public = [name for name, domain in catalog.domains.items() if domain.record_id_public]
    return Core(
        config=config,
        clock=clock,
        storage=storage,
        catalog=catalog,
        keyring=keyring,
        vault=vault.RecordVault(keyring, pseudonymizer.pseudonym),
        log=log,
        trail=trail.Trail(pseudonymizer, public),
        providers=ProviderRegistry(config.data_dir),
        refusal_budget=RefusalBudget(config.refusal_audit_per_minute, config.refusal_audit_burst),
    )


def start_core(core: Core, *, on_batch: Callable[[BatchReport], None] | None = None) -> Sequencer:
    """Start the group-committing sequencer and make sure the log has a signed checkpoint;
    ``on_batch`` hears about every batch (metrics). Returns the running sequencer."""
    config = core.config
    sequencer = Sequencer(
        core.storage.writer_connection,
        core.log,
        settings=SequencerSettings(
            max_batch=config.audit_batch_max,
            max_wait=timedelta(milliseconds=config.audit_batch_wait_ms),
            checkpoint_interval=config.checkpoint_interval,
        ),
        now=core.clock.now,
        on_commit=core.notify_commit,
        indexer=trail.index_subjects,
        begin=core.storage.begin_batch,
        on_batch=on_batch,
    )
    core.storage.attach(sequencer)
    core.storage.write(lambda tx: None)  # writes the first checkpoint of a new log
    return sequencer


def build_gateway(config: GatewayConfig, *, clock: Clock | None = None) -> BuiltGateway:
    """The gateway ``attestgate serve`` runs: real services on the configured database."""
    clock = clock or SystemClock()
    keyring = prepare_data_dir(config, clock=clock)
    core = build_core(config, clock=clock, keyring=keyring)
    servicers = GatewayServicers(
        consent=ConsentServicer(core),
        attestation=AttestationServicer(core),
        record=RecordServicer(core),
        audit=AuditServicer(core),
    )
    metrics = _metrics(config)
    gateway = build_server(
        config, keyring=keyring, clock=clock, servicers=servicers, observer=metrics
    )
    on_batch = metrics.batch_committed if metrics is not None else None
    if metrics is not None:
        core.refusal_budget.on_suppressed = metrics.refusal_unlogged
    if metrics is not None and gateway.streams is not None:
        metrics.watch_streams(gateway.streams.in_use, gateway.streams.limits.total)

    def start_writes() -> None:
        sequencer = start_core(core, on_batch=on_batch)
        if writer is not None:  # assigned below, before the gateway starts
            writer.follow(sequencer.progress)

    gateway.on_start.append(start_writes)
    gateway.on_stop.append(core.storage.close)  # runs after the watches stopped (reverse order)
    readiness, gate = _watch_readiness(gateway, core, metrics)
    writer = _watch_writer(gateway, gate, metrics)
    endpoint: MetricsServer | None = None
    if metrics is not None:
        from attestgate.gateway.ops.metrics import metrics_server  # noqa: PLC0415

        endpoint = metrics_server(config, metrics)  # refuses a public address before any start
        gateway.on_start.append(endpoint.start)
        gateway.on_stop.append(endpoint.stop)
    portal: PortalServer | None = None
    if config.portal:
        # Imported only when asked for: the portal's web stack is the optional "portal" extra.
        from attestgate.gateway.portal import attach_portal  # noqa: PLC0415

        portal = attach_portal(gateway, core)
    return BuiltGateway(gateway, core, readiness, writer, endpoint, portal)


def _metrics(config: GatewayConfig) -> GatewayMetrics | None:
    """The metrics collectors when ``config.metrics`` names an endpoint, else ``None``."""
    if not config.metrics:
        return None
    # Imported only when asked for: nothing of prometheus-client loads while metrics are off.
    from attestgate.gateway.ops.metrics import GatewayMetrics  # noqa: PLC0415

    return GatewayMetrics()


def _watch_readiness(
    gateway: Gateway, core: Core, metrics: GatewayMetrics | None
) -> tuple[ReadinessWatch, ReadinessGate]:
    """Health NOT_SERVING while storage does not answer, SERVING again once it does; the
    returned gate takes further conditions (the audit writer's)."""
    listeners: list[Callable[[bool], None]] = [gateway.set_serving]
    if metrics is not None:
        listeners.append(metrics.set_ready)
    gate = ReadinessGate(listeners)
    interval = core.config.storage_check_interval.total_seconds()
    watch = ReadinessWatch(
        storage_probe(core.storage),
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
