"""The ``grpc.aio`` variant of the server (``bench/aio_server.py``) keeps the gateway's contract.

Both kinds of behavior are covered: a coroutine (``IssueAttestation`` here, run on the event loop)
and a plain function (``RedeemAttestation``, run on the migration thread pool with grpc.aio's
``_SyncServicerContext``, which lacks ``code()`` and ``abort_with_status``). Each must bind the
caller, refuse with the right status and ErrorInfo, hide unexpected errors behind INTERNAL with a
correlation id, write the access line and refuse OVERLOADED past the concurrency limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import KeyRing, dev_issuer
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.transport.interceptors import current_principal
from attestgate.gateway.transport.server import GatewayServicers, prepare_data_dir
from attestgate.gateway.transport.services.unimplemented import UnimplementedAttestationService
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.v1 import attestation_pb2, attestation_pb2_grpc
from bench.aio_server import AioGateway, start_aio_server
from tests.integration.test_foundation import error_info

ISSUE = "/attestgate.v1.AttestationService/IssueAttestation"


class ProbeService(UnimplementedAttestationService):
    """Answers according to the request: ``ok``, ``refuse``, ``boom`` or ``block``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.blocked = threading.Event()

    async def IssueAttestation(
        self, request: attestation_pb2.IssueAttestationRequest, context: Any
    ) -> attestation_pb2.Attestation:
        """Coroutine: on the event loop."""
        if request.consent == "block":
            self.blocked.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return attestation_pb2.Attestation(name=self._answer(request.consent))

    def RedeemAttestation(
        self, request: attestation_pb2.RedeemAttestationRequest, context: Any
    ) -> attestation_pb2.Redemption:
        """Plain function: on the migration thread pool."""
        if request.transaction_ref == "block":
            self.blocked.set()
            self.release.wait(30)
        return attestation_pb2.Redemption(jti=self._answer(request.transaction_ref))

    @staticmethod
    def _answer(what: str) -> str:
        if what == "refuse":
            raise DomainError(Reason.CONSENT_NOT_FOUND, "no such consent")
        if what == "boom":
            raise RuntimeError("a bug")
        return current_principal().subject


@dataclass
class Running:
    server: AioGateway
    service: ProbeService
    stub: attestation_pb2_grpc.AttestationServiceStub
    channel: grpc.Channel
    bank: tuple[tuple[str, str], ...]
    owner: tuple[tuple[str, str], ...]

    def call(self, kind: str, what: str, metadata: Any = None) -> str:
        """Issue (coroutine) or redeem (plain function) with ``what``; the subject answered."""
        md = self.bank if metadata is None else metadata
        if kind == "coroutine":
            request = attestation_pb2.IssueAttestationRequest(consent=what)
            return str(self.stub.IssueAttestation(request, metadata=md).name)
        redeem = attestation_pb2.RedeemAttestationRequest(transaction_ref=what)
        return str(self.stub.RedeemAttestation(redeem, metadata=md).jti)


def _token(keyring: KeyRing, config: GatewayConfig, role: str, sub: str) -> str:
    clock = SystemClock()
    return issue_dev_token(
        keyring, role=role, sub=sub, ttl=timedelta(hours=1), now=clock.now(),
        audience=config.gateway_id,
    )  # fmt: skip


@pytest.fixture
def limit() -> int:
    """Calls in flight at once; the overload test lowers it to 1."""
    return 8


@pytest.fixture
def running(tmp_path: Path, limit: int) -> Iterator[Running]:
    data_dir = tmp_path / "data"
    config = GatewayConfig(
        data_dir=data_dir,
        listen="127.0.0.1:0",
        issuers=(dev_issuer(data_dir),),
        max_workers=4,
        max_concurrent_rpcs=limit,
    )
    clock = SystemClock()
    keyring = prepare_data_dir(config, clock=clock)
    # The base class fills in the other methods at import time, which mypy cannot see.
    service = ProbeService()  # type: ignore[abstract]
    servicers = GatewayServicers(attestation=service)
    server = start_aio_server(config, keyring=keyring, clock=clock, servicers=servicers)
    ca = TlsFiles.in_dir(config.tls_dir).ca_cert.read_bytes()
    channel = grpc.secure_channel(server.target, grpc.ssl_channel_credentials(ca))
    bank = (("authorization", f"Bearer {_token(keyring, config, 'bank', 'bank-a')}"),)
    owner = (("authorization", f"Bearer {_token(keyring, config, 'owner', 'alice')}"),)
    try:
        stub = attestation_pb2_grpc.AttestationServiceStub(channel)
        yield Running(server, service, stub, channel, bank, owner)
    finally:
        service.release.set()
        channel.close()
        server.stop(0)


