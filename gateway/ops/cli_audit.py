"""``attestgate audit verify``, ``vkey`` and ``resolve``: the operator's and auditor's view.

``verify`` recomputes every leaf hash and the whole Merkle tree from storage, checks every stored
checkpoint's signature and its consistency with the next, and exits 0 printing size and root when
intact, 1 naming the first bad index otherwise. It reads the database without writing to it, in one
snapshot: the SQLite file, or a PostgreSQL database that replicas keep writing meanwhile.

``verify --url PREFIX --vkey VKEY [--ca FILE] [--state FILE]`` needs neither the database nor a
token: it follows the log's C2SP tlog-tiles (``attestgate.sdk.tiles``), rebuilds the tree of the
latest checkpoint from the entry bundles, checks every tile served and the signed root, and with
``--state`` proves the checkpoint extends the one verified last time (kept in that file); with
``--witness VKEY`` (repeated) and ``--witness-k K`` the checkpoint must carry K valid witness
cosignatures (docs/witnessing.md), or the verification fails naming the missing and bad ones.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path
from typing import Any

from attestgate.audit.verify import verify_log
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import DEFAULT_DATA_DIR, GatewayConfig
from attestgate.gateway.ops.db_cli import open_connection
from attestgate.gateway.persistence.url import StorageError, parse_db
from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.note import NoteError, NoteSigner, Verifier
from attestgate.sdk.errors import AttestgateError
from attestgate.sdk.log_errors import LogVerificationError
from attestgate.sdk.regulator import LogMonitor
from attestgate.sdk.tiles import TiledLogClient
from attestgate.sdk.tls import TlsConfig

PROGRESS_MIN_SIZE = 100_000


class CliError(Exception):
    """A user error of any ``attestgate`` command: printed as ``attestgate: <message>``, exit 2."""


def log_signer(config: GatewayConfig, keyring: KeyRing) -> NoteSigner:
    """The signer of the gateway's checkpoints (its key name is the log origin)."""
    return NoteSigner(config.log_origin, keyring.note_signer_key)


