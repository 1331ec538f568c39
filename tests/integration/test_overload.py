"""Overload (issue 9): bounded concurrency, per-principal rate limits, a load test at twice the
capacity. Past the limit the gateway says RESOURCE_EXHAUSTED at once (reason OVERLOADED or
RATE_LIMITED, with a RetryInfo delay) instead of letting everyone queue into timeouts; health
checks stay answered throughout, and the gateway serves normally once the load is gone."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.limits import AdmissionExecutor, RateLimiter, RetryLaterError
from attestgate.gateway.transport.server import GatewayServicers
from attestgate.gateway.transport.services.unimplemented import UnimplementedConsentService
from attestgate.protocol.reasons import Reason
from attestgate.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc
from tests.integration import live
from tests.integration.conftest import RunningGateway
from tests.integration.test_foundation import error_info

# -- the building blocks, with injected time -----------------------------------------------------


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_admits_a_burst_then_one_per_interval() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(2.0, 3, now=clock)
    assert [limiter.wait_time("bank-1", "bank") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_time("bank-1", "bank") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.wait_time("bank-1", "bank") == 0.0
    clock.now += 100  # refills up to the burst, never beyond
    assert [limiter.wait_time("bank-1", "bank") for _ in range(4)][-1] > 0


def test_buckets_are_per_subject_and_role() -> None:
    limiter = RateLimiter(1.0, 1, now=FakeMonotonic())
    assert limiter.wait_time("alice", "owner") == 0.0
    assert limiter.wait_time("alice", "owner") > 0
    assert limiter.wait_time("alice", "bank") == 0.0  # same subject, other role
    assert limiter.wait_time("bob", "owner") == 0.0


def test_the_refusal_says_when_to_retry() -> None:
    limiter = RateLimiter(4.0, 1, now=FakeMonotonic())
    limiter.admit("bank-1", "bank")
    with pytest.raises(RetryLaterError) as caught:
        limiter.admit("bank-1", "bank")
    assert caught.value.reason is Reason.RATE_LIMITED
    assert caught.value.retry_after == timedelta(milliseconds=250)


def test_forgotten_buckets_are_bounded() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(1.0, 1, now=clock, max_buckets=2)
    for subject in ("a", "b", "c"):
        limiter.admit(subject, "bank")
    assert limiter.wait_time("a", "bank") == 0.0  # "a" was evicted: a fresh (full) bucket


def test_the_executor_marks_tasks_past_the_limit() -> None:
    pool = AdmissionExecutor(4, limit=2)
    gate = threading.Event()
    try:
        blocked = [pool.submit(gate.wait, 5) for _ in range(2)]
        assert pool.in_flight == 2
        assert pool.submit(pool.over_limit).result(timeout=5) is True
        gate.set()
        for future in blocked:
            future.result(timeout=5)
        assert pool.submit(pool.over_limit).result(timeout=5) is False
        assert live.eventually(lambda: pool.in_flight == 0)
    finally:
        gate.set()
        pool.shutdown()


# -- a gateway whose GetConsent blocks until released ---------------------------------------------


class BlockingConsentService(UnimplementedConsentService):
    """GetConsent waits for ``release`` (so calls pile up), counting who is inside."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inside = 0
        self._lock = threading.Lock()

    def GetConsent(self, request: Any, context: Any) -> Any:
        with self._lock:
            self.inside += 1
        self.release.wait(10)
        return consent_pb2.Consent(name=request.name)


@pytest.fixture
def blocking() -> Iterator[BlockingConsentService]:
    service = BlockingConsentService()  # type: ignore[abstract]  # filled in at import time
    yield service
    service.release.set()


def _blocked_calls(gw: RunningGateway, count: int) -> tuple[grpc.Channel, list[Any]]:
    channel = gw.raw_channel()
    stub = consent_pb2_grpc.ConsentServiceStub(channel)
    metadata = (("authorization", f"Bearer {gw.token('bank', 'bank-1')}"),)
    futures = [
        stub.GetConsent.future(
            consent_pb2.GetConsentRequest(name=f"consents/{n}"), metadata=metadata, timeout=20
        )
        for n in range(count)
    ]
    return channel, futures


def _health(gw: RunningGateway, channel: grpc.Channel) -> int:
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    return int(response.status)


def _retry_delay(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    raise AssertionError("no RetryInfo detail")


def test_past_the_limit_calls_are_refused_at_once(
    start_gateway: Callable[..., RunningGateway], blocking: BlockingConsentService
) -> None:
    gw = start_gateway(
        servicers=GatewayServicers(consent=blocking), max_workers=6, max_concurrent_rpcs=3
    )
    channel, futures = _blocked_calls(gw, 3)
    try:
        assert live.eventually(lambda: blocking.inside == 3)
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gw.token('owner', 'alice')}"),)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetConsent(consent_pb2.GetConsentRequest(name="consents/x"), metadata=metadata)
        assert time.monotonic() - started < 1.0  # at once, not after the blocked calls
        code, reason, _ = error_info(caught.value)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
        assert _retry_delay(caught.value) > 0
        assert _health(gw, channel) == health_pb2.HealthCheckResponse.SERVING
        blocking.release.set()
        assert all(f.result(timeout=10).name for f in futures)
        # The load is gone: the same call is served again.
        assert stub.GetConsent(consent_pb2.GetConsentRequest(name="consents/y"), metadata=metadata)
    finally:
        blocking.release.set()
        channel.close()


