"""Prometheus metrics (issue 9, "Operations"): off by default, loopback only unless allowed, and
they count calls by method and status, latency, refusals by reason, audit batches and readiness,
without naming anyone."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from attestgate.gateway.app import build_gateway
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.config import ConfigError
from attestgate.sdk import errors
from tests.integration import live
from tests.integration.conftest import gateway_config
from tests.integration.live import LiveGateway

REPO = Path(__file__).resolve().parents[2]
LIST_CONSENTS = "/attestgate.v1.ConsentService/ListConsents"
GET_CONSENT = "/attestgate.v1.ConsentService/GetConsent"


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock, metrics="127.0.0.1:0")


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at ``/metrics``: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_calls_refusals_batches_and_readiness_are_counted(gw: LiveGateway) -> None:
    owner = gw.owner("alice")
    assert owner.list_consents() == []
    with pytest.raises(errors.NotFound):
        gw.bank("bank-1").get_consent("cs_missing")
    gw.provider("tax").put_record(
        domain="income", subject="alice", record_id="inc-1", fields=live.INCOME_FIELDS
    )
    port = gw.metrics_port
    samples = scrape(port)
    ok = ("attestgate_rpc_requests_total", (("code", "OK"), ("method", LIST_CONSENTS)))
    assert samples[ok] >= 1
    not_found = ("attestgate_rpc_requests_total", (("code", "NOT_FOUND"), ("method", GET_CONSENT)))
    assert samples[not_found] == 1
    assert samples[("attestgate_rpc_refusals_total", (("reason", "CONSENT_NOT_FOUND"),))] == 1
    assert samples[("attestgate_rpc_duration_seconds_count", (("method", LIST_CONSENTS),))] >= 1
    assert samples[("attestgate_audit_batch_units_count", ())] >= 1
    assert samples[("attestgate_audit_batch_events_sum", ())] >= 1
    assert samples[("attestgate_audit_commit_seconds_count", ())] >= 1
    assert samples[("attestgate_ready", ())] == 1.0
    labels = {value for _, pairs in samples for _, value in pairs}
    assert not {"alice", "bank-1", "tax", "inc-1"} & labels  # no subject, no record id


def test_metrics_are_off_by_default(tmp_path: Path, clock: FixedClock) -> None:
    gateway = build_gateway(gateway_config(tmp_path / "gw"), clock=clock)
    assert gateway.metrics_endpoint is None


def test_a_public_metrics_address_needs_explicit_permission(
    tmp_path: Path, clock: FixedClock
) -> None:
    with pytest.raises(ConfigError, match="only loopback"):
        build_gateway(gateway_config(tmp_path / "a", metrics="0.0.0.0:0"), clock=clock)
    allowed = gateway_config(tmp_path / "b", metrics="0.0.0.0:0", metrics_allow_remote=True)
    assert build_gateway(allowed, clock=clock).metrics_endpoint is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_metrics_flag(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "attestgate.gateway.ops.cli", "serve",
             "--data-dir", str(tmp_path / "data"), "--insecure", "--listen", "127.0.0.1:0",
             "--metrics", f"127.0.0.1:{port}"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not re.search("listening on", log.read_text(errors="replace")):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        # Ready once the first storage probe answered (health and the gauge follow the same gate).
        assert live.eventually(lambda: scrape(port)[("attestgate_ready", ())] == 1.0, timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=15)