class AccessLines(logging.Handler):
    """Collects access lines; grpc.aio sends an abort's status before the line is written."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self._arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[logging.LogRecord]:
        """The first ``count`` lines, once written (fails after a generous bound)."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.records) >= count, timeout=30)
            return self.records[:count]


@pytest.fixture
def access() -> Iterator[AccessLines]:
    logger = logging.getLogger("attestgate.access")
    handler, level = AccessLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


KINDS = ("coroutine", "plain")


def _refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_a_call_runs_with_the_caller_bound_and_is_logged(
    running: Running, kind: str, access: AccessLines
) -> None:
    assert running.call(kind, "ok") == "bank-a"
    [line] = access.wait_for(1)
    assert (line.code, line.role) == ("OK", "bank")  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
def test_refusals_keep_their_status_and_error_info(running: Running, kind: str) -> None:
    missing = _refusal(lambda: running.call(kind, "ok", metadata=()))
    assert error_info(missing)[:2] == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    owner = _refusal(lambda: running.call(kind, "ok", metadata=running.owner))
    assert error_info(owner)[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
    refused = _refusal(lambda: running.call(kind, "refuse"))
    assert error_info(refused)[:2] == (grpc.StatusCode.NOT_FOUND, "CONSENT_NOT_FOUND")
    assert refused.details() == "no such consent"


@pytest.mark.parametrize("kind", KINDS)
def test_an_unexpected_error_is_internal_with_a_correlation_id(
    running: Running, kind: str, access: AccessLines, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refusal(lambda: running.call(kind, "boom"))
    assert error_info(error)[:2] == (grpc.StatusCode.INTERNAL, "INTERNAL")
    message = error.details() or ""
    assert "a bug" not in message
    [line] = access.wait_for(1)
    assert line.code == "INTERNAL"  # type: ignore[attr-defined]
    assert line.correlation_id in message  # type: ignore[attr-defined]
    # grpc.aio itself logs nothing: the interceptor ended the call with a status.
    assert not [r for r in caplog.records if r.name.startswith("grpc")]


def test_an_unimplemented_plain_method_answers_unimplemented(running: Running) -> None:
    request = attestation_pb2.GetAttestationRequest(name="attestations/x")
    error = _refusal(lambda: running.stub.GetAttestation(request, metadata=running.bank))
    assert error_info(error)[:2] == (grpc.StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED")


def test_an_unparsable_request_is_invalid_argument(running: Running) -> None:
    raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = running.channel.unary_unary(ISSUE)
    error = _refusal(lambda: raw(b"\xff\xff\xff", metadata=running.bank))
    assert error_info(error)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


@pytest.mark.parametrize("limit", [1])
@pytest.mark.parametrize("kind", KINDS)
def test_a_call_past_the_concurrency_limit_is_overloaded(running: Running, kind: str) -> None:
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(running.call, kind, "block")
        assert running.service.blocked.wait(30)
        error = _refusal(lambda: running.call(kind, "ok"))
        running.service.release.set()
        assert first.result(30) == "bank-a"
    code, reason, _ = error_info(error)
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
    assert rpc_status.from_call(error) is not None
    # Admitted again once the first call has ended: its slot is freed just after its answer
    # reaches the client, so allow the server that moment.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert running.call(kind, "ok") == "bank-a"
            break
        except grpc.RpcError as refused:
            if error_info(refused)[1] != "OVERLOADED" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
