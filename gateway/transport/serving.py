"""What every flavour of the gateway's gRPC server shares, built from the configuration: the worker
pool and admission control, the interceptor (token checks, access log), the channel options and
the four servicers (``GatewayServicers``) and their registration.

``gateway.transport.server.build_server`` builds the production server (synchronous
``grpc.server``) from
these; ``bench/aio_server.py`` builds a ``grpc.aio`` variant from the same parts, so the two
compare servers, not configurations.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc

from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.limits import AdmissionExecutor, RateLimiter
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.transport.call_log import CallObserver
from attestgate.gateway.transport.interceptors import Admission, GatewayInterceptor
from attestgate.gateway.transport.services.unimplemented import (
    UnimplementedAttestationService,
    UnimplementedAuditService,
    UnimplementedConsentService,
    UnimplementedRecordService,
)
from attestgate.gateway.transport.streams import StreamLimiter, StreamLimits
from attestgate.v1 import (
    attestation_pb2_grpc,
    audit_pb2_grpc,
    consent_pb2_grpc,
    record_pb2_grpc,
)


@dataclass
class GatewayServicers:
    """One servicer per service; a feature replaces its ``Unimplemented*`` default."""

    consent: consent_pb2_grpc.ConsentServiceServicer = field(
        default_factory=UnimplementedConsentService
    )
    attestation: attestation_pb2_grpc.AttestationServiceServicer = field(
        default_factory=UnimplementedAttestationService
    )
    record: record_pb2_grpc.RecordServiceServicer = field(
        default_factory=UnimplementedRecordService
    )
    audit: audit_pb2_grpc.AuditServiceServicer = field(default_factory=UnimplementedAuditService)


def gateway_interceptor(
    config: GatewayConfig,
    *,
    keyring: KeyRing,
    clock: Clock,
    admitted: Admission,
    verifier: TokenVerifier | None = None,
    observer: CallObserver | None = None,
) -> GatewayInterceptor:
    """The interceptor of a server built for ``config``: token checks against the configured
    issuers, access-log subject hashes keyed from ``keyring``, ``admitted``'s limits."""
    verifier = verifier or TokenVerifier(
        config.issuers, audience=config.gateway_id, leeway=config.token_leeway, clock=clock
    )
    return GatewayInterceptor(
        verifier, log_key=_access_log_key(keyring), admission=admitted, observer=observer
    )


def server_options(config: GatewayConfig) -> list[tuple[str, int]]:
    """The gRPC channel options of a server built for ``config``."""
    return [
        # Twice the limit on the wire: a request up to that size is read and refused with
        # reason MESSAGE_TOO_LARGE by the interceptor; beyond it gRPC refuses it unread.
        ("grpc.max_receive_message_length", 2 * config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),  # never share a port with another process silently
    ]


def add_servicers(servicers: GatewayServicers, server: grpc.Server | grpc.aio.Server) -> None:
    """Register the four attestgate services on ``server`` (sync or ``grpc.aio``)."""
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicers.consent, server)
    attestation_pb2_grpc.add_AttestationServiceServicer_to_server(servicers.attestation, server)
    record_pb2_grpc.add_RecordServiceServicer_to_server(servicers.record, server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(servicers.audit, server)


def admission(config: GatewayConfig) -> Admission:
    """The worker pool and admission control for ``config`` (``gateway.common.limits``, and the
    stream
    limits of ``gateway.transport.streams``: ``ConfigError`` if streams could take every worker
    thread)."""
    rate = None
    if config.rate_limit_per_second > 0:
        burst = config.rate_limit_burst or max(1, math.ceil(config.rate_limit_per_second))
        rate = RateLimiter(config.rate_limit_per_second, burst)
    workers = AdmissionExecutor(
        config.max_workers, limit=config.max_concurrent_rpcs, thread_name_prefix="attestgate-rpc"
    )
    health = ThreadPoolExecutor(max_workers=2, thread_name_prefix="attestgate-health")
    return Admission(
        concurrency=workers,
        rate=rate,
        max_message_bytes=config.max_message_bytes,
        health_pool=health,
        streams=StreamLimiter(StreamLimits.from_config(config)),
    )


def _access_log_key(keyring: KeyRing) -> bytes:
    # A key derived from (not equal to) the audit pseudonym key, so access-log hashes cannot be
    # joined with audit pseudonyms.
    return hmac.new(
        keyring.pseudonym_key, b"attestgate access-log subject v1", hashlib.sha256
    ).digest()