def test_health_checks_are_answered_when_every_worker_is_busy(
    start_gateway: Callable[..., RunningGateway], blocking: BlockingConsentService
) -> None:
    gw = start_gateway(
        servicers=GatewayServicers(consent=blocking), max_workers=2, max_concurrent_rpcs=50
    )
    channel, _ = _blocked_calls(gw, 4)  # two run, two wait for a thread
    try:
        assert live.eventually(lambda: blocking.inside == 2)
        started = time.monotonic()
        assert _health(gw, channel) == health_pb2.HealthCheckResponse.SERVING
        assert time.monotonic() - started < 1.0  # health checks run on a pool of their own
    finally:
        blocking.release.set()
        channel.close()


def test_a_principal_over_its_rate_is_told_when_to_retry(
    start_gateway: Callable[..., RunningGateway],
) -> None:
    gw = start_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    with gw.raw_channel() as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)

        def call(sub: str) -> tuple[Any, str]:
            metadata = (("authorization", f"Bearer {gw.token('regulator', sub)}"),)
            try:
                stub.GetCheckpoint(audit_pb2.GetCheckpointRequest(), metadata=metadata, timeout=5)
            except grpc.RpcError as error:
                return error, error_info(error)[1]
            raise AssertionError("the unimplemented service answered")

        assert [call("csrc")[1] for _ in range(2)] == ["NOT_IMPLEMENTED"] * 2
        error, reason = call("csrc")
        assert reason == "RATE_LIMITED"
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert 0 < _retry_delay(error) <= 2.0
        assert call("cbirc")[1] == "NOT_IMPLEMENTED"  # another principal has its own bucket
        assert _health(gw, channel) == health_pb2.HealthCheckResponse.SERVING  # never limited


# -- a bounded load test at twice the capacity --------------------------------------------------

LOAD_SECONDS = 3.0
CAPACITY = 4


@pytest.mark.slow
def test_load_at_twice_the_capacity(tmp_path: Path, clock: FixedClock) -> None:
    gw = live.start_live(  # each client asks one owner again and again: no pending limit here
        tmp_path / "gw",
        clock,
        max_workers=CAPACITY + 2,
        max_concurrent_rpcs=CAPACITY,
        max_pending_requests=10**9,
    )
    try:
        outcomes, health = _run_load(gw, clients=2 * CAPACITY)
        assert outcomes["OK"] > 0
        assert outcomes["OVERLOADED"] > 0, outcomes  # twice the capacity: some are shed
        assert set(outcomes) <= {"OK", "OVERLOADED"}, outcomes  # no timeouts, no errors
        assert health, "the probe never ran"
        assert all(status == "SERVING" for status, _ in health), health
        assert max(seconds for _, seconds in health) < 1.0
        owner = gw.owner("alice-after")  # the load is gone: normal service
        assert owner.list_consents() == []
    finally:
        gw.close()


def _run_load(gw: live.LiveGateway, clients: int) -> tuple[Counter[str], list[tuple[str, float]]]:
    stop = threading.Event()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    health: list[tuple[str, float]] = []
    credentials = grpc.ssl_channel_credentials(gw.tls.ca_file.read_bytes())  # type: ignore[union-attr]

    def client(n: int) -> None:
        with grpc.secure_channel(gw.target, credentials) as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            metadata = (("authorization", f"Bearer {gw.token('bank', f'bank-{n}')}"),)
            request = consent_pb2.CreateConsentRequestRequest(
                consent_request=consent_pb2.ConsentRequest(
                    owner=f"owner-{n}", domain="income", purpose="fx_purchase",
                    claims=["tax_year"],
                )
            )  # fmt: skip
            while not stop.is_set():
                try:
                    stub.CreateConsentRequest(request, metadata=metadata, timeout=5)
                    outcome = "OK"
                except grpc.RpcError as error:
                    outcome = error_info(error)[1] or error.code().name
                with lock:
                    outcomes[outcome] += 1

    def probe() -> None:
        with grpc.secure_channel(gw.target, credentials) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not stop.wait(0.05):
                started = time.monotonic()
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
                except grpc.RpcError as error:
                    name = error.code().name
                health.append((name, time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=clients + 1) as pool:
        futures = [pool.submit(client, n) for n in range(clients)] + [pool.submit(probe)]
        time.sleep(LOAD_SECONDS)
        stop.set()
        for future in futures:
            future.result(timeout=30)
    return outcomes, health