class Progress:
    """A one-line progress indicator on stderr for long verifications."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_MIN_SIZE:
            return
        now = time.monotonic()
        if now - self._last < 0.5 and done < total:
            return
        self._last = now
        percent = 100 * done // max(total, 1)
        print(f"\rverifying {done:,}/{total:,} entries ({percent}%)", end="", file=sys.stderr)
        if done >= total:
            print(file=sys.stderr)


def run_verify(config: GatewayConfig, keyring: KeyRing | None, vkey: str | None) -> int:
    """Verify the log; 0 when intact, 1 otherwise."""
    verifiers = _verifiers(config, keyring, vkey)
    try:
        url = parse_db(config.db, config.data_dir)
        with open_connection(url, read_only=True) as conn:
            report = verify_log(conn, verifiers, origin=config.log_origin, progress=Progress())
    except StorageError as exc:
        raise CliError(str(exc)) from None
    if report.ok:
        root = base64.b64encode(report.root).decode() if report.root else ""
        print(f"audit log intact: size {report.size}, root {root}")
        return 0
    print(
        f"audit log FAILED verification at index {report.first_bad_index}: {report.problem}",
        file=sys.stderr,
    )
    return 1


def witness_policy(vkeys: list[str] | None, k: int | None) -> WitnessPolicy | None:
    """The policy of ``--witness VKEY`` (repeated) and ``--witness-k K`` (default: all)."""
    if not vkeys:
        if k is not None:
            raise CliError("--witness-k goes with --witness VKEY (one per witness key)")
        return None
    try:
        return WitnessPolicy(vkeys, len(vkeys) if k is None else k)
    except NoteError as exc:  # CosignatureError is a NoteError
        raise CliError(f"bad --witness / --witness-k: {exc}") from None


def run_verify_url(
    url: str,
    vkey: str | None,
    ca: Path | None,
    state: Path | None,
    witnesses: WitnessPolicy | None = None,
) -> int:
    """Verify the log through its tiles at ``url`` (and its checkpoint against the witness
    policy ``witnesses``); 0 when intact, 1 otherwise."""
    if not vkey:
        raise CliError(
            "--url needs --vkey: the log's verifier key (`attestgate audit vkey` prints it), "
            "pinned out of band"
        )
    try:
        client = TiledLogClient(url, vkey=vkey, tls=TlsConfig(ca_file=ca), witnesses=witnesses)
    except AttestgateError as exc:
        raise CliError(str(exc)) from None
    try:
        with client:
            checkpoint = client.checkpoint()
            if state is not None:
                checkpoint = LogMonitor(client, state).update()
            report = client.verify_log(checkpoint, progress=Progress())
    except LogVerificationError as exc:
        print(f"audit log FAILED verification: {exc}", file=sys.stderr)
        return 1
    except AttestgateError as exc:
        raise CliError(str(exc)) from None
    root = report.checkpoint.root_hash_b64
    print(
        f"audit log intact: size {report.checkpoint.size}, root {root} "
        f"({report.tiles} tiles and {report.entries} entries checked at {client.url})"
    )
    if witnesses is not None:
        print("witnesses: " + witnesses.verify(report.checkpoint.text).describe())
    return 0


def _verifiers(config: GatewayConfig, keyring: KeyRing | None, vkey: str | None) -> list[Verifier]:
    if vkey:
        try:
            return [Verifier.from_vkey(vkey)]
        except NoteError as exc:
            raise CliError(f"bad --vkey: {exc}") from None
    if keyring is None:
        raise CliError("give --vkey, or a --data-dir holding the gateway's keys")
    return [log_signer(config, keyring).verifier()]


def add_audit_command(sub: Any, run: Any) -> None:
    """Register ``audit verify``, ``vkey`` and ``resolve`` (``run``: the CLI's handlers)."""
    p = sub.add_parser(
        "audit", help="verify the audit log, print its verifier key, resolve a pseudonym"
    )
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute and check the whole log")
    _common(verify)
    verify.add_argument("--db", help="database URL or SQLite path (default: in the data dir)")
    verify.add_argument("--vkey", help="trust this C2SP vkey instead of the data dir's key")
    verify.add_argument(
        "--url",
        help="verify a log through its tlog-tiles at this prefix (https://ISSUER/log) instead "
        "of the database: no token needed (with --vkey)",
    )
    verify.add_argument(
        "--ca", type=Path, help="with --url: CA certificate to trust (default: the system's)"
    )
    verify.add_argument(
        "--state",
        type=Path,
        help="with --url: file keeping the last verified checkpoint; the new one must extend it",
    )
    verify.add_argument(
        "--witness",
        action="append",
        metavar="VKEY",
        help="with --url: a witness's verifier key (repeatable); the checkpoint must carry "
        "--witness-k valid cosignatures of them",
    )
    verify.add_argument(
        "--witness-k",
        type=int,
        metavar="K",
        help="with --witness: how many of the witnesses must have cosigned (default: all)",
    )
    verify.set_defaults(func=run["verify"])
    vkey = audit_sub.add_parser("vkey", help="print the log's C2SP verifier key")
    _common(vkey)
    vkey.set_defaults(func=run["vkey"])
    resolve = audit_sub.add_parser(
        "resolve",
        help="find the subject id, record id or transaction ref behind a pseudonym "
        "(for a regulator's lawful request; the resolution is itself audited)",
    )
    _common(resolve)
    resolve.add_argument("--db", help="database URL or SQLite path (default: in the data dir)")
    resolve.add_argument(
        "--reason", required=True, help="why (a case or request number; logged, so no names)"
    )
    resolve.add_argument("pseudonym", metavar="PSEUDONYM", help="ps_..., pr_..., pt_... or pj_...")
    resolve.set_defaults(func=run["resolve"])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--config", help="TOML config (default <data-dir>/config.toml)")
