"""The audit log as a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles) on the public face,
under the log prefix ``<issuer>/log``:

* ``GET <prefix>/checkpoint``: the newest signed checkpoint, ``text/plain; charset=utf-8``,
  cacheable for ``CHECKPOINT_MAX_AGE`` seconds;
* ``GET <prefix>/tile/<L>/<N>[.p/<W>]``: hash tiles, ``application/octet-stream``;
* ``GET <prefix>/tile/entries/<N>[.p/<W>]``: entry bundles (gzip when the client accepts it).

Tiles and bundles are immutable (``Cache-Control: public, max-age=31536000, immutable`` and a
strong ``ETag``); they are read from the stored tree (``audit.tiles.LogTiles``) and exist only
once a signed checkpoint holds them, so every replica serves the same bytes. A malformed path is
``400`` and a tile not (yet) in a checkpoint ``404``, each with a one-line plain-text message
and ``Cache-Control: no-store``. The newest ``MEMORY_TILES`` responses are kept in memory
(their bytes never change).
"""

from __future__ import annotations

import gzip
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from attestgate.audit.store import StoredCheckpoint
from attestgate.audit.tiles import LogTiles
from attestgate.gateway.public.documents import SERVING_HEADERS, etag_of
from attestgate.protocol.tlog_tiles import (
    CHECKPOINT_MEDIA_TYPE,
    TILE_MEDIA_TYPE,
    TileError,
    parse_tile_path,
)

__all__ = ["CHECKPOINT_MAX_AGE", "IMMUTABLE", "LOG_PATH", "log_prefix", "tile_routes"]

LOG_PATH = "/log"
"""Where the log's prefix sits under the issuer URL."""
CHECKPOINT_MAX_AGE = 2
"""Seconds a client or cache may reuse ``/checkpoint`` (the spec: no more than a few)."""
IMMUTABLE = "public, max-age=31536000, immutable"
"""``Cache-Control`` of tiles and entry bundles: their bytes never change."""
MEMORY_TILES = 2048
"""Tile and bundle responses kept in memory (at most 16 MiB of full hash tiles): measured
needed, bench/tiles.py (a tile from the database costs a thread-pool hop and a query)."""
_TEXT = "text/plain; charset=utf-8"


def log_prefix(issuer: str) -> str:
    """The tlog-tiles URL prefix of the log: ``<issuer>/log``."""
    return issuer.rstrip("/") + LOG_PATH


def _path_of(issuer: str) -> str:
    base = issuer.split("://", 1)[-1]
    return (base[base.find("/") :] if "/" in base else "").rstrip("/") + LOG_PATH


def _plain(status: int, message: str) -> Response:
    headers = {**SERVING_HEADERS, "Cache-Control": "no-store"}
    return Response(message + "\n", status_code=status, media_type=_TEXT, headers=headers)


def _accepts_gzip(request: Request) -> bool:
    return _gzip_allowed(request.headers.get("accept-encoding", ""))


def _gzip_allowed(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


_Key = tuple[str, bool]  # (request path, gzipped)
_Raw = tuple[bytes, list[tuple[bytes, bytes]], bytes]  # body, ASGI headers, ETag


class _Cache:
    """The newest ``MEMORY_TILES`` responses by (request path, gzipped), ready to send: tiles
    never change, so a hit skips the database, the thread pool, compression, hashing and the
    request and response objects. Used on the event loop only (no lock)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[_Key, _Raw] = OrderedDict()

    def get(self, key: _Key) -> _Raw | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: _Key, body: bytes, headers: dict[str, str]) -> None:
        raw = [(b"content-type", TILE_MEDIA_TYPE.encode()), (b"content-length", b"%d" % len(body))]
        raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        self._items[key] = (body, raw, headers["ETag"].encode())
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class _TileEndpoint:
    """The ASGI endpoint of ``<prefix>/tile/...``: a cached GET answered at once, anything else
    through ``handler``."""

    def __init__(self, handler: Callable[[Request], Awaitable[Response]], cache: _Cache) -> None:
        self._handler, self._cache = handler, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            gzipped, tags = False, None
            for name, value in scope["headers"]:
                if name == b"accept-encoding":
                    gzipped = _gzip_allowed(value.decode("latin-1"))
                elif name == b"if-none-match":
                    tags = value
            found = self._cache.get((scope["path"], gzipped and "/entries/" in scope["path"]))
            if found is not None and tags is None:
                body, headers, _ = found
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        response = await self._handler(Request(scope, receive))
        await response(scope, receive, send)


def _encoded(body: bytes, *, compress: bool, gzipped: bool) -> tuple[bytes, dict[str, str]]:
    if gzipped:
        body = gzip.compress(body, compresslevel=6, mtime=0)  # the same bytes on every replica
    headers = {**SERVING_HEADERS, "ETag": etag_of(body), "Cache-Control": IMMUTABLE}
    if compress:
        headers["Vary"] = "Accept-Encoding"
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return body, headers


def _immutable(request: Request, body: bytes, headers: dict[str, str]) -> Response:
    tags = request.headers.get("if-none-match")
    if tags and headers["ETag"] in {tag.strip() for tag in tags.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=TILE_MEDIA_TYPE, headers=headers)


def tile_routes(
    issuer: str,
    tiles: LogTiles,
    published: Callable[[], StoredCheckpoint | None] | None = None,
) -> list[Route]:
    """``<issuer path>/log/checkpoint`` and ``<issuer path>/log/tile/...`` over ``tiles``;
    ``published`` gives the checkpoint to serve (default: the newest, ``tiles.checkpoint``), e.g.
    with its witnesses' cosignatures (``audit.cosignatures.PublishedCheckpoints``)."""
    prefix = _path_of(issuer)
    cache = _Cache(MEMORY_TILES)
    newest = published or tiles.checkpoint

    async def checkpoint(request: Request) -> Response:
        found = await run_in_threadpool(newest)  # reads the database
        if found is None:
            return _plain(404, "the log has no signed checkpoint yet")
        headers = {**SERVING_HEADERS, "Cache-Control": f"public, max-age={CHECKPOINT_MAX_AGE}"}
        return Response(found.note.encode(), media_type=CHECKPOINT_MEDIA_TYPE, headers=headers)

    async def tile(request: Request) -> Response:
        path = "tile/" + request.path_params["rest"]
        try:
            wanted = parse_tile_path(path)
        except TileError as exc:
            return _plain(400, f"bad tile path {path!r}: {exc}")
        gzipped = wanted.entries and _accepts_gzip(request)
        read = tiles.bundle if wanted.entries else tiles.tile
        body = await run_in_threadpool(read, wanted)
        if body is None:
            what = "entry bundle" if wanted.entries else "tile"
            return _plain(
                404,
                f"{what} {wanted.path} is not in the log: no signed checkpoint of "
                f"{wanted.tree_size} entries or more yet",
            )
        encoded = _encoded(body, compress=wanted.entries, gzipped=gzipped)
        cache.put((request.url.path, gzipped), *encoded)
        return _immutable(request, *encoded)

    return [
        Route(prefix + "/checkpoint", checkpoint, methods=["GET"]),
        Route(prefix + "/tile/{rest:path}", _TileEndpoint(tile, cache), methods=["GET"]),
    ]
