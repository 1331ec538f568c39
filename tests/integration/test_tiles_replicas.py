"""Issue 18 item 1: three ``attestgate serve`` replicas on one PostgreSQL serve the same
tlog-tiles: events are written through all three at once, and then every replica's public face
serves the same checkpoint and byte-identical tiles and entry bundles, which rebuild the signed
root (``TiledLogClient.verify_log``; ``attestgate audit verify --url`` against another)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.testing import register_provider
from attestgate.protocol.tlog_tiles import bundles_for_size, tiles_for_size
from attestgate.sdk import ProviderClient
from attestgate.sdk.tiles import TiledLogClient
from tests.conformance.conftest import pg_server
from tests.integration import live
from tests.integration.test_status_replicas import Cluster, Replica, _start, _stop

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
__all__ = ["pg_server"]

EVENTS = 2 * 256 + 20  # crosses two full tiles


@pytest.fixture(scope="module")
def cluster(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with fresh_schema(pg_server) as url:
        root = tmp_path_factory.mktemp("tiles-replicas")
        data_dir, config = root / "data", root / "config.toml"
        config.write_text('checkpoint_interval = "100ms"\n', encoding="utf-8")
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        replicas: list[Replica] = [_start(config, data_dir, url, 0)]
        try:
            replicas += [_start(config, data_dir, url, n) for n in (1, 2)]
            from attestgate.gateway.common.clock import SystemClock  # noqa: PLC0415
            from attestgate.gateway.common.keys import KeyRing  # noqa: PLC0415

            keyring = KeyRing.open_or_create(data_dir, clock=SystemClock(), gateway_id="attestgate")
            cluster = Cluster(data_dir, replicas, keyring)
            cluster.url = url  # type: ignore[attr-defined]
            yield cluster
        finally:
            for replica in replicas:
                _stop(replica)


def _log_url(replica: Replica) -> str:
    """The log prefix on ``replica``'s public face (``public`` is its metadata URL)."""
    return replica.public.split("/.well-known/", 1)[0] + "/log"


def _vkey(c: Cluster) -> str:
    from attestgate.gateway.ops.cli_audit import log_signer  # noqa: PLC0415
    from attestgate.gateway.ops.config import GatewayConfig  # noqa: PLC0415

    return log_signer(GatewayConfig(data_dir=c.data_dir), c.keyring).vkey()


@pytest.mark.timeout(120)
def test_replicas_serve_byte_identical_tiles(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    key = register_provider(c.data_dir, "tax", ("tax_bureau",))

    def write(replica: Replica, first: int) -> None:
        provider = ProviderClient(
            replica.target, token=c.token("provider", "tax"), signing_key=key, tls=c.tls
        )
        with provider:
            for n in range(first, EVENTS, 3):
                provider.put_record(
                    domain="income",
                    subject=f"s{n}",
                    record_id=f"inc-{n}",
                    fields=live.INCOME_FIELDS,
                )

    failures: list[BaseException] = []

    def writing(replica: Replica, first: int) -> None:
        try:
            write(replica, first)
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=writing, args=(r, n)) for n, r in enumerate(c.replicas)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    with psycopg.connect(c.url) as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT COUNT(*) FROM audit_leaves").fetchone()
    assert row is not None
    size = int(row[0])
    assert size >= EVENTS
    vkey = _vkey(c)
    clients = [TiledLogClient(_log_url(r), vkey=vkey, tls=c.tls) for r in c.replicas]
    try:
        deadline = time.monotonic() + 10
        while {client.checkpoint().size for client in clients} != {size}:
            assert time.monotonic() < deadline, "the replicas do not all serve the last checkpoint"
            time.sleep(0.1)
        checkpoints = {client.checkpoint().text for client in clients}
        assert len(checkpoints) == 1
        wanted = [*tiles_for_size(size), *bundles_for_size(size)]
        served = [[client.tile(tile) for tile in wanted] for client in clients]
        assert served[0] == served[1] == served[2]
        report = clients[1].verify_log()
        assert report.checkpoint.size == size
        assert report.tiles == len(tiles_for_size(size))
    finally:
        for client in clients:
            client.close()
    ca = str(c.data_dir / "tls" / "ca.pem")
    argv = ["audit", "verify", "--url", _log_url(c.replicas[2]), "--vkey", vkey]
    assert main([*argv, "--ca", ca, "--state", str(tmp_path / "state")]) == 0
