"""A real gateway for the RPC benchmarks, seeded over the wire, and a no-op twin on the same stack.

``BenchGateway`` starts ``gateway.app.build_gateway`` through the shipped
``attestgate.gateway.testing.start_local_gateway`` (TLS from the dev CA, bearer auth, SQLite
with group commit, the default settings: what ``attestgate serve`` runs) and a second server
from the same ``gateway.transport.server.build_server`` with the same config, key ring and
interceptor, whose
AttestationService answers ``IssueAttestation`` with a canned response and does nothing else:
the transport ceiling. The canned response is a real attestation, so both servers move the
same bytes, and the no-op runs the same auth and role check (bank role for IssueAttestation).
``aio_noop`` / ``aio_gateway`` start the ``grpc.aio`` variants of both (``bench/aio_server.py``).

Seeding uses the public gRPC API only (provider upload, consent request and approval, issue), so
storage refactorings do not break the benchmark. The scenario is a counterparty check
(``business_registration`` / ``counterparty_check``): up to 10 attestations per consent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.app import BuiltGateway, GatewayParts, build_servicers
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.gateway.transport.server import Gateway, GatewayServicers, build_server
from attestgate.gateway.transport.services.unimplemented import UnimplementedAttestationService
from attestgate.protocol.jose import public_jwk, sign_jws
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import (
    attestation_pb2,
    attestation_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    record_pb2,
    record_pb2_grpc,
)
from bench.aio_server import AioGateway, AsyncNoopAttestationService, start_aio_server

T = TypeVar("T")
R = TypeVar("R")

ISSUE_METHOD = "/attestgate.v1.AttestationService/IssueAttestation"
REDEEM_METHOD = "/attestgate.v1.AttestationService/RedeemAttestation"
PROVIDER = "market-regulator"
BANK = "bank-bench"
USES_PER_CONSENT = 10  # the counterparty_check purpose's max_uses
SUBJECTS = 16
SETUP_THREADS = 16


class NoopAttestationService(UnimplementedAttestationService):
    """``IssueAttestation`` returns a canned response: the cost of the stack around a use case."""

    def __init__(self, canned: attestation_pb2.Attestation) -> None:
        self._canned = canned

    def IssueAttestation(  # noqa: N802 - the RPC's name
        self, request: attestation_pb2.IssueAttestationRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.Attestation:
        """The canned attestation, whatever the request."""
        return self._canned


def _parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    # Concurrent callers let the gateway's group commit batch the setup writes.
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(fn, items))


@dataclass
class BenchGateway:
    """The real gateway and its no-op twin, both started, plus seeding helpers."""

    local: LocalGateway[Clock]
    noop: Gateway | BuiltGateway
    ca_pem: bytes
    holder_key: ec.EllipticCurvePrivateKey
    provider_key: ec.EllipticCurvePrivateKey
    channel: grpc.Channel
    canned: attestation_pb2.Attestation | None = None
    """The no-op twins' answer: a real attestation issued while seeding."""

    @property
    def gateway(self) -> BuiltGateway:
        """The real gateway (``attestgate.gateway.testing``)."""
        return self.local.gateway

    @property
    def parts(self) -> GatewayParts:
        """The real gateway's collaborators (key ring, clock)."""
        return self.gateway.parts

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>`` of the real gateway."""
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def noop_target(self) -> str:
        """``127.0.0.1:<port>`` of the no-op twin."""
        return f"127.0.0.1:{self.noop.port}"

    def token(self, role: str, sub: str) -> str:
        """A dev bearer token valid for an hour."""
        return self.local.token(role, sub)

    def _md(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        return self.local.metadata(role, sub)

    def seed_records(self) -> None:
        """One ACTIVE registration record per subject, uploaded by the registry."""
        stub = record_pb2_grpc.RecordServiceStub(self.channel)
        md = self._md("provider", PROVIDER)
        for i in range(SUBJECTS):
            fields = {"uscc": f"91440300MA5F{i:06d}", "name": f"Company {i}", "status": "ACTIVE"}
            fields["legal_rep_id"] = f"rep-{i}"
            payload: dict[str, Any] = {
                "domain": "business_registration",
                "subject": f"company-{i}",
                "record_id": f"reg-{i}",
                "fields": fields,
            }
            header = {"alg": "ES256", "kid": PROVIDER, "typ": "JWT"}
            signed = sign_jws(header, payload, self.provider_key)
            request = record_pb2.PutRecordRequest(signed_record=signed, request_id=f"rec-{i}")
            stub.PutRecord(request, metadata=md)

    def make_consents(self, count: int) -> list[str]:
        """``count`` ACTIVE counterparty-check consents (names), spread over the subjects."""
        stub = consent_pb2_grpc.ConsentServiceStub(self.channel)
        bank_md = self._md("bank", BANK)
        owner_md = [self._md("owner", f"company-{i}") for i in range(SUBJECTS)]

        def one(i: int) -> str:
            owner = i % SUBJECTS
            draft = consent_pb2.ConsentRequest(
                owner=f"company-{owner}",
                domain="business_registration",
                purpose="counterparty_check",
                claims=["name", "registration_status", "in_good_standing"],
                max_uses=USES_PER_CONSENT,
            )
            create = consent_pb2.CreateConsentRequestRequest(consent_request=draft)
            made = stub.CreateConsentRequest(create, metadata=bank_md)
            approve = consent_pb2.ApproveConsentRequestRequest(name=made.name)
            return str(stub.ApproveConsentRequest(approve, metadata=owner_md[owner]).name)

        return _parallel(one, range(count))

    def issue_bodies(self, consents: Sequence[str], prefix: str) -> list[bytes]:
        """Serialized IssueAttestation requests: every use of every consent, unique request ids."""
        holder = json.dumps(public_jwk(self.holder_key.public_key()))
        return [
            attestation_pb2.IssueAttestationRequest(
                consent=name, holder_jwk=holder, request_id=f"{prefix}-{i}-{use}"
            ).SerializeToString()
            for i, name in enumerate(consents)
            for use in range(USES_PER_CONSENT)
        ]

    def issue(self, bodies: Sequence[bytes]) -> list[attestation_pb2.Attestation]:
        """Issue attestations for ``bodies`` (setup, outside any timed window)."""
        stub = attestation_pb2_grpc.AttestationServiceStub(self.channel)
        md = self._md("bank", BANK)
        parse = attestation_pb2.IssueAttestationRequest.FromString
        return _parallel(lambda body: stub.IssueAttestation(parse(body), metadata=md), bodies)

    def redeem_bodies(self, attestations: Sequence[attestation_pb2.Attestation]) -> list[bytes]:
        """Serialized RedeemAttestation requests, one fresh KB-JWT presentation each."""
        now = datetime.now(UTC)
        audience = self.gateway.config.gateway_id
        bodies = []
        for i, issued in enumerate(attestations):
            ref = f"tx-{i}"
            presentation = create_presentation(
                issued.token,
                holder_key=self.holder_key,
                audience=audience,
                nonce=redemption_nonce(issued.jti, ref),
                now=now,
            )
            request = attestation_pb2.RedeemAttestationRequest(
                presentation=presentation, transaction_ref=ref
            )
            bodies.append(request.SerializeToString())
        return bodies

    def aio_noop(self) -> AioGateway:
        """Start the ``grpc.aio`` no-op: the canned answer from an ``async def`` handler."""
        if self.canned is None:
            raise RuntimeError("the gateway is not seeded yet")
        # The base class fills in the other methods at import time, which mypy cannot see.
        noop = AsyncNoopAttestationService(self.canned)  # type: ignore[abstract]
        return self._aio(GatewayServicers(attestation=noop))

    def aio_gateway(self) -> AioGateway:
        """Start the real servicers (plain functions, on the migration pool) over this gateway's
        use cases (same storage and audit sequencer) on a ``grpc.aio`` server."""
        return self._aio(build_servicers(self.gateway.parts, self.gateway.use_cases))

    def _aio(self, servicers: GatewayServicers) -> AioGateway:
        config = self.gateway.config
        return start_aio_server(
            config, keyring=self.parts.keyring, clock=self.parts.clock, servicers=servicers
        )

    def close(self) -> None:
        """Stop both servers (the real one flushes its storage)."""
        self.channel.close()
        self.noop.stop(1)
        self.local.close(grace=5)


def start_bench_gateway(data_dir: Path) -> BenchGateway:
    """Build, start and seed the gateway (records + one sample attestation) and its no-op twin."""
    local = start_local_gateway(data_dir)  # the defaults: what `attestgate serve` runs
    config, parts = local.config, local.parts
    provider_key = local.register_provider(PROVIDER, ("commercial_registry",))
    assert isinstance(provider_key, ec.EllipticCurvePrivateKey)  # uploads are signed ES256
    bench = BenchGateway(
        local=local,
        noop=local.gateway,  # replaced below once a real attestation exists to can
        ca_pem=local.ca_file.read_bytes(),
        holder_key=ec.generate_private_key(ec.SECP256R1()),
        provider_key=provider_key,
        channel=local.channel(),
    )
    bench.seed_records()
    sample = bench.issue(bench.issue_bodies(bench.make_consents(1), "sample")[:1])[0]
    # The base class fills in the other methods at import time, which mypy cannot see.
    noop = NoopAttestationService(sample)  # type: ignore[abstract]
    servicers = GatewayServicers(attestation=noop)
    bench.noop = build_server(config, keyring=parts.keyring, clock=parts.clock, servicers=servicers)
    bench.canned = sample
    bench.noop.start()
    return bench


def describe(bench: BenchGateway) -> dict[str, Any]:
    """The server settings the figures depend on."""
    config = bench.gateway.config
    return {
        "tls": not config.insecure,
        "max_workers": config.max_workers,
        "audit_batch_max": config.audit_batch_max,
        "audit_batch_wait_ms": config.audit_batch_wait_ms,
        "scenario": "business_registration/counterparty_check, in_good_standing + 2 claims",
    }
