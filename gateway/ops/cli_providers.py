"""``attestgate providers add | grant | revoke | list``: who may upload what (operator).

* ``add ID KEY.pem --role ROLE [--role ROLE ...]`` registers a provider's public key with its
  roles; ``--replace`` re-keys a registered provider (its roles stay unless ``--role`` is given,
  which then sets exactly those).
* ``grant ID --role ROLE ...`` / ``revoke ID --role ROLE ...`` change the roles of a registered
  provider; its key stays.
* ``list`` prints every provider with its roles and key fingerprint.

A role is a catalog domain's ``provider_role`` (the provider uploads and erases that domain's
records) or the configured ``fx_rates_role`` (it uploads FX rate tables); an unknown role is
refused with the list of valid ones. Every change is effective without a restart.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attestgate.consent.catalog import Catalog
from attestgate.gateway.ops.cli_audit import CliError
from attestgate.gateway.ops.config import DEFAULT_DATA_DIR, GatewayConfig
from attestgate.gateway.usecases.providers import (
    Provider,
    ProviderKeyError,
    ProviderRegistry,
    check_roles,
    role_owners,
    validate_provider_id,
)
from attestgate.protocol.reasons import DomainError


def add_providers_command(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    """The ``providers`` subcommand; ``run`` loads the configuration and calls ``run_providers``."""
    p = sub.add_parser("providers", help="register data providers and their roles (operator)")
    commands = p.add_subparsers(dest="providers_command", required=True)
    add = commands.add_parser(
        "add",
        help="register a provider's public key and roles",
        description=_add_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="re-key a registered provider (keeps its roles unless --role is given)",
    )
    add.add_argument("provider_id", metavar="PROVIDER_ID")
    add.add_argument(
        "public_key_pem_file",
        metavar="PUBLIC_KEY_PEM_FILE",
        help="the provider's public key, PEM 'BEGIN PUBLIC KEY': EC P-256 or Ed25519",
    )
    grant = commands.add_parser("grant", help="give a registered provider more roles")
    revoke = commands.add_parser("revoke", help="take roles from a registered provider")
    for command in (grant, revoke):
        command.add_argument("provider_id", metavar="PROVIDER_ID")
    listing = commands.add_parser("list", help="every provider: id, roles, key fingerprint")
    for command in (add, grant, revoke):
        command.add_argument(
            "--role",
            dest="roles",
            action="append",
            metavar="ROLE",
            required=command is not add,
            help="a domain's provider_role or the fx_rates_role (repeatable)",
        )
    for command in (add, grant, revoke, listing):
        command.add_argument("--data-dir", help=f"data folder (default {DEFAULT_DATA_DIR})")
        command.add_argument("--config", help="TOML config (default <data-dir>/config.toml)")
        command.set_defaults(func=run)


def _add_description() -> str:
    default_fx_role = GatewayConfig().fx_rates_role
    owners = role_owners(Catalog.load_default(), default_fx_role)
    width = max(map(len, owners))
    roles = "\n".join(
        f"  {role:<{width}}  {', '.join(what)}"
        + (" (the config's fx_rates_role)" if role == default_fx_role else "")
        for role, what in sorted(owners.items())
    )
    return f"""\
Register a data provider: the public key its signed uploads are checked against, and the roles
that say what it may upload. Effective without a restart.

Key types: a PEM public key ('-----BEGIN PUBLIC KEY-----', SubjectPublicKeyInfo), either
  EC P-256 (the provider signs ES256), e.g.
    openssl ecparam -name prime256v1 -genkey -noout -out tax.key
    openssl ec -in tax.key -pubout -out tax.pub
  or Ed25519 (the provider signs EdDSA), e.g.
    openssl genpkey -algorithm ed25519 -out tax.key && openssl pkey -in tax.key -pubout -out tax.pub
Other curves, RSA keys, certificates and private keys are refused.

Roles (--role, repeatable) and the catalog domains each uploads (default catalog):
{roles}"""


def run_providers(args: argparse.Namespace, config: GatewayConfig) -> int:
    """Run one ``providers`` command against ``config``'s data dir."""
    registry = ProviderRegistry(config.data_dir)
    owners = role_owners(Catalog.load_default(), config.fx_rates_role)
    try:
        if args.providers_command == "list":
            return _list(registry, owners, config.data_dir)
        if args.providers_command == "add":
            provider = _add(registry, args, owners)
        else:
            provider = _change(registry, args, owners)
    except ProviderKeyError as exc:
        raise CliError(str(exc)) from None
    roles = ", ".join(sorted(provider.roles)) or "none"
    print(f"provider {provider.id}: roles {roles}; key {provider.fingerprint}")
    return 0


def _add(
    registry: ProviderRegistry, args: argparse.Namespace, owners: dict[str, tuple[str, ...]]
) -> Provider:
    validate_provider_id(args.provider_id)  # first: a bad id is the first thing to report
    try:
        pem = Path(args.public_key_pem_file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.public_key_pem_file}: {exc.strerror}") from None
    if args.roles is None and not args.replace:
        raise CliError(f"--role is required; valid roles: {_valid(owners)}")
    if args.roles is None:
        roles = _registered(registry, args.provider_id).roles
    else:
        roles = check_roles(args.roles, owners)
    pid = registry.add(args.provider_id, pem, roles=roles, replace=args.replace)
    return registry.provider(pid)


def _change(
    registry: ProviderRegistry, args: argparse.Namespace, owners: dict[str, tuple[str, ...]]
) -> Provider:
    current = _registered(registry, args.provider_id)
    if args.providers_command == "grant":
        roles = current.roles | check_roles(args.roles, owners)
    else:
        missing = sorted(set(args.roles) - current.roles)
        if missing:
            raise CliError(f"provider {current.id} does not hold role(s) {', '.join(missing)}")
        roles = current.roles - set(args.roles)
    registry.set_roles(current.id, roles)
    return registry.provider(current.id)


def _registered(registry: ProviderRegistry, provider_id: str) -> Provider:
    try:
        return registry.provider(validate_provider_id(provider_id))
    except DomainError:
        raise CliError(
            f"provider {provider_id!r} is not registered (see: attestgate providers list)"
        ) from None


def _list(registry: ProviderRegistry, owners: dict[str, tuple[str, ...]], data_dir: Path) -> int:
    providers = registry.providers()
    if not providers:
        print(f"no providers registered in {data_dir}")
        return 0
    rows = [("PROVIDER", "ROLES", "KEY")]
    for provider in providers:
        roles = ",".join(sorted(provider.roles)) or "(none: uploads refused; providers grant)"
        rows.append((provider.id, roles, provider.fingerprint))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for pid, roles, key in rows:
        print(f"{pid:<{widths[0]}}  {roles:<{widths[1]}}  {key}")
    unknown = sorted({r for p in providers for r in p.roles} - set(owners))
    if unknown:
        print(f"note: role(s) {', '.join(unknown)} name no domain of the catalog and no FX role")
    return 0


def _valid(owners: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(sorted(owners))
