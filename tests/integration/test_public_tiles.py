"""Issue 18 item 1: the audit log as C2SP tlog-tiles on a running gateway's public HTTPS face.

Over real HTTPS with the gateway's CA: at sampled tree sizes up to 3 * 256 + 5 every tile and
entry bundle served is the one rebuilt from the stored leaves and the tree they give has the
signed root; headers (content types, immutable caching, the checkpoint's short max-age, ETag and
304, gzip on request); 400 and 404 with plain messages; ``attestgate audit verify --url`` end to
end; ``LogMonitor`` following by tiles and catching a fork staged with two gateways sharing one
log key; and, when Go and Debian's golang.org/x/mod are installed, Go's ``tlog.TileHashReader``
authenticating the served tiles against the signed root.
"""

from __future__ import annotations

import gzip
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.ops.cli import main
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.merkle import leaf_hash
from attestgate.protocol.note import NoteSigner
from attestgate.protocol.tlog_tiles import (
    Tile,
    TileBuilder,
    TileHashes,
    bundles_for_size,
    decode_bundle,
    encode_bundle,
    tiles_for_size,
)
from attestgate.sdk.errors import NotFound
from attestgate.sdk.log_errors import LogVerificationError, SplitViewError
from attestgate.sdk.regulator import LogMonitor
from attestgate.sdk.tiles import TiledLogClient
from tests.integration.test_cli_audit import _event

Response = tuple[int, dict[str, str], bytes]
SIZES = (1, 2, 255, 256, 257, 511, 512, 513, 700, 3 * 256 + 5)
GO_TOOL = Path(__file__).parents[1] / "vectors" / "tlog_tiles" / "gotiles" / "main.go"
GOPATH = Path("/usr/share/gocode")
FAST = timedelta(milliseconds=50)


@pytest.fixture(scope="module")
def gw() -> Iterator[LocalGateway[Clock]]:
    with start_local_gateway(checkpoint_interval=FAST) as gateway:
        yield gateway


def prefix(gw: LocalGateway[Any]) -> str:
    public = gw.gateway.public
    assert public is not None
    return public.url + "/log"


