"""Where the public HTTPS face listens and the issuer URL it publishes.

``config.public``: ``"auto"`` (the default) serves it whenever the gateway speaks TLS, on the gRPC
host at the gRPC port + 1 (``--listen 127.0.0.1:50051``: ``127.0.0.1:50052``; gRPC port 0: a free
port); ``"off"`` turns it off; ``HOST:PORT`` names the address. It always speaks HTTPS with the
gRPC port's certificate (the draft allows HTTPS URLs only), so an explicit address with
``--insecure`` is refused. ``config.public_url`` is the issuer URL (every attestation's ``iss``);
by default ``https://HOST:PORT`` of the listener (a wildcard host: ``localhost``). With the face
off and no ``public_url`` the issuer stays the gateway id, as before.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from attestgate.gateway.common.addresses import format_host_port, is_loopback, parse_listen
from attestgate.gateway.ops.config import ConfigError, GatewayConfig

_log = logging.getLogger("attestgate.public")
WELL_KNOWN_ISSUER = "/.well-known/jwt-vc-issuer"
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names, not binds
_MAX_PORT = 65535


@dataclass(frozen=True)
class PublicAddress:
    """The listener (``host``, ``port``; never 0 once resolved) and the issuer URL."""

    host: str
    port: int
    issuer: str


def public_address(config: GatewayConfig) -> PublicAddress | None:
    """The public face's address from ``config`` (``None``: off); ``ConfigError`` if unusable.
    Port 0 (asked for, or the gRPC port is 0) is resolved to a free port now, so that the
    issuer URL is known before anything is built."""
    setting = config.public.strip()
    if setting.lower() == "off" or (setting.lower() == "auto" and config.insecure):
        return None
    if setting.lower() == "auto":
        host, grpc_port = parse_listen(config.listen)
        port = grpc_port + 1 if grpc_port else 0
        if port > _MAX_PORT:
            raise ConfigError(
                f"--public auto: the gRPC port {grpc_port} has no next port; name one"
            )
    else:
        if config.insecure:
            raise ConfigError(
                f"refusing --public {setting} with --insecure: the public face serves HTTPS only "
                "(issuer URLs must be HTTPS); drop --insecure or use --public off"
            )
        try:
            host, port = parse_listen(setting)
        except ConfigError as exc:
            raise ConfigError(f"--public: {exc}") from None
    port = port or _free_port(host)
    if config.public_url:
        return PublicAddress(host, port, issuer_url(config.public_url))
    default = "https://" + format_host_port("localhost" if host in _WILDCARD_HOSTS else host, port)
    if not is_loopback(host):
        _log.warning(
            "no public_url: the issuer (every attestation's iss) is %s, derived from the listen "
            "address; set public_url to the HTTPS name verifiers reach",
            default,
        )
    return PublicAddress(host, port, default)


def issuer_name(config: GatewayConfig, address: PublicAddress | None) -> str:
    """Every new attestation's ``iss``: the public URL, else the gateway id (face off)."""
    if address is not None:
        return address.issuer
    return issuer_url(config.public_url) if config.public_url else config.gateway_id


def issuer_url(url: str) -> str:
    """``url`` checked as the draft's issuer identifier (HTTPS, a host, no query or fragment);
    a trailing ``/`` is dropped. ``ConfigError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"public_url {url!r} must be an https:// URL with a host and no query or fragment"
        )
    return url.rstrip("/")


def metadata_path(issuer: str) -> str:
    """Where the issuer metadata lives: the well-known segment between host and path."""
    return WELL_KNOWN_ISSUER + urlsplit(issuer).path.rstrip("/")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as exc:
            raise ConfigError(f"--public: cannot listen on {host}: {exc}") from None
        return int(sock.getsockname()[1])
