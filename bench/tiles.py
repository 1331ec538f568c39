"""Benchmark 7: tlog-tiles served per second by the gateway's public face vs a static file server.

The real gateway (``start_local_gateway``: SQLite, TLS from the dev CA) holds a log of ``LEAVES``
entries with a signed checkpoint of all of them. Every tile and entry bundle of that tree is
written to a directory exactly as the gateway serves it, and two static file servers serve that
directory with the same certificate: nginx (one worker, ``sendfile``; the target's baseline
when installed, Debian ``nginx-light``) and Starlette's ``StaticFiles`` under uvicorn (the public
face's own web stack; information). Client processes (``http.client``, one kept-alive HTTPS
connection each, closed loop) fetch random hash tiles (full level-0 tiles, 8 KiB each, and the
partial tiles above) for ``seconds`` from one server at a time; the order reverses every round
and the median round's ratio counts. Target: the gateway >= 0.5x the static server.
"""

from __future__ import annotations

import http.client
import importlib.util
import multiprocessing
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from attestgate.audit.events import ActorRole, AuditEvent, Decision, EventType
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.common.webserver import ThreadedUvicorn
from attestgate.gateway.testing import start_local_gateway
from attestgate.protocol.tlog_tiles import bundles_for_size, tiles_for_size
from attestgate.sdk.tiles import TiledLogClient
from bench.common import Settings, progress, verdict

LEAVES = 256 * 64 + 17
TARGET = 0.5


def _fetch_loop(args: tuple[str, str, list[str], float, int]) -> int:
    """One client process: GET random ``paths`` from ``base`` until ``seconds`` pass."""
    base, ca, paths, seconds, seed = args
    host = base.split("://", 1)[1].split("/", 1)[0]
    prefix = base.split(host, 1)[1]
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(host, context=context, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rng = random.Random(seed)
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request("GET", prefix + rng.choice(paths))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or not body:
            raise RuntimeError(f"{base}: {response.status}")
        done += 1
    conn.close()
    return done


def _rate(base: str, ca: str, paths: list[str], seconds: float, clients: int) -> float:
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(_fetch_loop, [(base, ca, paths, 0.3, n) for n in range(clients)])  # warm-up
        started = time.monotonic()
        counts = pool.map(_fetch_loop, [(base, ca, paths, seconds, n) for n in range(clients)])
        elapsed = time.monotonic() - started
    return sum(counts) / elapsed


NGINX_CONF = """daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/nginx.log;
events {{ worker_connections 256; }}
http {{
  access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path {tmp}/t1; proxy_temp_path {tmp}/t2; fastcgi_temp_path {tmp}/t3;
  uwsgi_temp_path {tmp}/t4; scgi_temp_path {tmp}/t5;
  server {{
    listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};
    root {root};
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_nginx(
    tmp: Path, root: Path, cert: Path, key: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """nginx (one worker, sendfile, TLS with the same certificate) serving ``root``."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for folder in (tmp, *root.rglob("*")):  # workers run as nobody: let them read the tiles
        folder.chmod(0o755 if folder.is_dir() else 0o644)
    port = _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, cert=cert, key=key, root=root))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"https://127.0.0.1:{port}"
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start")


def _has_nginx() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