def get(gw: LocalGateway[Any], path: str, **headers: str) -> Response:
    context = ssl.create_default_context(cafile=str(gw.ca_file))
    request = urllib.request.Request(prefix(gw) + path, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def grow(gw: LocalGateway[Any], size: int) -> None:
    """Append events until the log holds ``size`` leaves, then wait for a checkpoint of it."""
    parts = gw.parts
    have = parts.log.head().size
    assert have <= size
    if have < size:

        def unit(tx: Any, first: int = have, count: int = size - have) -> None:
            for n in range(first, first + count):
                tx.emit(_event(n))

        parts.storage.write(unit)
    deadline = time.monotonic() + 10
    while (found := parts.log.latest_checkpoint(parts.storage.read())) is None or (
        found.size < size
    ):
        assert time.monotonic() < deadline, "no checkpoint of the new size"
        time.sleep(0.02)
    assert found.size == size


def client(gw: LocalGateway[Any]) -> TiledLogClient:
    return TiledLogClient(prefix(gw), vkey=gw.vkey, tls=gw.tls)


@pytest.mark.timeout(60)
def test_every_tile_and_bundle_served_at_sampled_sizes_is_the_stored_tree(
    gw: LocalGateway[Any],
) -> None:
    with client(gw) as tiles:
        for size in SIZES:
            grow(gw, size)
            checkpoint = tiles.checkpoint()
            assert checkpoint.size == size
            conn = gw.parts.storage.read()
            leaves = [data for _, data in gw.parts.log.entries(conn, 0, size)]
            builder, rebuilt = TileBuilder(), dict[Tile, bytes]()
            for data in leaves:
                rebuilt.update(builder.append_entry(data))
            rebuilt.update(builder.partial_tiles())
            assert builder.root() == gw.parts.log.root(conn, size) == checkpoint.root_hash
            assert {tile: tiles.tile(tile) for tile in tiles_for_size(size)} == rebuilt
            for bundle in bundles_for_size(size):
                assert tiles.tile(bundle) == encode_bundle(leaves[bundle.start : bundle.tree_size])
            # A client rebuilding the tree from the tiles alone gets the signed root.
            assert TileHashes(size, tiles.tile).root() == checkpoint.root_hash
            report = tiles.verify_log(checkpoint)
            assert (report.entries, report.tiles) == (size, len(tiles_for_size(size)))


def test_headers_caching_and_compression(gw: LocalGateway[Any]) -> None:
    grow(gw, max(SIZES[2], gw.parts.log.head().size))
    status, headers, body = get(gw, "/checkpoint")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=2"
    assert body.decode().startswith("attestgate.local/log\n")
    status, headers, body = get(gw, "/tile/0/000.p/1")
    assert (status, len(body)) == (200, 32)
    assert headers["content-type"] == "application/octet-stream"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = headers["etag"]
    again = get(gw, "/tile/0/000.p/1")  # from the gateway's memory: the same answer
    assert (again[0], again[2]) == (200, body)
    assert {k: v for k, v in again[1].items() if k != "date"} == {
        k: v for k, v in headers.items() if k != "date"
    }
    status, headers, body = get(gw, "/tile/0/000.p/1", **{"If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, headers, plain = get(gw, "/tile/entries/000.p/2")
    assert status == 200
    assert "content-encoding" not in headers
    assert headers["vary"] == "Accept-Encoding"
    assert len(decode_bundle(plain, 2)) == 2
    status, headers, packed = get(gw, "/tile/entries/000.p/2", **{"Accept-Encoding": "gzip"})
    assert (status, headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(packed) == plain
    assert get(gw, "/tile/entries/000.p/2", **{"Accept-Encoding": "gzip"})[2] == packed
    status, headers, _ = get(gw, "/tile/entries/000.p/2", **{"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in headers


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/tile/0/01", 400, "3-digit elements"),
        ("/tile/64/000", 400, "from 0 to 63"),
        ("/tile/0/000.p/256", 400, "from 1 to 255"),
        ("/tile/8/0/000", 400, "3-digit elements"),
        ("/tile/data/000", 400, "or 'entries'"),
        ("/tile/0/x999/999", 404, "no signed checkpoint of"),
        ("/tile/entries/x001/000", 404, "entry bundle tile/entries/x001/000 is not in the log"),
    ],
)
def test_bad_and_unknown_paths(gw: LocalGateway[Any], path: str, status: int, says: str) -> None:
    got, headers, body = get(gw, path)
    assert got == status
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert says in body.decode()


def test_nothing_beyond_the_latest_checkpoint(gw: LocalGateway[Any]) -> None:
    grow(gw, max(300, gw.parts.log.head().size))
    size = gw.parts.log.head().size
    width = size % 256
    assert get(gw, f"/tile/0/{size // 256:03d}.p/{width}")[0] == 200
    assert get(gw, f"/tile/0/{size // 256:03d}.p/{width + 1}")[0] == 404
    assert get(gw, f"/tile/entries/{size // 256:03d}.p/{width + 1}")[0] == 404
    assert get(gw, "/tile/0/000.p/3")[0] == 200  # an older partial tile stays


def test_audit_verify_url_end_to_end(
    gw: LocalGateway[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grow(gw, max(520, gw.parts.log.head().size))
    url, ca, state = prefix(gw), str(gw.ca_file), str(tmp_path / "state")
    argv = ["audit", "verify", "--url", url, "--vkey", gw.vkey, "--ca", ca, "--state", state]
    assert main(argv) == 0
    size = gw.parts.log.head().size
    assert f"audit log intact: size {size}, root " in capsys.readouterr().out
    grow(gw, size + 3)
    assert main(argv) == 0
    assert f"audit log intact: size {size + 3}, root " in capsys.readouterr().out
    other = NoteSigner.generate("attestgate.local/log").vkey()
    assert main(["audit", "verify", "--url", url, "--vkey", other, "--ca", ca]) == 1
    assert "FAILED verification" in capsys.readouterr().err
    assert main(["audit", "verify", "--url", url, "--vkey", gw.vkey]) == 2  # CA not trusted
    assert "TLS_CERTIFICATE_UNTRUSTED" in capsys.readouterr().err
    assert main(["audit", "verify", "--url", url, "--ca", ca]) == 2
    assert "--url needs --vkey" in capsys.readouterr().err


def test_log_monitor_follows_the_tiles_and_entries_verify(
    gw: LocalGateway[Any], tmp_path: Path
) -> None:
    with client(gw) as tiles:
        monitor = LogMonitor(tiles, tmp_path / "monitor")
        first = monitor.update()
        grow(gw, first.size + 260)
        second = monitor.update()
        assert second.size == first.size + 260
        assert monitor.last_verified() == second
        entries = tiles.entries(first.size, first.size + 5)
        assert [e.index for e in entries] == list(range(first.size, first.size + 5))
        assert entries[0].event["type"] == "record.put"
        tiles.verify_inclusion(entries[0], first.size, second)
        with pytest.raises(LogVerificationError):
            tiles.verify_inclusion(entries[1], first.size, second)
        with pytest.raises(NotFound):
            tiles.tile(Tile(0, 10**6))


@pytest.mark.timeout(60)
def test_a_fork_with_the_same_log_key_is_caught_through_tiles(tmp_path: Path) -> None:
    with start_local_gateway(tmp_path / "a", checkpoint_interval=FAST) as a:
        grow(a, 40)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # same log key, same history so far
    with (
        start_local_gateway(tmp_path / "a", checkpoint_interval=FAST) as a,
        start_local_gateway(tmp_path / "b", checkpoint_interval=FAST) as b,
    ):
        assert a.vkey == b.vkey
        grow(a, 300)
        grow(b, 290)
        b.parts.storage.write(lambda tx: tx.emit(_event(10_000)))  # b diverges
        grow(b, 400)
        state = tmp_path / "monitor"
        with client(a) as tiles_a:
            LogMonitor(tiles_a, state).update()
        with TiledLogClient(prefix(b), vkey=a.vkey, tls=b.tls) as tiles_b:
            with pytest.raises(SplitViewError):
                LogMonitor(tiles_b, state).update()
            assert tiles_b.verify_log().checkpoint.size == 400  # b alone is self-consistent


def _go() -> str | None:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog/tile.go").is_file():
        if os.environ.get("ATTESTGATE_REQUIRE_COMPONENTS") == "1":
            pytest.fail("Go and golang-golang-x-mod-dev are required (apt-get install them)")
        return None
    return go


@pytest.mark.timeout(120)
def test_gos_tlog_authenticates_the_served_tiles(gw: LocalGateway[Any], tmp_path: Path) -> None:
    go = _go()
    if go is None:
        pytest.skip("Go's golang.org/x/mod/sumdb/tlog is not installed (golang-golang-x-mod-dev)")
    grow(gw, max(3 * 256 + 5, gw.parts.log.head().size))
    with client(gw) as tiles:
        checkpoint = tiles.checkpoint()
        for tile in [*tiles_for_size(checkpoint.size), *bundles_for_size(checkpoint.size)]:
            target = tmp_path / "tiles" / tile.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tiles.tile(tile))
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(tmp_path / "gocache"),
        "GOFLAGS": "",
    }
    root = checkpoint.root_hash_b64
    args = [go, "run", str(GO_TOOL), "check", str(tmp_path / "tiles"), str(checkpoint.size), root]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=110, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
    # A forged entry whose leaf hash is also put in its level-0 tile: only the tree above
    # (Go's tile authentication and record proofs) can tell.
    bundle_file = tmp_path / "tiles" / bundles_for_size(checkpoint.size)[0].path
    entries = decode_bundle(bundle_file.read_bytes(), 256)
    entries[0] = entries[0].replace(b"record", b"RECORD")
    bundle_file.write_bytes(encode_bundle(entries))
    tile_file = tmp_path / "tiles" / tiles_for_size(checkpoint.size)[0].path
    tile_file.write_bytes(leaf_hash(entries[0]) + tile_file.read_bytes()[32:])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 1, done.stdout
    assert "gotiles: " in done.stderr
