"""Worker-pool exhaustion through long-lived streams (issue 14, section 4).

The synchronous server runs each call on one of ``max_workers`` threads and a stream keeps its
thread while it is open: 32 idle streams (reflection without a token, ``WatchConsentEvents`` with
any bank token, ``WatchCheckpoints`` with a regulator token) used to pin every thread, so every
other caller's call ran into its deadline while health said SERVING. Each test here talks to a
real gateway over TLS; every attacking stream has a deadline and is cancelled at the end.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.transport.streams import END_GRACE
from attestgate.sdk import AsyncBankClient, AsyncRegulatorClient, Checkpoint, errors
from attestgate.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc
from tests.integration import live
from tests.integration.live import LiveGateway, eventually
from tests.security.world import reason_of

STREAM_DEADLINE = 60.0
"""Seconds an attacking stream may stay open at most (the tests cancel them long before)."""

PROBE_DEADLINE = 3.0
"""Seconds a probing unary call may take: a starved gateway fails the test fast."""

PROBES = 30


class Attack:
    """Streams opened by attackers: ``open_*`` start them, ``close`` cancels them all."""

    def __init__(self, gw: LiveGateway) -> None:
        self.gw = gw
        self.calls: list[Any] = []
        self.channels: list[grpc.Channel] = []
        self._stop = threading.Event()  # ends the request iterators of idle reflection streams

    def channel(self) -> grpc.Channel:
        """A fresh raw TLS channel (a connection of its own)."""
        assert self.gw.tls.ca_file is not None
        credentials = grpc.ssl_channel_credentials(self.gw.tls.ca_file.read_bytes())
        channel = grpc.secure_channel(self.gw.target, credentials)
        self.channels.append(channel)
        return channel

    def metadata(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.gw.token(role, sub)}"),)

    def idle_requests(self) -> Iterator[reflection_pb2.ServerReflectionRequest]:
        """A reflection client that never sends a request (until the test ends)."""
        self._stop.wait(STREAM_DEADLINE)
        yield from ()

    def open_reflection(self, channel: grpc.Channel, count: int) -> list[Any]:
        """``count`` idle reflection streams without a token."""
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        calls = [
            stub.ServerReflectionInfo(self.idle_requests(), timeout=STREAM_DEADLINE)
            for _ in range(count)
        ]
        self.calls.extend(calls)
        return calls

    def open_health_watches(self, channel: grpc.Channel, count: int) -> list[Any]:
        """``count`` health Watch streams without a token."""
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        calls = [stub.Watch(request, timeout=STREAM_DEADLINE) for _ in range(count)]
        self.calls.extend(calls)
        return calls

    def open_consent_watches(self, channel: grpc.Channel, bank: str, count: int) -> list[Any]:
        """``count`` WatchConsentEvents streams with ``bank``'s token."""
        method = consent_pb2_grpc.ConsentServiceStub(channel).WatchConsentEvents
        return self._open(method, consent_pb2.WatchConsentEventsRequest(), "bank", bank, count)

    def open_checkpoint_watches(self, channel: grpc.Channel, count: int) -> list[Any]:
        """``count`` WatchCheckpoints streams with one regulator token."""
        method = audit_pb2_grpc.AuditServiceStub(channel).WatchCheckpoints
        return self._open(method, audit_pb2.WatchCheckpointsRequest(), "regulator", "csrc", count)

    def _open(self, method: Any, request: Any, role: str, sub: str, count: int) -> list[Any]:
        metadata = self.metadata(role, sub)
        calls = [method(request, metadata=metadata, timeout=STREAM_DEADLINE) for _ in range(count)]
        self.calls.extend(calls)
        return calls

    def ended(self) -> list[Any]:
        """The streams the gateway has already ended."""
        return [call for call in self.calls if call.done()]

    def close(self) -> None:
        """Cancel every stream and close every channel."""
        self._stop.set()
        for call in self.calls:
            call.cancel()
        for channel in self.channels:
            channel.close()


@pytest.fixture
def attack_factory() -> Iterator[Callable[[LiveGateway], Attack]]:
    """Attacks that are cleaned up (streams cancelled) whatever the test's outcome."""
    attacks: list[Attack] = []

    def make(gw: LiveGateway) -> Attack:
        attacks.append(Attack(gw))
        return attacks[-1]

    yield make
    for attack in attacks:
        attack.close()


