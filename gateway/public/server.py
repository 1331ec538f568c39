"""The public HTTPS face: what any SD-JWT VC verifier fetches, read-only and unauthenticated
(draft-ietf-oauth-sd-jwt-vc-19).

* ``GET /.well-known/jwt-vc-issuer[/<issuer path>]``: JWT VC Issuer Metadata, ``{"issuer",
  "jwks"}`` with every issuer key still published (the current one and those retired within the
  signing-key overlap), so tokens signed before a rotation keep verifying;
* ``GET <issuer path>/types/<domain>/<purpose>/v1``: the SD-JWT VC Type Metadata each ``vct``
  names (``gateway.usecases.attestations.vc_types``), byte for byte what ``vct#integrity`` hashes.

Starlette under uvicorn on a thread of the gateway, with the gRPC port's certificate; started
and stopped by the gateway's hooks (``attach_public``).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attestgate.gateway.common.addresses import format_host_port
from attestgate.gateway.common.tls import TlsFiles
from attestgate.gateway.common.webserver import ThreadedUvicorn
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.public.address import PublicAddress, metadata_path
from attestgate.gateway.public.documents import SERVING_HEADERS, cached_json
from attestgate.gateway.usecases.attestations.vc_types import TypeDocument
from attestgate.protocol.encoding import canonical_json

_log = logging.getLogger("attestgate.public")
ISSUER_MAX_AGE = 300
"""Seconds a verifier may reuse the issuer metadata: short, so a rotated-in key is seen soon."""
TYPE_MAX_AGE = 86400
"""Seconds a verifier may reuse a type metadata document (its bytes change only on upgrade)."""


class Lifecycle(Protocol):
    """The hooks of the server the public face runs beside (``gateway.transport.server``)."""

    on_start: list[Callable[[], None]]
    on_stop: list[Callable[[], None]]


def build_app(
    issuer: str,
    jwks: Callable[[], Mapping[str, Any]],
    types: Mapping[str, TypeDocument],
    routes: Sequence[Route] = (),
) -> Starlette:
    """The ASGI application: issuer metadata (``jwks()`` read per request), type metadata, and
    ``routes`` (the status lists: ``gateway.public.status``)."""

    def issuer_metadata(request: Request) -> Response:  # sync: the key ring reads its files
        body = canonical_json({"issuer": issuer, "jwks": dict(jwks())})
        return cached_json(request, body, max_age=ISSUER_MAX_AGE)

    by_path = {urlsplit(vct).path: document for vct, document in types.items()}
    prefix = urlsplit(issuer).path.rstrip("/")

    async def type_metadata(request: Request) -> Response:
        document = by_path.get(request.url.path)
        if document is None:
            raise HTTPException(404)
        return cached_json(request, document.body, max_age=TYPE_MAX_AGE)

    async def refused(request: Request, exc: Exception) -> Response:
        # No body: 404 (no such document), 405 (read-only; with Allow), 500.
        if not isinstance(exc, HTTPException):
            return Response(status_code=500, headers=SERVING_HEADERS)
        headers = {**SERVING_HEADERS, **(exc.headers or {})}
        return Response(status_code=exc.status_code, headers=headers)

    return Starlette(
        routes=[
            Route(metadata_path(issuer), issuer_metadata, methods=["GET"]),
            Route(prefix + "/types/{domain}/{purpose}/{version}", type_metadata, methods=["GET"]),
            *routes,
        ],
        exception_handlers={HTTPException: refused, Exception: refused},
    )


class PublicServer:
    """The public face's web server; ``url`` is where it answers, ``issuer`` what it publishes."""

    def __init__(self, app: Starlette, address: PublicAddress, config: GatewayConfig) -> None:
        tls = TlsFiles.in_dir(config.tls_dir)
        self.issuer = address.issuer
        self._host = address.host
        self._web = ThreadedUvicorn(
            uvicorn.Config(
                app,
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                ssl_certfile=str(config.tls_cert or tls.server_cert),
                ssl_keyfile=str(config.tls_key or tls.server_key),
                ssl_cert_reqs=ssl.CERT_NONE,  # unauthenticated: anybody may verify
            ),
            host=address.host,
            port=address.port,
            what="--public",
        )

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self._web.port

    @property
    def url(self) -> str:
        """``https://HOST:PORT`` of the listener (after ``start``); ``issuer`` may differ when
        ``public_url`` names a proxy in front of it."""
        return "https://" + format_host_port(self._host, self.port)

    def start(self) -> None:
        """Bind and serve (``ConfigError`` if the port is taken)."""
        self._web.start()
        _log.info("public issuer metadata on %s (issuer %s)", self.url, self.issuer)

    def stop(self) -> None:
        """Finish in-flight requests and stop."""
        self._web.stop()


def attach_public(
    gateway: Lifecycle,
    config: GatewayConfig,
    address: PublicAddress,
    *,
    jwks: Callable[[], Mapping[str, Any]],
    types: Mapping[str, TypeDocument],
    routes: Sequence[Route] = (),
) -> PublicServer:
    """Serve the public face at ``address`` beside ``gateway``: started by its start, stopped by
    its stop."""
    server = PublicServer(build_app(address.issuer, jwks, types, routes), address, config)
    gateway.on_start.append(server.start)
    gateway.on_stop.append(server.stop)
    return server
