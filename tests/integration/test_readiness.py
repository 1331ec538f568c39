"""Readiness follows storage health (issue 9, "Operations"): gRPC health is NOT_SERVING while the
database is gone and SERVING again once it is back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from attestgate.gateway.ops.readiness import ReadinessWatch
from attestgate.gateway.transport.server import SERVICE_NAMES
from tests.conformance.conftest import pg_server
from tests.integration import live
from tests.integration.live import LiveGateway

__all__ = ["pg_server"]  # the session fixture that skips (or fails in CI) without a server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FAST = timedelta(milliseconds=50)


def statuses(gw: LiveGateway) -> set[int]:
    """The health status of the server and of every service."""
    assert gw.tls.ca_file is not None
    credentials = grpc.ssl_channel_credentials(gw.tls.ca_file.read_bytes())
    with grpc.secure_channel(gw.target, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {
            int(stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=5).status)
            for s in ("", *SERVICE_NAMES)
        }


def wait_for(gw: LiveGateway, status: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while statuses(gw) != {status}:
        assert time.monotonic() < deadline, f"health did not become {status}"
        time.sleep(0.05)


def test_the_watch_reports_changes_only() -> None:
    answers = iter([True, True, False, False, True])
    heard: list[bool] = []
    watch = ReadinessWatch(lambda: next(answers), [heard.append], interval=3600)
    for _ in range(5):
        watch.check()
    assert heard == [True, False, True]


def test_a_probe_that_hangs_or_breaks_means_not_ready() -> None:
    heard: list[bool] = []

    def hang() -> bool:
        time.sleep(1)
        return True

    ReadinessWatch(hang, [heard.append], interval=3600, timeout=0.05).check()

    def fail() -> bool:
        raise OSError("connection refused")

    ReadinessWatch(fail, [heard.append], interval=3600).check()
    assert heard == [False, False]


@pytest.fixture
def sqlite_gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock, storage_check_interval=FAST)


def test_sqlite_file_gone_and_back(sqlite_gw: LiveGateway) -> None:
    wait_for(sqlite_gw, SERVING)
    db = Path(sqlite_gw.config.db)
    moved = db.with_name("elsewhere.db")
    db.rename(moved)
    try:
        wait_for(sqlite_gw, NOT_SERVING)
    finally:
        moved.rename(db)
    wait_for(sqlite_gw, SERVING)
    assert sqlite_gw.owner("alice").list_consents() == []


# -- PostgreSQL: a database that stops accepting connections, then accepts them again ---------


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A migrated database of its own, and a switch that opens or closes it to connections."""
    name = f"attestgate_ready_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    url = urlunparse(urlparse(pg_server)._replace(path=f"/{name}"))

    def accept(allowed: bool) -> None:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            flag = "true" if allowed else "false"
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {flag}'.encode())
            if not allowed:  # and end the sessions already open (superusers included)
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    try:
        yield url, accept
    finally:
        accept(True)
        accept(False)
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_gone_and_back(
    pg_database: tuple[str, Callable[[bool], None]], tmp_path: Path, clock: FixedClock
) -> None:
    url, accept = pg_database
    data_dir = tmp_path / "gw"
    assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
    gw = live.start_live(data_dir, clock, db=url, storage_check_interval=FAST)
    try:
        wait_for(gw, SERVING)
        accept(False)
        wait_for(gw, NOT_SERVING)
        accept(True)
        wait_for(gw, SERVING, timeout=40)
        assert gw.owner("alice").list_consents() == []
    finally:
        gw.close()
