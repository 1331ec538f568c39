"""What ``attestgate serve`` trusts and prints when it starts.

* ``with_dev_issuer``: a configuration naming no ``[[issuers]]`` trusts the data dir's dev token
  issuer (the one ``attestgate token`` signs with), exactly as the config.toml written on first
  start does; so a config.toml written before the first start does not leave the gateway
  refusing every token with ``TOKEN_WRONG_ISSUER``.
* ``startup_lines`` / ``portal_lines``: where the dev CA is, which tokens are accepted (the
  ``attestgate token`` command only when they are), and the portal's sign-in URL, its pages and
  how owners and regulators sign in.
"""

from __future__ import annotations

from attestgate.gateway.common.keys import dev_issuer
from attestgate.gateway.ops.config import GatewayConfig, with_overrides

OWNER_PAGES = ("/owner/requests", "/owner/consents", "/owner/activity", "/owner/assets")
REGULATOR_PAGES = ("/regulator", "/regulator/events")


def with_dev_issuer(config: GatewayConfig) -> GatewayConfig:
    """``config``, trusting the data dir's dev issuer when it names no ``[[issuers]]``."""
    if config.issuers:
        return config
    return with_overrides(config, issuers=(dev_issuer(config.data_dir, config.gateway_id),))


def trusts_dev_issuer(config: GatewayConfig) -> bool:
    """Whether tokens from ``attestgate token`` for this data dir are accepted."""
    return dev_issuer(config.data_dir, config.gateway_id) in config.issuers


def untrusted_dev_tokens(config: GatewayConfig) -> str:
    """Why tokens from ``attestgate token`` are refused under ``config``, and what to add."""
    trusted = dev_issuer(config.data_dir, config.gateway_id)
    names = ", ".join(issuer.issuer for issuer in config.issuers)
    return (
        f"this config trusts only its [[issuers]] ({names}), so a gateway on it refuses tokens "
        "from `attestgate token` (TOKEN_WRONG_ISSUER); to accept them, add an [[issuers]] table "
        f'with issuer = "{trusted.issuer}" and jwks_file = "{trusted.jwks_file}"'
    )


def token_command(config: GatewayConfig, role: str, sub: str) -> str:
    """The ``attestgate token`` command line for ``role`` and ``sub`` on this data dir."""
    return f"attestgate token --data-dir {config.data_dir} --role {role} --sub {sub}"


def startup_lines(config: GatewayConfig, *, created: bool, implicit_dev_issuer: bool) -> list[str]:
    """The data dir, the dev CA and how to get an accepted token."""
    lines = [f"created data dir {config.data_dir} (keys, dev CA)"] if created else []
    if not config.insecure and config.tls_cert is None:
        lines.append(f"TLS CA certificate (trust it in clients): {config.tls_dir / 'ca.pem'}")
    if implicit_dev_issuer:
        lines.append(
            "token issuers: the config names no [[issuers]], so this data dir's dev issuer is "
            "trusted (production: list your identity provider under [[issuers]])"
        )
    if trusts_dev_issuer(config):
        lines.append(f"get a token: {token_command(config, 'bank', 'bank-1')} --ttl 1h")
    else:
        lines.append(f"tokens: {untrusted_dev_tokens(config)}")
    return lines


def portal_lines(config: GatewayConfig, url: str) -> list[str]:
    """The portal's sign-in URL, its pages, and how owners and regulators sign in."""
    pages = (
        f"portal: {url}/login (owner pages {', '.join(OWNER_PAGES)}; "
        f"regulator pages {', '.join(REGULATOR_PAGES)})"
    )
    if config.portal_login != "token" and config.portal_oidc_issuer:
        return [pages, f"  sign in with OpenID Connect at {config.portal_oidc_issuer}"]
    if trusts_dev_issuer(config):
        owners = token_command(config, "owner", "alice")
        regulators = token_command(config, "regulator", "csrc")
    else:
        owners, regulators = "a token with role owner", "a token with role regulator"
    return [
        pages,
        f"  sign in by pasting a token (dev mode): owners: {owners}; regulators: {regulators}",
    ]
