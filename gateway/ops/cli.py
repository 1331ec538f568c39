"""The ``attestgate`` command line.

Subcommands register themselves in ``COMMANDS`` (name -> builder that adds a subparser and sets
``func``), so later features add e.g. ``audit verify`` or ``db migrate`` with ``register_command``
without touching ``main``. A command function takes the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from attestgate.gateway import PORTAL_EXTRA_HINT
from attestgate.gateway.app import build_gateway
from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import SystemClock
from attestgate.gateway.common.keys import (
    DEV_ISSUER_JWKS_FILE,
    KeyFileError,
    KeyRing,
    dev_issuer_name,
    ensure_private_dir,
    write_atomic,
)
from attestgate.gateway.common.roles import Role
from attestgate.gateway.demo.cli import add_demo_command
from attestgate.gateway.ops import audit_resolve, cli_audit, cli_providers, db_cli
from attestgate.gateway.ops.cli_audit import CliError
from attestgate.gateway.ops.config import (
    CONFIG_FILE_NAME,
    DEFAULT_DATA_DIR,
    ConfigError,
    GatewayConfig,
    default_config_toml,
    load_config,
    parse_duration,
)
from attestgate.gateway.ops.logs import configure_logging
from attestgate.gateway.ops.maintenance import record_key_rotation
from attestgate.gateway.ops.startup import (
    portal_lines,
    startup_lines,
    trusts_dev_issuer,
    untrusted_dev_tokens,
    with_dev_issuer,
)
from attestgate.gateway.public.address import metadata_path
from attestgate.gateway.transport.server import check_listen_security
from attestgate.gateway.witness.cli import add_witness_command

CommandBuilder = Callable[[Any], None]
"""Adds one subcommand to the ``add_subparsers()`` object it is given."""

COMMANDS: dict[str, CommandBuilder] = {}
MAX_DEV_TOKEN_TTL = timedelta(days=30)


def register_command(name: str) -> Callable[[CommandBuilder], CommandBuilder]:
    """Decorator: add a subcommand builder to ``COMMANDS``."""

    def decorate(builder: CommandBuilder) -> CommandBuilder:
        COMMANDS[name] = builder
        return builder

    return decorate


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    default = Path(args.data_dir or DEFAULT_DATA_DIR) / CONFIG_FILE_NAME
    return default if default.exists() else None


def load_cli_config(args: argparse.Namespace, **overrides: object) -> GatewayConfig:
    """The configuration for a command: ``--config`` (or ``<data_dir>/config.toml``) + flags."""
    return load_config(_config_path(args), {"data_dir": args.data_dir, **overrides})


def _open_existing_keyring(config: GatewayConfig) -> KeyRing:
    if not (config.data_dir / "keys").is_dir():
        raise CliError(
            f"{config.data_dir} is not an attestgate data dir; "
            f"start `attestgate serve --data-dir {config.data_dir}` once first"
        )
    return KeyRing.open_or_create(
        config.data_dir,
        clock=SystemClock(),
        gateway_id=config.gateway_id,
        overlap=config.signing_key_overlap,
    )


# --- serve ---------------------------------------------------------------------------------------


def _write_default_config(data_dir: Path, gateway_id: str) -> Path:
    ensure_private_dir(data_dir, strict=False)
    path = data_dir / CONFIG_FILE_NAME
    text = default_config_toml(
        gateway_id=gateway_id,
        dev_issuer=dev_issuer_name(gateway_id),
        jwks_file_name=DEV_ISSUER_JWKS_FILE,
    )
    write_atomic(path, text.encode(), mode=0o600)
    return path


def _serve_config(args: argparse.Namespace) -> GatewayConfig:
    """The configuration ``serve`` runs with, checked before anything is written; a first start
    then writes the default config.toml (it trusts this data dir's dev issuer, DESIGN.md
    "Roles")."""
    overrides = {
        "listen": args.listen,
        "db": args.db,
        "insecure": args.insecure or None,
        "portal": args.portal,
        "metrics": args.metrics,
        "public": args.public,
        "public_url": args.public_url,
    }
    config = load_cli_config(args, **overrides)
    check_listen_security(config)  # refuse plaintext off loopback
    if config.portal:
        _require_portal_extra()
    if args.config is not None or _config_path(args) is not None:
        return config
    _write_default_config(config.data_dir, "attestgate")
    return load_cli_config(args, **overrides)


def _require_portal_extra() -> None:
    """Before anything is created: the portal's web stack is installed (the ``portal`` extra)."""
    try:
        import attestgate.gateway.portal  # noqa: F401, PLC0415 - optional extra, checked on use
    except ModuleNotFoundError as exc:
        raise CliError(str(exc)) from None