def probe_latencies(gw: LiveGateway, channel: grpc.Channel, count: int = PROBES) -> list[float]:
    """Seconds each of ``count`` unary calls of an uninvolved owner took (each must succeed)."""
    stub = consent_pb2_grpc.ConsentServiceStub(channel)
    metadata = (("authorization", f"Bearer {gw.token('owner', 'olivia')}"),)
    seconds = []
    for _ in range(count):
        started = time.monotonic()
        stub.ListConsents(
            consent_pb2.ListConsentsRequest(), metadata=metadata, timeout=PROBE_DEADLINE
        )
        seconds.append(time.monotonic() - started)
    return seconds


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def scrape(gw: LiveGateway) -> dict[str, float]:
    """The gateway's Prometheus metrics, ``name{labels}`` -> value."""
    port = gw.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if match := re.match(r"^(\S+)\s+(\S+)$", line):
            samples[match.group(1)] = float(match.group(2))
    return samples


# --- 200 streams against the default worker pool ----------------------------------------------


@pytest.mark.parametrize("rate_limit", [0.0, 50.0], ids=["no-rate-limit", "rate-limited"])
def test_two_hundred_streams_do_not_starve_unary_calls(
    tmp_path: Path,
    clock: FixedClock,
    attack_factory: Callable[[LiveGateway], Attack],
    rate_limit: float,
) -> None:
    gw = live.start_live(
        tmp_path / "gw",
        clock,
        max_workers=32,  # the default pool the attack was observed against
        metrics="127.0.0.1:0",
        rate_limit_per_second=rate_limit,
        rate_limit_burst=100,
    )
    try:
        probe_channel = attack_factory(gw).channel()
        baseline = probe_latencies(gw, probe_channel)

        attack = attack_factory(gw)
        anonymous, banks, regulator = attack.channel(), attack.channel(), attack.channel()
        attack.open_reflection(anonymous, 80)
        attack.open_health_watches(anonymous, 20)
        for n in range(20):
            attack.open_consent_watches(banks, f"attacker-{n}", 4)
        attack.open_checkpoint_watches(regulator, 20)
        assert len(attack.calls) == 200

        limit = 16  # max_streams: half of max_workers by default
        assert eventually(lambda: len(attack.ended()) >= 200 - limit, timeout=15), len(
            attack.ended()
        )
        during = probe_latencies(gw, probe_channel)

        refused = attack.ended()
        assert len(refused) == 200 - limit
        for call in refused:
            assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, call.details()
            assert reason_of(call) == "TOO_MANY_STREAMS"
        samples = scrape(gw)
        assert samples["attestgate_streams_open"] == limit
        assert samples["attestgate_streams_limit"] == limit
        health = health_pb2_grpc.HealthStub(probe_channel)
        serving = health.Check(health_pb2.HealthCheckRequest(), timeout=PROBE_DEADLINE).status
        assert serving == health_pb2.HealthCheckResponse.SERVING  # saturation: metrics, not health

        ms = (round(p95(baseline) * 1000, 1), round(p95(during) * 1000, 1))
        print(f"unary p95: {ms[0]} ms before, {ms[1]} ms with 200 streams open")
        assert p95(during) <= 10 * p95(baseline) + 0.5

        attack.close()  # the streams' slots come back once their threads are free
        assert eventually(lambda: scrape(gw)["attestgate_streams_open"] == 0, timeout=10)
    finally:
        gw.close()


# --- the limits, one by one ---------------------------------------------------------------------


def assert_refused(call: Any, scope: str, limit: int) -> None:
    """``call`` was refused at once with TOO_MANY_STREAMS for ``scope``."""
    assert eventually(call.done, timeout=2.0), "a stream over the limit must be refused at once"
    error = errors.from_rpc_error(call)
    assert isinstance(error, errors.ResourceExhausted)
    assert error.reason == "TOO_MANY_STREAMS"
    assert error.metadata == {"scope": scope, "limit": str(limit)}
    assert "retry later" in str(error)


