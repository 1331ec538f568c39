"""``attestgate witness init | serve | vkey``: run a tlog-witness from a data dir."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from attestgate.gateway.common.addresses import is_loopback, parse_listen
from attestgate.gateway.ops.config import ConfigError
from attestgate.gateway.witness.core import (
    CONFIG_FILE,
    Witness,
    WitnessConfig,
    WitnessConfigError,
    load_or_create_cosigners,
    write_config,
)
from attestgate.gateway.witness.server import build_server
from attestgate.protocol.note import NoteError


def _fail(message: str) -> int:
    print(f"attestgate witness: {message}", file=sys.stderr)
    return 2


def _run_init(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (data_dir / CONFIG_FILE).exists():
        return _fail(f"{data_dir / CONFIG_FILE} exists: edit it to add or remove logs")
    logs = []
    for item in args.log or []:
        origin, sep, vkey = item.partition("=")
        if not sep or "+" in origin:  # a bare vkey: the log's origin is its key name
            origin, vkey = item.partition("+")[0], item
        logs.append((origin, vkey))
    try:
        path = write_config(data_dir, args.name, logs)
        cosigners = load_or_create_cosigners(data_dir, args.name)
    except (NoteError, WitnessConfigError) as exc:
        return _fail(str(exc))
    print(f"wrote {path}")
    for cosigner in cosigners:
        print(cosigner.vkey)
    return 0


def _run_vkey(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    try:
        config = WitnessConfig.load(data_dir)
        cosigners = load_or_create_cosigners(data_dir, config.name)
    except WitnessConfigError as exc:
        return _fail(str(exc))
    for cosigner in cosigners:
        print(cosigner.vkey)
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    try:
        host, port = parse_listen(args.listen)
    except (ConfigError, ValueError) as exc:
        return _fail(f"--listen: {exc}")
    tls_cert = Path(args.tls_cert) if args.tls_cert else None
    tls_key = Path(args.tls_key) if args.tls_key else None
    if bool(tls_cert) != bool(tls_key):
        return _fail("--tls-cert and --tls-key go together")
    if not tls_cert and not args.insecure:
        return _fail("give --tls-cert and --tls-key, or --insecure for plain HTTP")
    if args.insecure and not is_loopback(host) and not args.behind_proxy:
        return _fail(
            "--insecure listens on loopback only (add --behind-proxy when a TLS proxy fronts it)"
        )
    try:
        witness = Witness.open(Path(args.data_dir))
        server = build_server(witness, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
        server.start()
    except (WitnessConfigError, ConfigError) as exc:
        return _fail(str(exc))
    scheme = "http" if args.insecure else "https"
    print(f"witness {witness.config.name} on {scheme}://{host}:{server.port}", flush=True)
    print(f"witnessing {len(witness.config.logs)} log(s)", flush=True)
    for vkey in witness.vkeys():
        print(f"vkey {vkey}", flush=True)
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    server.stop()
    witness.state.close()
    return 0


def add_witness_command(sub: Any) -> None:
    """``attestgate witness {init,serve,vkey}``."""
    p = sub.add_parser("witness", help="run a C2SP tlog-witness (cosigns checkpoints)")
    wsub = p.add_subparsers(dest="witness_command", required=True)
    init = wsub.add_parser("init", help="write witness.toml and make the witness's keys")
    init.add_argument("--data-dir", required=True)
    init.add_argument("--name", required=True, help="the witness's key name, e.g. bank.example/w1")
    init.add_argument(
        "--log",
        action="append",
        metavar="VKEY",
        help="a log to witness: its vkey (origin = key name) or ORIGIN=VKEY (repeatable)",
    )
    init.set_defaults(func=_run_init)
    serve = wsub.add_parser("serve", help="serve add-checkpoint over HTTPS (or --insecure HTTP)")
    serve.add_argument("--data-dir", required=True)
    serve.add_argument("--listen", required=True, metavar="HOST:PORT")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--insecure", action="store_true", help="plain HTTP (loopback only)")
    serve.add_argument(
        "--behind-proxy",
        action="store_true",
        help="with --insecure: allow a non-loopback address (a TLS proxy terminates in front)",
    )
    serve.set_defaults(func=_run_serve)
    vkey = wsub.add_parser("vkey", help="print the witness's public keys (vkeys)")
    vkey.add_argument("--data-dir", required=True)
    vkey.set_defaults(func=_run_vkey)