def _run_serve(args: argparse.Namespace) -> int:
    config = _serve_config(args)
    configure_logging(config.log_format, config.log_level)
    created = not config.keys_dir.is_dir()
    implicit_dev_issuer = not config.issuers
    config = with_dev_issuer(config)
    gateway = build_gateway(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        gateway.start()
        lines = startup_lines(config, created=created, implicit_dev_issuer=implicit_dev_issuer)
        if gateway.portal is not None:
            lines += portal_lines(config, gateway.portal.url)
        if gateway.public is not None:
            where = gateway.public.url + metadata_path(gateway.public.issuer)
            lines.append(f"issuer {gateway.public.issuer}: metadata at {where}")
        print("\n".join([*lines, f"listening on {gateway.address}"]), flush=True)
        while not stop.wait(0.5):
            pass
        print("shutting down", flush=True)
        gateway.stop(config.grace_period.total_seconds())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        gateway.stop(0)
    return 0


SERVE_DESCRIPTION = """\
Run the gateway: the consent, attestation, record and audit gRPC services on one port (TLS with a
dev CA created in the data dir, or --insecure plaintext on loopback), optionally the owner and
regulator web portal (--portal, needs the portal extra) and Prometheus metrics (--metrics).
The first start creates the data dir: keys, the dev CA and a config.toml that trusts the data
dir's dev token issuer (`attestgate token`); a config that names no [[issuers]] trusts it too.
Configuration: defaults < config.toml < flags. Stops cleanly on SIGTERM or Ctrl-C."""


@register_command("serve")
def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the gateway",
        description=SERVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:50051; port 0: any free port)")
    p.add_argument("--db", help="database URL or SQLite path (default <data-dir>/attestgate.db)")
    p.add_argument(
        "--insecure", action="store_true", help="plaintext instead of TLS (loopback only)"
    )
    p.add_argument("--config", help="TOML config (default <data-dir>/config.toml); flags win")
    p.add_argument(
        "--portal",
        metavar="HOST:PORT",
        help="also serve the owner consent portal and regulator audit viewer (HTTPS with the "
        "gateway's certificate; loopback only with --insecure; needs "
        f"{PORTAL_EXTRA_HINT}); off by default",
    )
    p.add_argument(
        "--public",
        metavar="HOST:PORT",
        help="the public HTTPS face for SD-JWT VC verifiers (issuer metadata at "
        "/.well-known/jwt-vc-issuer, type metadata; same certificate, read-only); default auto: "
        "on with TLS at the gRPC port + 1; off: none",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the issuer's HTTPS URL, every attestation's iss (default https://<--public>)",
    )
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (loopback only unless "
        "metrics_allow_remote = true in the config); off by default",
    )
    p.set_defaults(func=_run_serve)


# --- token ---------------------------------------------------------------------------------------


def _run_token(args: argparse.Namespace) -> int:
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        raise CliError(f"--ttl: {exc}") from None
    if not timedelta(0) < ttl <= MAX_DEV_TOKEN_TTL:
        raise CliError("--ttl must be more than 0 and at most 30d")
    if not args.sub.strip():
        raise CliError("--sub must not be empty")
    config = load_cli_config(args)
    keyring = _open_existing_keyring(config)
    token = issue_dev_token(
        keyring,
        role=Role(args.role),
        sub=args.sub,
        ttl=ttl,
        now=SystemClock().now(),
        audience=config.gateway_id,
    )
    print(token)
    if not trusts_dev_issuer(with_dev_issuer(config)):
        print(f"attestgate: note: {untrusted_dev_tokens(config)}", file=sys.stderr)
    return 0


@register_command("token")
def _add_token(sub: Any) -> None:
    p = sub.add_parser("token", help="print a bearer token from the data dir's dev issuer")
    p.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
    p.add_argument("--config", help="TOML config (default <data-dir>/config.toml)")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--sub", required=True, help="subject id (the caller's identity)")
    p.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 1h (default 1h, max 30d)")
    p.set_defaults(func=_run_token)


# --- keys ----------------------------------------------------------------------------------------


def _run_keys_rotate(args: argparse.Namespace) -> int:
    config = load_cli_config(args)
    keyring = _open_existing_keyring(config)
    clock = SystemClock()
    if args.kek:
        kid = keyring.rotate_kek(clock.now())
        rewrapped = record_key_rotation(
            config, keyring, clock=clock, key="kek", kid=kid, rewrap=True
        )
        print(
            f"new key-encryption key {kid}; {rewrapped} data keys re-wrapped "
            "(records are not re-encrypted; running gateways pick the key up without a restart)"
        )
        return 0
    kid = keyring.rotate_signing_key(clock.now())
    record_key_rotation(config, keyring, clock=clock, key="attestation", kid=kid, rewrap=False)
    print(
        f"new attestation signing key {kid}; the previous key stays published for "
        f"{config.signing_key_overlap} (running gateways pick the new key up without a restart)"
    )
    return 0


@register_command("keys")
def _add_keys(sub: Any) -> None:
    p = sub.add_parser("keys", help="manage the gateway's keys")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="rotate the attestation signing key")
    rotate.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
    rotate.add_argument("--config", help="TOML config (default <data-dir>/config.toml)")
    rotate.add_argument(
        "--kek",
        action="store_true",
        help="rotate the record key-encryption key instead, and re-wrap every data key",
    )
    rotate.set_defaults(func=_run_keys_rotate)


# --- providers -----------------------------------------------------------------------------------


def _run_providers(args: argparse.Namespace) -> int:
    return cli_providers.run_providers(args, load_cli_config(args))


@register_command("providers")
def _add_providers(sub: Any) -> None:
    cli_providers.add_providers_command(sub, _run_providers)


# --- audit ---------------------------------------------------------------------------------------


def _run_audit_verify(args: argparse.Namespace) -> int:
    witnesses = cli_audit.witness_policy(args.witness, args.witness_k)
    if args.url:  # tlog-tiles over HTTPS: no database, no data dir
        return cli_audit.run_verify_url(args.url, args.vkey, args.ca, args.state, witnesses)
    if args.ca or args.state or witnesses:
        raise CliError("--ca, --state and --witness go with --url")
    config = load_cli_config(args, db=args.db)
    keyring = None if args.vkey else _open_existing_keyring(config)
    return cli_audit.run_verify(config, keyring, args.vkey)


def _run_audit_vkey(args: argparse.Namespace) -> int:
    config = load_cli_config(args)
    print(cli_audit.log_signer(config, _open_existing_keyring(config)).vkey())
    return 0


def _run_audit_resolve(args: argparse.Namespace) -> int:
    config = load_cli_config(args, db=args.db)
    keyring = _open_existing_keyring(config)
    return audit_resolve.run_resolve(
        config, keyring, clock=SystemClock(), pseudonym=args.pseudonym, reason=args.reason
    )


@register_command("audit")
def _add_audit(sub: Any) -> None:
    run = {"verify": _run_audit_verify, "vkey": _run_audit_vkey, "resolve": _run_audit_resolve}
    cli_audit.add_audit_command(sub, run)


# --- db ------------------------------------------------------------------------------------------


def _run_db_migrate(args: argparse.Namespace) -> int:
    config = load_cli_config(args, db=args.db)
    return db_cli.run_migrate(config, now=SystemClock().now())


@register_command("db")
def _add_db(sub: Any) -> None:
    db_cli.add_db_command(sub, {"migrate": _run_db_migrate})


# --- demo ----------------------------------------------------------------------------------------

register_command("demo")(add_demo_command)

# --- witness (c2sp.org/tlog-witness; docs/witnessing.md) ------------------------------------------

register_command("witness")(add_witness_command)


# --- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="attestgate",
        description="Privacy-preserving verification gateway: consent, minimum-disclosure "
        "attestations, transparency log.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"attestgate {importlib.metadata.version('attestgate')}",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for builder in COMMANDS.values():
        builder(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``attestgate``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (CliError, ConfigError, KeyFileError) as exc:
        print(f"attestgate: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