def start_limited(tmp_path: Path, clock: FixedClock, **changes: Any) -> tuple[LiveGateway, Any]:
    """A live gateway with ``changes`` and its stream limiter."""
    gw = live.start_live(tmp_path / "gw", clock, **changes)
    assert gw.gateway.server.streams is not None
    return gw, gw.gateway.server.streams


def test_streams_over_each_limit_are_refused_with_the_reason(
    tmp_path: Path, clock: FixedClock, attack_factory: Callable[[LiveGateway], Attack]
) -> None:
    gw, streams = start_limited(
        tmp_path, clock, max_workers=8, max_streams=4,
        max_streams_per_caller=2, max_anonymous_streams=2,
    )  # fmt: skip
    try:
        attack = attack_factory(gw)
        channel = attack.channel()
        first = attack.open_consent_watches(channel, "bank-a", 2)
        assert eventually(lambda: streams.in_use() == 2)
        [third] = attack.open_consent_watches(channel, "bank-a", 1)
        assert_refused(third, "caller", 2)

        attack.open_reflection(channel, 2)
        assert eventually(lambda: streams.in_use() == 4)
        [anonymous] = attack.open_health_watches(channel, 1)
        assert_refused(anonymous, "gateway", 4)  # the gateway-wide limit is checked first

        first[0].cancel()  # a slot comes back once the stream's thread is free
        assert eventually(lambda: streams.in_use() == 3)
        [over_anonymous] = attack.open_reflection(channel, 1)
        assert_refused(over_anonymous, "anonymous", 2)
        [other_bank] = attack.open_consent_watches(channel, "bank-b", 1)
        assert eventually(lambda: streams.in_use() == 4)
        assert not other_bank.done()
    finally:
        gw.close()


# --- lifetimes ----------------------------------------------------------------------------------


def test_a_watch_ends_cleanly_at_its_lifetime_and_the_sdk_resumes_from_its_cursor(
    tmp_path: Path, clock: FixedClock, attack_factory: Callable[[LiveGateway], Attack]
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, stream_max_lifetime=timedelta(seconds=1))
    try:
        channel = attack_factory(gw).channel()
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gw.token('bank', 'bank-w')}"),)
        started = time.monotonic()
        raw = stub.WatchConsentEvents(
            consent_pb2.WatchConsentEventsRequest(), metadata=metadata, timeout=10
        )
        assert list(raw) == []
        assert raw.code() == grpc.StatusCode.OK  # a clean end, not an error
        assert 1.0 <= time.monotonic() - started < 1.0 + END_GRACE + 1.0

        bank = gw.bank("bank-w")
        created: list[str] = []

        def create_requests() -> None:  # spread over three lifetimes of the stream
            for n in range(6):
                request = bank.request_consent(
                    owner=f"owner-{n}", domain="income", purpose="fx_purchase", claims=["tax_year"]
                )
                created.append(request.id)
                time.sleep(0.5)

        producer = threading.Thread(target=create_requests)
        producer.start()
        watch = bank.watch_consent_events(timeout=20)
        seen = []
        try:
            for event in watch:
                seen.append(event)
                if len(seen) == 6:
                    break
        finally:
            watch.close()
            producer.join(10)
        assert [event.request_id for event in seen] == created  # each once, in order
        cursors = [int(event.cursor) for event in seen]
        assert cursors == sorted(set(cursors))
        assert time.monotonic() - started > 3.0  # the SDK reopened the stream at least twice
    finally:
        gw.close()


def test_watch_checkpoints_resumes_without_repeats_after_the_lifetime(
    tmp_path: Path, clock: FixedClock
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, stream_max_lifetime=timedelta(seconds=1))
    try:
        regulator = gw.regulator()
        quiet: list[int] = []  # a log that does not grow: one checkpoint over three streams
        with pytest.raises(errors.DeadlineExceeded):
            quiet.extend(checkpoint.size for checkpoint in regulator.watch_checkpoints(timeout=2.5))
        assert len(quiet) == 1

        bank = gw.bank("bank-c")
        stop = threading.Event()

        def grow_the_log() -> None:
            n = 0
            while not stop.wait(0.3):
                bank.request_consent(
                    owner=f"owner-{n}", domain="income", purpose="fx_purchase", claims=["tax_year"]
                )
                n += 1

        producer = threading.Thread(target=grow_the_log)
        producer.start()
        started = time.monotonic()
        sizes = []
        watch = regulator.watch_checkpoints(timeout=20)
        try:
            for checkpoint in watch:
                sizes.append(checkpoint.size)
                if time.monotonic() - started > 3.0:
                    break
        finally:
            watch.close()
            stop.set()
            producer.join(10)
        assert len(sizes) >= 4
        assert sizes == sorted(set(sizes))  # across the reopened streams: no checkpoint twice
    finally:
        gw.close()


