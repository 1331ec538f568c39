"""Prometheus metrics (off by default; ``attestgate serve --metrics 127.0.0.1:9464``).

What an operator needs to see the gateway's health without reading logs:

- ``attestgate_rpc_requests_total{method, code}``: every finished call by gRPC status code;
- ``attestgate_rpc_duration_seconds{method}``: latency histogram per method;
- ``attestgate_rpc_refusals_total{reason}``: refusals by stable ``ErrorInfo`` reason;
- ``attestgate_audit_batch_units`` / ``attestgate_audit_batch_events``: group-commit batch sizes;
- ``attestgate_audit_commit_seconds``: time from BEGIN to COMMIT of a batch;
  ``attestgate_audit_batch_failures_total``: batches that did not commit;
- ``attestgate_audit_refusals_unlogged_total``: refusals over their caller's refusal budget,
  answered but not logged one leaf each (``gateway.usecases.refusal_budget``);
- ``attestgate_ready``: 1 while the gateway is ready (storage answers, the audit writer moves:
  ``gateway.ops.readiness``), else 0;
- ``attestgate_audit_writer_stalled``: 1 while writes wait and no batch finished for
  ``audit_writer_stall_timeout`` (``gateway.ops.writer_watch``);
  ``attestgate_audit_writer_seconds_since_batch``: seconds since the writer last finished a batch;
- ``attestgate_streams_open`` / ``attestgate_streams_limit``: streams open now (each holds a
  worker thread) and ``max_streams`` (``gateway.transport.streams``); refused ones count as
  refusals with
  reason ``TOO_MANY_STREAMS``;
- ``attestgate_witness_submissions_total{witness, outcome}``: checkpoints submitted to each witness
  (``gateway.witness.collector``) by outcome: cosigned, conflict (a 409: resubmitted from the
  witness's size), refused (another status, or no valid cosignature), unreachable;
  ``attestgate_witness_cosign_seconds{witness}``: from signing a checkpoint to its cosignatures
  stored; ``attestgate_witness_behind_entries{witness}``: entries the witness's newest
  cosignature is behind the newest checkpoint this replica signed (0: caught up).

Labels carry method names and reasons only, never a subject, a token or a value. Each gateway has
its own ``CollectorRegistry`` (no module-level singletons), served over plain HTTP by
prometheus-client's WSGI server on a loopback address unless ``metrics_allow_remote``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from attestgate.audit.sequencer import BatchReport
from attestgate.gateway.common.addresses import is_loopback, parse_listen
from attestgate.gateway.ops.config import ConfigError, GatewayConfig

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class GatewayMetrics:
    """The gateway's collectors; a ``CallObserver`` for the interceptor and an ``on_batch``
    callback for the audit sequencer."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "attestgate_rpc_requests", "Finished calls.", ["method", "code"], registry=r
        )
        self._latency = Histogram(
            "attestgate_rpc_duration_seconds",
            "Call latency.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._refusals = Counter(
            "attestgate_rpc_refusals", "Refused calls by reason.", ["reason"], registry=r
        )
        self._batch_units = Histogram(
            "attestgate_audit_batch_units", "Units of work per batch.", buckets=BATCH_BUCKETS,
            registry=r,
        )  # fmt: skip
        self._batch_events = Histogram(
            "attestgate_audit_batch_events", "Audit events per batch.", buckets=BATCH_BUCKETS,
            registry=r,
        )  # fmt: skip
        self._commit = Histogram(
            "attestgate_audit_commit_seconds", "Batch BEGIN to COMMIT.", buckets=COMMIT_BUCKETS,
            registry=r,
        )  # fmt: skip
        self._batch_failures = Counter(
            "attestgate_audit_batch_failures", "Batches that did not commit.", registry=r
        )
        self._witness_submissions = Counter(
            "attestgate_witness_submissions",
            "Checkpoints submitted to witnesses, by outcome.",
            ["witness", "outcome"],
            registry=r,
        )
        self._cosign = Histogram(
            "attestgate_witness_cosign_seconds",
            "From signing a checkpoint to its cosignatures stored.",
            ["witness"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._ready = Gauge("attestgate_ready", "1 while storage answers.", registry=r)
        self._refusals_unlogged = Counter(
            "attestgate_audit_refusals_unlogged",
            "Refusals answered but not logged one leaf each (over a caller's refusal budget).",
            registry=r,
        )

    def call_finished(self, method: str, code: str, seconds: float, reason: str | None) -> None:
        """Count a finished call (``CallObserver``)."""
        self._requests.labels(method=method, code=code).inc()
        self._latency.labels(method=method).observe(seconds)
        if reason is not None:
            self._refusals.labels(reason=reason).inc()

    def batch_committed(self, report: BatchReport) -> None:
        """Record one audit batch (the sequencer's ``on_batch``)."""
        if not report.committed:
            self._batch_failures.inc()
            return
        self._batch_units.observe(report.units)
        self._batch_events.observe(report.events)
        self._commit.observe(report.seconds)

    def refusal_unlogged(self) -> None:
        """A refusal over its caller's budget (``gateway.usecases.refusal_budget``)."""
        self._refusals_unlogged.inc()

    def set_ready(self, ready: bool) -> None:
        """Readiness changed (``gateway.ops.readiness``: storage and the audit writer)."""
        self._ready.set(1 if ready else 0)

    def watch_writer(self, stalled: Callable[[], bool], since_batch: Callable[[], float]) -> None:
        """Export the audit writer's state, read at each scrape (``gateway.ops.writer_watch``)."""
        r = self.registry
        Gauge(
            "attestgate_audit_writer_stalled", "1 while the audit writer is stalled.", registry=r
        ).set_function(lambda: 1.0 if stalled() else 0.0)
        Gauge(
            "attestgate_audit_writer_seconds_since_batch",
            "Seconds since the audit writer last finished a batch.",
            registry=r,
        ).set_function(since_batch)

    def witness_outcome(self, witness: str, outcome: str, seconds: float | None) -> None:
        """One submission to a witness (``gateway.witness.collector.WitnessObserver``)."""
        self._witness_submissions.labels(witness=witness, outcome=outcome).inc()
        if seconds is not None:
            self._cosign.labels(witness=witness).observe(seconds)

    def watch_witnesses(self, behind: Callable[[], dict[str, int]]) -> None:
        """Export how far behind each witness is, read at each scrape."""
        gauge = Gauge(
            "attestgate_witness_behind_entries",
            "Entries the witness's newest cosignature is behind this replica's newest checkpoint.",
            ["witness"],
            registry=self.registry,
        )
        for name in behind():
            gauge.labels(witness=name).set_function(functools.partial(_entry, behind, name))

    def watch_streams(self, in_use: Callable[[], int], limit: int) -> None:
        """Export the streams open (read at each scrape) and their limit
        (``gateway.transport.streams``)."""
        r = self.registry
        Gauge("attestgate_streams_open", "Streams open.", registry=r).set_function(in_use)
        Gauge("attestgate_streams_limit", "Streams allowed at once.", registry=r).set(limit)


def _entry(read: Callable[[], dict[str, int]], name: str) -> float:
    return float(read().get(name, 0))


class MetricsServer:
    """The ``/metrics`` HTTP endpoint of one registry; ``start`` / ``stop``."""

    def __init__(self, metrics: GatewayMetrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        return int(self._server.server_port)

    def start(self) -> None:
        """Bind and serve on a daemon thread."""
        try:
            self._server, self._thread = start_http_server(
                self._requested_port, addr=self._host, registry=self._metrics.registry
            )
        except OSError as exc:
            raise ConfigError(
                f"could not serve metrics on {self._host}:{self._requested_port}: {exc.strerror}"
            ) from None

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def metrics_server(config: GatewayConfig, metrics: GatewayMetrics) -> MetricsServer:
    """The endpoint ``config.metrics`` names; refuses a non-loopback address unless allowed,
    because metrics describe traffic (methods, refusal reasons) to whoever can reach them."""
    host, port = parse_listen(config.metrics)
    if not is_loopback(host) and not config.metrics_allow_remote:
        raise ConfigError(
            f"refusing to serve metrics on {config.metrics}: only loopback addresses (127.0.0.1, "
            "::1, localhost) unless metrics_allow_remote = true"
        )
    return MetricsServer(metrics, host, port)