def run_tiles(settings: Settings) -> dict[str, Any]:
    """Tiles/s of the public face and of a static server of the same files."""
    quick = settings.mode != "full"
    leaves = 256 * 8 + 17 if quick else LEAVES
    seconds = 1.0 if quick else 2.0
    rounds = 1 if quick else 7  # short rounds, order reversed each time: the load of a shared
    # machine drifts less within a round than across a long one
    clients = 2 * settings.processes
    with (
        tempfile.TemporaryDirectory(prefix="attestgate-tiles-") as tmp,
        start_local_gateway(
            Path(tmp) / "gateway", checkpoint_interval=timedelta(milliseconds=50)
        ) as gw,
    ):
        progress(f"tiles: appending {leaves} events")
        parts = gw.parts

        def unit(tx: Any) -> None:
            for n in range(leaves):
                tx.emit(
                    AuditEvent(
                        type=EventType.RECORD_PUT,
                        time=gw.clock.now(),
                        actor_role=ActorRole.PROVIDER,
                        actor_id="bench",
                        objects={"record_id": f"r{n}"},
                        decision=Decision.ALLOW,
                    )
                )

        parts.storage.write(unit)
        public = gw.gateway.public
        assert public is not None
        log_url = public.url + "/log"
        deadline = time.monotonic() + 30
        with TiledLogClient(log_url, vkey=gw.vkey, tls=gw.tls) as client:
            while (checkpoint := client.checkpoint()).size < leaves:
                if time.monotonic() > deadline:
                    raise RuntimeError("no checkpoint of the whole log")
                time.sleep(0.05)
            size = checkpoint.size
            files = Path(tmp) / "static"
            (files / "checkpoint").parent.mkdir(parents=True)
            (files / "checkpoint").write_text(checkpoint.text)
            hash_tiles = tiles_for_size(size)
            for tile in [*hash_tiles, *bundles_for_size(size)]:
                target = files / tile.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(client.tile(tile))
        paths = ["/" + tile.path for tile in hash_tiles]
        tls = TlsFiles.in_dir(gw.config.tls_dir)
        static = Starlette(routes=[Mount("/", app=StaticFiles(directory=files))])
        server = ThreadedUvicorn(
            uvicorn.Config(
                static,
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                ssl_certfile=str(tls.server_cert),
                ssl_keyfile=str(tls.server_key),
            ),
            host="127.0.0.1",
            port=0,
            what="static tiles",
        )
        server.start()
        nginx: subprocess.Popen[bytes] | None = None
        bases = {"gateway": log_url, "starlette": f"https://127.0.0.1:{server.port}"}
        try:
            if _has_nginx():
                nginx, bases["nginx"] = _start_nginx(
                    Path(tmp), files, tls.server_cert, tls.server_key
                )
            ca = str(gw.ca_file)
            rates: dict[str, list[float]] = {name: [] for name in bases}
            for round_ in range(rounds):
                order = list(bases) if round_ % 2 == 0 else list(reversed(bases))
                for which in order:
                    rate = _rate(bases[which], ca, paths, seconds, clients)
                    rates[which].append(rate)
                    progress(f"tiles round {round_ + 1}: {which} {rate:.0f} tiles/s")
        finally:
            server.stop()
            if nginx is not None:
                nginx.terminate()
                nginx.wait(10)
    baseline = "nginx" if "nginx" in rates else "starlette"
    ratios = [g / b for g, b in zip(rates["gateway"], rates[baseline], strict=True)]
    ratio = statistics.median(ratios)
    return {
        "settings": {
            "leaves": size,
            "tiles": len(paths),
            "seconds": seconds,
            "rounds": rounds,
            "client_processes": clients,
            "static_servers": "nginx (1 worker, sendfile; the target's baseline when installed) "
            "and starlette.staticfiles.StaticFiles under uvicorn, both with the same TLS cert",
            "web_stack": _web_stack(),
        },
        "tiles_per_s": {name: [round(r, 1) for r in values] for name, values in rates.items()},
        "baseline": baseline,
        "ratios": [round(r, 3) for r in ratios],
        "targets": {
            "gateway_vs_static": {
                "ratio": round(ratio, 3),
                "target": f">= {TARGET}",
                "holds": ratio >= TARGET,
            }
        },
    }


def _web_stack() -> str:
    """What uvicorn serves with here ("auto" takes httptools and uvloop when installed)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {uvicorn.__version__}, {http}, {loop}"


def tile_rows(data: dict[str, Any]) -> list[list[object]]:
    """The table: one row per round and server, then the median ratio."""
    rates: dict[str, list[float]] = data["tiles_per_s"]
    rows: list[list[object]] = []
    for n, ratio in enumerate(data["ratios"]):
        row: list[object] = [f"round {n + 1}"]
        row += [
            rates[name][n] if name in rates else "-" for name in ("gateway", "nginx", "starlette")
        ]
        rows.append([*row, ratio])
    target = data["targets"]["gateway_vs_static"]
    rows.append(["median", "", "", "", f"{target['ratio']} {verdict(target['holds'])}"])
    return rows
