"""A stalled audit writer (issue 14, section 3) makes the gateway NOT_SERVING, with the writer's
stack in the log and the stall in the metrics, and the gateway recovers once the writer moves."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.audit.sequencer import Tx, WriterProgress
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.readiness import ReadinessGate
from attestgate.gateway.ops.writer_watch import WriterWatch
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.integration.test_metrics import scrape
from tests.integration.test_readiness import NOT_SERVING, SERVING, statuses, wait_for

STALL = timedelta(seconds=1)
STALLED = ("attestgate_audit_writer_stalled", ())
READY = ("attestgate_ready", ())
SINCE_BATCH = ("attestgate_audit_writer_seconds_since_batch", ())


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(
        tmp_path, clock, metrics="127.0.0.1:0", audit_writer_stall_timeout=STALL
    )


def stuck_unit_of_work(entered: threading.Event, release: threading.Event) -> None:
    entered.set()
    assert release.wait(60)


def test_a_blocked_unit_of_work_makes_the_gateway_not_serving_until_it_returns(
    gw: LiveGateway, caplog: pytest.LogCaptureFixture
) -> None:
    port = gw.metrics_port
    wait_for(gw, SERVING)
    assert scrape(port)[STALLED] == 0
    entered, release = threading.Event(), threading.Event()

    def unit(tx: Tx) -> None:
        stuck_unit_of_work(entered, release)

    writer = threading.Thread(target=gw.parts.storage.write, args=(unit,))
    caplog.set_level(logging.ERROR, logger="attestgate.writer_watch")
    writer.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        wait_for(gw, NOT_SERVING, timeout=10)
        # Within its configured time (plus one poll of a quarter of it, and the health round trip).
        assert time.monotonic() - started < STALL.total_seconds() * 1.25 + 1.0
        samples = scrape(port)
        assert samples[STALLED] == 1
        assert samples[READY] == 0
        assert samples[SINCE_BATCH] >= STALL.total_seconds()
        stalls = [r.getMessage() for r in caplog.records if "audit writer stalled" in r.message]
        assert len(stalls) == 1
        assert "stuck_unit_of_work" in stalls[0]  # the writer thread's stack, down to the unit
        assert "_run_unit" in stalls[0]
    finally:
        release.set()
        writer.join(10)
    wait_for(gw, SERVING, timeout=10)
    samples = scrape(port)
    assert samples[STALLED] == 0
    assert samples[READY] == 1
    assert samples[SINCE_BATCH] < STALL.total_seconds()
    assert gw.owner("alice").list_consents() == []  # and it serves


def test_an_idle_writer_is_not_stalled(gw: LiveGateway) -> None:
    time.sleep(STALL.total_seconds() * 1.5)  # nothing to write for longer than the limit
    assert statuses(gw) == {SERVING}
    assert scrape(gw.metrics_port)[STALLED] == 0


def test_the_gate_is_ready_only_while_every_condition_is() -> None:
    heard: list[bool] = []
    gate = ReadinessGate([heard.append])
    storage, writer = gate.condition("storage"), gate.condition("audit writer")
    storage(True)
    writer(False)
    storage(False)
    storage(True)  # the storage recovers, the writer is still stalled: still not ready
    writer(True)
    assert heard == [True, False, True]


def test_work_after_a_long_idle_time_is_not_a_stall_at_once() -> None:
    heard: list[bool] = []
    watch = WriterWatch([heard.append], stall_after=0.2)
    last_batch = time.monotonic() - 3600  # the last batch finished an hour ago
    pending = [False]
    watch.follow(lambda: WriterProgress(pending[0], last_batch, threading.get_ident()))
    assert watch.check()
    pending[0] = True  # new work arrives
    assert watch.check()  # not stalled: it waits since now, not since the last batch
    time.sleep(0.25)
    assert not watch.check()
    pending[0] = False
    assert watch.check()
    assert heard == [True, False, True]
