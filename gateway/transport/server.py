"""The gRPC server (the transport layer, docs/architecture.md).

The composition root, ``gateway.app.build_gateway``, wires keys, TLS, storage and the servicers
together; ``build_server`` takes every dependency explicitly so tests can inject servicers
and a ``FixedClock``. The server is synchronous ``grpc.server`` on a thread pool, behind
``GatewayInterceptor``, with gRPC health checking and server reflection so that
``grpc_health_probe`` and ``grpcurl`` work out of the box. Overload protection
(``gateway.common.limits``)
is configured here: a concurrency limit below the worker-thread count and optional per-principal
rate limits, enforced by the interceptor.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from attestgate.gateway.common.addresses import format_host_port, is_loopback, parse_listen
from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.tls import ensure_dev_tls, server_credentials
from attestgate.gateway.ops.config import ConfigError, GatewayConfig
from attestgate.gateway.transport.call_log import CallObserver
from attestgate.gateway.transport.reflection import enable_reflection
from attestgate.gateway.transport.serving import (
    GatewayServicers,
    add_servicers,
    admission,
    gateway_interceptor,
    server_options,
)
from attestgate.gateway.transport.streams import StreamLimiter
from attestgate.v1 import attestation_pb2, audit_pb2, consent_pb2, record_pb2

__all__ = [
    "SERVICE_NAMES",
    "Gateway",
    "GatewayServicers",
    "build_server",
    "check_listen_security",
    "prepare_data_dir",
]

_log = logging.getLogger("attestgate.server")

SERVICE_NAMES: tuple[str, ...] = (
    consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name,
    attestation_pb2.DESCRIPTOR.services_by_name["AttestationService"].full_name,
    record_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
)
"""The four attestgate services, by full name."""


def check_listen_security(config: GatewayConfig) -> tuple[str, int]:
    """Refuse plaintext on anything but loopback: tokens would travel in the clear."""
    host, port = parse_listen(config.listen)
    if config.insecure and not is_loopback(host):
        raise ConfigError(
            f"refusing --insecure on {config.listen}: plaintext is only allowed on a loopback "
            "address (127.0.0.1, ::1, localhost) because bearer tokens would travel in the clear; "
            "drop --insecure to serve TLS"
        )
    return host, port


class Gateway:
    """A built (not yet started) gateway server; ``start`` / ``stop`` / ``wait``."""

    def __init__(
        self,
        server: grpc.Server,
        health_servicer: health.HealthServicer,
        *,
        config: GatewayConfig,
        credentials: grpc.ServerCredentials | None,
    ) -> None:
        self._server = server
        self._health = health_servicer
        self._config = config
        self._credentials = credentials
        self._port: int | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self.on_start: list[Callable[[], None]] = []
        """Called in order before the port opens (e.g. start storage, the audit sequencer)."""
        self.on_stop: list[Callable[[], None]] = []
        """Called in reverse order after in-flight calls finished (e.g. flush and close storage)."""
        self.after_start: list[Callable[[], None]] = []
        """Called in order once the port serves (e.g. the readiness watch)."""
        self.streams: StreamLimiter | None = None
        """The stream limits and their reaper (``gateway.transport.streams``), for metrics."""

    @property
    def config(self) -> GatewayConfig:
        """The configuration the gateway was built with."""
        return self._config

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        if self._port is None:
            raise RuntimeError("the gateway is not started")
        return self._port

    @property
    def address(self) -> str:
        """``HOST:PORT`` with the real port (after ``start``)."""
        host, _ = parse_listen(self._config.listen)
        return format_host_port(host, self.port)

    def start(self) -> int:
        """Run the start hooks, bind, serve; returns the bound port (port 0 picks a free one)."""
        for hook in self.on_start:
            hook()
        try:
            if self._credentials is None:
                port = self._server.add_insecure_port(self._config.listen)
            else:
                port = self._server.add_secure_port(self._config.listen, self._credentials)
        except RuntimeError:  # grpc raises when the address is taken or invalid
            port = 0
        if not isinstance(port, int) or not port:
            raise ConfigError(
                f"could not listen on {self._config.listen} (address in use or not local?)"
            )
        self._port = port
        self._server.start()
        self.set_serving(True)
        _log.info("listening on %s", self.address, extra={"tls": self._credentials is not None})
        for hook in self.after_start:
            hook()
        return port

    def set_serving(self, serving: bool) -> None:
        """Health SERVING or NOT_SERVING for every service (ignored once stopping)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", *SERVICE_NAMES):
            self._health.set(service, status)

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: health NOT_SERVING, refuse new calls, let in-flight calls finish
        within ``grace`` seconds (default: the configured grace period), then run stop hooks."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            if grace is None:
                grace = self._config.grace_period.total_seconds()
            # Load balancers watching health drain us before the listener closes.
            self._health.enter_graceful_shutdown()
            self._server.stop(grace).wait()
            for hook in reversed(self.on_stop):
                try:
                    hook()
                except Exception:
                    _log.exception("stop hook failed")
            self._stopped.set()
            _log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop`` completed (or ``timeout``); True if stopped."""
        return self._stopped.wait(timeout)


def build_server(
    config: GatewayConfig,
    *,
    keyring: KeyRing,
    clock: Clock,
    servicers: GatewayServicers | None = None,
    verifier: TokenVerifier | None = None,
    observer: CallObserver | None = None,
) -> Gateway:
    """A gateway serving ``servicers`` (default: all UNIMPLEMENTED) under ``config``;
    ``observer`` hears about every finished call (metrics)."""
    check_listen_security(config)
    servicers = servicers or GatewayServicers()
    admitted = admission(config)
    interceptor = gateway_interceptor(
        config,
        keyring=keyring,
        clock=clock,
        admitted=admitted,
        verifier=verifier,
        observer=observer,
    )
    assert admitted.concurrency is not None  # admission() always builds the worker pool
    server = grpc.server(
        admitted.concurrency, interceptors=[interceptor], options=server_options(config)
    )
    add_servicers(servicers, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for service in ("", *SERVICE_NAMES):
        health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    enable_reflection((*SERVICE_NAMES, health_name), server)
    credentials = None if config.insecure else server_credentials(config)
    gateway = Gateway(server, health_servicer, config=config, credentials=credentials)
    for pool in (admitted.concurrency, admitted.health_pool):
        if pool is not None:
            gateway.on_stop.append(functools.partial(pool.shutdown, wait=False))
    gateway.streams = admitted.streams
    if admitted.streams is not None:
        gateway.on_start.append(admitted.streams.start)
        gateway.on_stop.append(admitted.streams.stop)
    return gateway


def prepare_data_dir(config: GatewayConfig, *, clock: Clock) -> KeyRing:
    """Create what a first start needs: data dir (0700), keys, dev CA and server certificate."""
    host, _ = check_listen_security(config)
    keyring = KeyRing.open_or_create(
        config.data_dir,
        clock=clock,
        gateway_id=config.gateway_id,
        overlap=config.signing_key_overlap,
    )
    if not config.insecure and config.tls_cert is None:
        ensure_dev_tls(config.tls_dir, listen_host=host, now=clock.now())
    return keyring
