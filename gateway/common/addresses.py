"""``HOST:PORT`` addresses of the gateway's listeners (gRPC, portal, metrics) and loopback checks.

Neutral helpers: the gRPC server (``gateway.transport.server``), the portal
(``gateway.portal.server``) and
the metrics endpoint (``gateway.ops.metrics``) all parse their listen address here, so none of them
imports another's module for it.
"""

from __future__ import annotations

import ipaddress

from attestgate.gateway.ops.config import ConfigError

__all__ = ["format_host_port", "is_loopback", "parse_listen"]


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> ``(host, port)``; ``ConfigError`` if malformed."""
    host, sep, port_text = listen.rpartition(":")
    digits = port_text.isascii() and port_text.isdigit()  # not "²", which int() refuses
    if not sep or not digits or not host or int(port_text) > 65535:
        raise ConfigError(f"listen address {listen!r} must look like HOST:PORT (port 0: any free)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"listen address {listen!r}: write IPv6 hosts in brackets, [::1]:PORT")
    return host, int(port_text)


def format_host_port(host: str, port: int) -> str:
    """``host:port`` with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
