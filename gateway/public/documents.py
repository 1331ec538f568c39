"""Cacheable read-only JSON responses: fixed bytes, a strong ``ETag`` (RFC 9110 §8.8.3) and
``Cache-Control``, ``304 Not Modified`` when ``If-None-Match`` names the current tag, and the
draft's serving headers (``nosniff``, a ``Content-Security-Policy`` that allows nothing)."""

from __future__ import annotations

import base64
import hashlib

from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"
SERVING_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def etag_of(body: bytes) -> str:
    """A strong validator: the quoted base64url SHA-256 of the exact bytes."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    return f'"{digest}"'


def cached_json(request: Request, body: bytes, *, max_age: int) -> Response:
    """``body`` as ``application/json`` with its ``ETag``, or 304 if the client has it."""
    etag = etag_of(body)
    headers = {
        **SERVING_HEADERS,
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}",
    }
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: "*" or a list of tags, compared weakly (W/"x" matches "x").
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