async def collect(checkpoints: AsyncIterator[Checkpoint], sizes: list[int]) -> None:
    """Append the size of each checkpoint to ``sizes`` until the watch ends."""
    async for checkpoint in checkpoints:
        sizes.append(checkpoint.size)


def test_the_async_sdk_watches_resume_after_the_lifetime_too(
    tmp_path: Path, clock: FixedClock
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, stream_max_lifetime=timedelta(seconds=1))

    async def run() -> tuple[list[Any], list[Any], list[int]]:
        token = gw.token("bank", "bank-async")
        bank = AsyncBankClient(gw.target, token=token, tls=gw.tls, clock=gw.clock.now)
        regulator = AsyncRegulatorClient(
            gw.target, token=gw.token("regulator", "csrc"), vkey=gw.vkey, tls=gw.tls
        )
        async with bank, regulator:
            quiet: list[int] = []  # no log growth: one checkpoint over three streams
            with pytest.raises(errors.DeadlineExceeded):
                await collect(regulator.watch_checkpoints(timeout=2.5), quiet)
            created = []
            for n in range(2):
                request = await bank.request_consent(
                    owner=f"owner-{n}", domain="income", purpose="fx_purchase", claims=["tax_year"]
                )
                created.append(request.id)
            events = bank.watch_consent_events(timeout=10)
            seen = [(await anext(events)).request_id for _ in range(2)]
            await asyncio.sleep(2.5)  # the stream ends meanwhile; the next event is after it
            request = await bank.request_consent(
                owner="owner-2", domain="income", purpose="fx_purchase", claims=["tax_year"]
            )
            created.append(request.id)
            seen.append((await anext(events)).request_id)
            await events.aclose()
            return created, seen, quiet

    try:
        created, seen, quiet = asyncio.run(run())
    finally:
        gw.close()
    assert seen == created  # resumed after the cursor: nothing repeated, nothing missed
    assert len(quiet) == 1


def test_idle_and_old_streams_that_read_the_client_are_closed(
    tmp_path: Path, clock: FixedClock, attack_factory: Callable[[LiveGateway], Attack]
) -> None:
    gw, streams = start_limited(
        tmp_path, clock,
        stream_idle_timeout=timedelta(milliseconds=500), stream_max_lifetime=timedelta(seconds=2),
    )  # fmt: skip
    try:
        attack = attack_factory(gw)
        channel = attack.channel()
        started = time.monotonic()
        [idle] = attack.open_reflection(channel, 1)
        [health] = attack.open_health_watches(channel, 1)
        responses: list[float] = []

        def busy_requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:
            while time.monotonic() - started < 10:  # a request every 200 ms: never idle
                yield reflection_pb2.ServerReflectionRequest(list_services="")
                time.sleep(0.2)

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        busy = stub.ServerReflectionInfo(busy_requests(), timeout=STREAM_DEADLINE)
        attack.calls.append(busy)
        with pytest.raises(grpc.RpcError):
            responses.extend(time.monotonic() - started for _ in busy)
        ended = time.monotonic() - started
        assert busy.code() == grpc.StatusCode.UNAVAILABLE
        assert "maximum lifetime of 2s" in busy.details()
        assert 2.0 <= ended < 3.5
        assert len(responses) >= 8  # answered all along: a busy stream is not idle

        assert idle.done()  # long before
        assert idle.code() == grpc.StatusCode.UNAVAILABLE
        assert "idle for 0.5s" in idle.details()

        assert next(health).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError):
            next(health)  # closed END_GRACE after its lifetime: it never polls
        assert health.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 2.0 + END_GRACE + 1.5
        assert eventually(lambda: streams.in_use() == 0)
    finally:
        gw.close()
