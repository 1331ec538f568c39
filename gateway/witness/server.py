"""The witness over HTTP(S): Starlette under uvicorn (``gateway.common.webserver``).

``POST /add-checkpoint`` and ``GET /<origin hash>/checkpoint`` (c2sp.org/tlog-witness); the
submission and monitoring prefixes are both the server's root. HTTPS with ``--tls-cert`` and
``--tls-key``; plain HTTP only with ``--insecure`` (for a witness behind a TLS-terminating proxy
or a bastion, or for tests).
"""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from attestgate.gateway.common.webserver import ThreadedUvicorn
from attestgate.gateway.witness.core import MAX_BODY, Response, Witness


def _http(answer: Response) -> HttpResponse:
    # the header as given: Starlette would add "; charset=utf-8" to text/x.tlog.size
    return HttpResponse(
        answer.body, status_code=answer.status, headers={"content-type": answer.content_type}
    )


def build_app(witness: Witness) -> Starlette:
    """The Starlette app serving ``witness``."""

    async def add_checkpoint(request: Request) -> HttpResponse:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _http(Response(413, "request body too large\n"))
        return _http(await run_in_threadpool(witness.add_checkpoint, body))

    async def checkpoint(request: Request) -> HttpResponse:
        origin_hash = str(request.path_params["origin_hash"])
        return _http(await run_in_threadpool(witness.latest_checkpoint, origin_hash))

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )


def build_server(
    witness: Witness,
    *,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> ThreadedUvicorn:
    """A not yet started server for ``witness`` on ``host:port`` (TLS when cert and key given)."""
    config = uvicorn.Config(
        build_app(witness),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )
    return ThreadedUvicorn(config, host=host, port=port, what="witness --listen")
