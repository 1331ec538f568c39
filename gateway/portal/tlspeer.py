"""The client certificate of a portal connection, for certificate-bound tokens (RFC 8705 §3).

uvicorn (0.54, h11) puts no TLS details into the ASGI scope. ``PeerCertProtocol`` reads the
certificate the client presented during the handshake from the connection's ``ssl_object`` and
adds it to every request's scope as the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``, PEM; https://asgi.readthedocs.io/en/latest/
specs/tls.html). ``peer_certificate_der`` reads it back. The portal asks browsers for a client
certificate only when the gateway runs with ``tls_client_auth`` (``CERT_OPTIONAL``: people without
one still reach the sign-in page; their bound tokens are refused there).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol


def _client_cert_pem(transport: asyncio.BaseTransport) -> str | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der) if der else None


def _with_tls(app: ASGIApp, pem: str | None) -> ASGIApp:
    tls = {
        "server_cert": None,
        "client_cert_chain": [pem] if pem else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }

    async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
        scope["extensions"] = {**scope.get("extensions", {}), "tls": tls}
        await app(scope, receive, send)

    return with_tls


class PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension on TLS connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Called once the TLS handshake is complete: remember what the client presented."""
        super().connection_made(transport)
        if self.scheme == "https":
            self.app = _with_tls(self.app, _client_cert_pem(transport))


def peer_certificate_der(scope: Mapping[str, Any]) -> bytes | None:
    """The DER client certificate of the request's connection, or None (none, or plain HTTP)."""
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None
