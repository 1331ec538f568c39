"""``GET <issuer path>/status-lists/<id>``: the list's latest signed Status List Token
(draft-ietf-oauth-status-list §8.1), ``Content-Type: application/statuslist+jwt``.

``Cache-Control`` lets a verifier reuse the token until the next publication (``max-age`` = the
time left in the publication interval, at most the token's ``ttl``); the strong ``ETag`` is the
token's hash, so a replay of an unchanged token answers ``304``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attestgate.gateway.public.documents import SERVING_HEADERS, etag_of
from attestgate.gateway.usecases.status import status_list_path
from attestgate.gateway.usecases.status_publication import PublishedList

__all__ = ["STATUS_LIST_MEDIA_TYPE", "status_route"]

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
_MAX_ID_DIGITS = 9


def status_route(
    issuer: str, published: Callable[[int], PublishedList | None], interval: int
) -> Route:
    """The route serving ``published(list_id)`` (404 for a list that does not exist)."""

    async def status_list(request: Request) -> Response:
        text = request.path_params["list_id"]
        if not text.isdigit() or len(text) > _MAX_ID_DIGITS or text.startswith("0"):
            raise HTTPException(404)
        found = await run_in_threadpool(published, int(text))  # may read the database
        if found is None:
            raise HTTPException(404)
        body = found.token.encode("ascii")
        etag = etag_of(body)
        age = max(0, int(time.time()) - found.iat)
        headers = {
            **SERVING_HEADERS,
            "ETag": etag,
            "Cache-Control": f"public, max-age={max(0, interval - age)}",
        }
        if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=STATUS_LIST_MEDIA_TYPE, headers=headers)

    return Route(status_list_path(issuer, "{list_id}"), status_list, methods=["GET"])
