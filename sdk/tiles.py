"""Follow the audit log through its C2SP tlog-tiles (https://c2sp.org/tlog-tiles): no token, no
gRPC, only static HTTPS resources that any cache or mirror can serve.

``TiledLogClient(url, vkey=...)`` reads ``<url>/checkpoint``, ``<url>/tile/<L>/<N>[.p/<W>]`` and
``<url>/tile/entries/<N>[.p/<W>]`` (the gateway's log prefix is ``<issuer>/log``), verifies every
checkpoint's signature against the pinned vkey, and computes inclusion and consistency proofs
from tiles (``attestgate.protocol.tlog_tiles``), checked like the gRPC ones. It has the methods
``LogMonitor`` uses, so ``LogMonitor(TiledLogClient(...), state_file)`` follows a log by tiles.
``verify_log`` rebuilds the whole tree from the entry bundles and checks every tile and the
signed root. Standard library only (``http.client``, one kept-alive connection).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from attestgate.protocol.cosignature import WitnessPolicy
from attestgate.protocol.merkle import ProofError, leaf_hash
from attestgate.protocol.merkle import verify_consistency as _check_consistency
from attestgate.protocol.merkle import verify_inclusion as _check_inclusion
from attestgate.protocol.tlog_tiles import (
    TILE_WIDTH,
    Tile,
    TileBuilder,
    TileError,
    TileHashes,
    bundles_for_size,
    decode_bundle,
    tile_width,
)
from attestgate.sdk._internal import convert, opening
from attestgate.sdk.errors import InvalidInput, NotFound, Unavailable
from attestgate.sdk.log_errors import LogVerificationError, SplitViewError
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import Checkpoint, ConsistencyProof, InclusionProof, LogEntry
from attestgate.v1 import audit_pb2

__all__ = ["LogReport", "TiledLogClient"]

DEFAULT_TIMEOUT = 10.0
_CACHE_TILES = 4096  # 32 MiB of hash tiles at most
_MAX_BODY = 256 * (2 + 0xFFFF)  # the largest entry bundle possible


@dataclass(frozen=True)
class LogReport:
    """What ``verify_log`` checked: every entry and tile of ``checkpoint``'s tree."""

    checkpoint: Checkpoint
    entries: int
    tiles: int


class TiledLogClient:
    """A tlog-tiles log at ``url`` (its prefix, e.g. ``https://issuer.example/log``), verified
    against ``vkey`` (``attestgate audit vkey``; obtained out of band). ``tls.ca_file`` is the CA
    to trust (``None``: the system roots); ``origin`` the checkpoint origin, by default the
    vkey's name; ``witnesses`` a witness policy every checkpoint must meet. Thread-safe;
    ``close`` releases the connection."""

    def __init__(
        self,
        url: str,
        *,
        vkey: str,
        tls: TlsConfig | None = None,
        origin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        witnesses: WitnessPolicy | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.hostname or parts.query:
            raise InvalidInput(
                f"{url!r} is not a log URL",
                hint="give the log prefix, e.g. https://issuer.example/log",
            )
        self._verifier = opening.verifier(vkey)
        self.witnesses = witnesses
        self.url = url.rstrip("/")
        self.origin = origin or self._verifier.name
        self._http = _Http(parts.scheme, parts.netloc, parts.path.rstrip("/"), tls, timeout)
        self._cache: OrderedDict[Tile, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._latest = 0  # size of the newest checkpoint verified

    def close(self) -> None:
        """Close the connection (the next request opens another)."""
        self._http.close()

    def __enter__(self) -> TiledLogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoints -------------------------------------------------------------------------

    def open_checkpoint(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint note against the pinned key and origin, and the witness
        policy when the client has one."""
        return opening.open_checkpoint(text, self._verifier, self.origin, self.witnesses)

    def checkpoint(self) -> Checkpoint:
        """``<url>/checkpoint``, its signature verified."""
        body = self._http.get("/checkpoint", what="the checkpoint")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise LogVerificationError("the checkpoint is not UTF-8") from None
        checkpoint = self.open_checkpoint(text)
        with self._lock:
            self._latest = max(self._latest, checkpoint.size)
        return checkpoint

    # -- tiles -------------------------------------------------------------------------------

    def tile(self, tile: Tile) -> bytes:
        """The bytes of ``tile`` (a hash tile or an entry bundle), unverified; kept in a cache
        (their bytes never change)."""
        with self._lock:
            found = self._cache.get(tile)
            if found is not None:
                self._cache.move_to_end(tile)
                return found
        what = f"{'entry bundle' if tile.entries else 'tile'} {tile.path}"
        body = self._http.get("/" + tile.path, what=what, gzip_ok=tile.entries)
        if not tile.entries:
            with self._lock:
                self._cache[tile] = body
                while len(self._cache) > _CACHE_TILES:
                    self._cache.popitem(last=False)
        return body

    def hashes(self, size: int) -> TileHashes:
        """The tree of ``size`` leaves as its tiles show it (unverified until compared with a
        signed root or checked as a proof)."""
        return TileHashes(size, self.tile)

    def entries(self, start: int, end: int) -> list[LogEntry]:
        """Leaves ``start <= index < end`` from the entry bundles. Unverified: check them with
        ``verify_inclusion`` against a checkpoint (``verify_log`` checks them all)."""
        if not 0 <= start <= end:
            raise ValueError("need 0 <= start <= end")
        with self._lock:
            size = max(end, self._latest)
        found: list[LogEntry] = []
        for n in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
            width = tile_width(0, n, size)
            bundle = self._bundle(Tile(0, n, width, entries=True))
            first = n * TILE_WIDTH
            for offset in range(max(start, first) - first, min(end, first + width) - first):
                found.append(_entry(first + offset, bundle[offset]))
        return found

    def _bundle(self, tile: Tile) -> list[bytes]:
        try:
            return decode_bundle(self.tile(tile), tile.width)
        except TileError as exc:
            raise LogVerificationError(f"entry bundle {tile.path}: {exc}") from None

    # -- proofs ------------------------------------------------------------------------------

    def inclusion_proof(self, index: int, tree_size: int) -> InclusionProof:
        """The RFC 9162 §2.1.3 proof of leaf ``index`` in the tree of ``tree_size``, computed
        from tiles (unchecked)."""
        try:
            hashes = self.hashes(tree_size).inclusion_proof(index)
        except TileError as exc:
            raise LogVerificationError(f"tiles do not give an inclusion proof: {exc}") from None
        return InclusionProof(index, tree_size, tuple(hashes))

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The RFC 9162 §2.1.4 proof between two tree sizes, computed from the tiles of the
        newer tree (unchecked)."""
        try:
            hashes = self.hashes(new_size).consistency_proof(old_size)
        except TileError as exc:
            raise LogVerificationError(f"tiles do not give a consistency proof: {exc}") from None
        return ConsistencyProof(old_size, new_size, tuple(hashes))

    def verify_inclusion(
        self, entry: LogEntry | bytes, index: int, checkpoint: Checkpoint
    ) -> InclusionProof:
        """Check that ``entry`` is leaf ``index`` of ``checkpoint``'s tree (from tiles); raises
        ``LogVerificationError``. Returns the checked proof."""
        data = entry.data if isinstance(entry, LogEntry) else bytes(entry)
        if not 0 <= index < checkpoint.size:
            raise LogVerificationError(f"index {index} is outside tree size {checkpoint.size}")
        proof = self.inclusion_proof(index, checkpoint.size)
        try:
            _check_inclusion(
                index=index,
                size=checkpoint.size,
                leaf_hash=leaf_hash(data),
                proof=proof.hashes,
                root=checkpoint.root_hash,
            )
        except ProofError as exc:
            raise LogVerificationError(f"inclusion proof failed: {exc}") from None
        return proof

    def verify_consistency(self, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
        """Check that ``new`` extends ``old`` with a proof computed from the newer tree's tiles;
        raises ``SplitViewError`` if not."""
        if old.size > new.size:
            raise SplitViewError(f"tree size went back from {old.size} to {new.size}")
        proof = self.consistency_proof(old.size, new.size)
        try:
            _check_consistency(
                old_size=old.size,
                new_size=new.size,
                old_root=old.root_hash,
                new_root=new.root_hash,
                proof=proof.hashes,
            )
        except ProofError as exc:
            raise SplitViewError(f"checkpoints are not consistent: {exc}") from None
        return proof

    def verify_log(
        self,
        checkpoint: Checkpoint | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> LogReport:
        """Rebuild the tree of ``checkpoint`` (default: the latest) from its entry bundles, check
        that every tile the log serves for it is byte for byte the rebuilt one and that the
        root is the signed root; raises ``LogVerificationError`` naming the first difference."""
        checkpoint = checkpoint or self.checkpoint()
        builder = TileBuilder()
        tiles = 0
        for bundle in bundles_for_size(checkpoint.size):
            for entry in self._bundle(bundle):
                for tile, rebuilt in builder.append_entry(entry):
                    self._compare(tile, rebuilt)
                    tiles += 1
            if progress is not None:
                progress(builder.size, checkpoint.size)
        for tile, rebuilt in builder.partial_tiles():
            self._compare(tile, rebuilt)
            tiles += 1
        if builder.root() != checkpoint.root_hash:
            raise LogVerificationError(
                f"the entries rebuild root {builder.root().hex()} at size {checkpoint.size}, "
                f"the checkpoint signs {checkpoint.root_hash.hex()}"
            )
        return LogReport(checkpoint, builder.size, tiles)

    def _compare(self, tile: Tile, rebuilt: bytes) -> None:
        served = self.tile(tile)
        if served != rebuilt:
            raise LogVerificationError(
                f"tile {tile.path} differs from the tile rebuilt from entries "
                f"[{tile.start}, {tile.tree_size})"
            )


def _entry(index: int, data: bytes) -> LogEntry:
    return convert.log_entry(audit_pb2.LogEntry(index=index, data=data))


class _Http:
    """GETs on one kept-alive HTTP(S) connection (reopened after an error), serialized."""

    def __init__(
        self, scheme: str, netloc: str, path: str, tls: TlsConfig | None, timeout: float
    ) -> None:
        self._scheme, self._netloc, self._path, self._timeout = scheme, netloc, path, timeout
        self._context: ssl.SSLContext | None = None
        if scheme == "https":
            tls = tls or TlsConfig()
            self._context = ssl.create_default_context(
                cafile=None if tls.ca_file is None else str(tls.ca_file)
            )
            if tls.cert_file is not None and tls.key_file is not None:
                self._context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._context is not None:
                self._conn = http.client.HTTPSConnection(
                    self._netloc, timeout=self._timeout, context=self._context
                )
            else:
                self._conn = http.client.HTTPConnection(self._netloc, timeout=self._timeout)
        return self._conn

    def get(self, path: str, *, what: str, gzip_ok: bool = False) -> bytes:
        """The body of ``<prefix><path>``: ``NotFound`` for 404, ``Unavailable`` otherwise."""
        headers = {"Accept-Encoding": "gzip, identity" if gzip_ok else "identity"}
        with self._lock:
            for attempt in (0, 1):  # a kept-alive connection the server closed: once more
                conn = self._connection()
                try:
                    conn.request("GET", self._path + path, headers=headers)
                    response = conn.getresponse()
                    body = response.read(_MAX_BODY + 1)
                except ssl.SSLCertVerificationError as exc:
                    self._drop()
                    raise Unavailable(
                        f"{self._scheme}://{self._netloc}: certificate not trusted: "
                        f"{exc.verify_message}",
                        reason="TLS_CERTIFICATE_UNTRUSTED",
                        hint="pass the CA that signed the log's certificate (--ca / TlsConfig)",
                    ) from None
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    if attempt == 0 and isinstance(
                        exc, http.client.RemoteDisconnected | ConnectionResetError
                    ):
                        continue
                    raise Unavailable(
                        f"cannot fetch {what} from {self._scheme}://{self._netloc}: {exc}",
                        reason="GATEWAY_UNREACHABLE",
                    ) from None
                break
            if response.getheader("Connection", "").lower() == "close":
                self._drop()
        return _body(response, body, what)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _body(response: http.client.HTTPResponse, body: bytes, what: str) -> bytes:
    if response.status == 404:
        raise NotFound(f"the log does not serve {what} (404)")
    if response.status != 200:
        message = body[:200].decode("utf-8", "replace").strip()
        raise Unavailable(
            f"the log answered {response.status} for {what}: {message}",
            reason="GATEWAY_UNREACHABLE",
        )
    if len(body) > _MAX_BODY:
        raise LogVerificationError(f"{what} is larger than any tile or bundle can be")
    if response.getheader("Content-Encoding", "identity").lower() == "gzip":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
        try:
            body = inflate.decompress(body, _MAX_BODY + 1)
        except zlib.error as exc:
            raise LogVerificationError(f"{what}: bad gzip encoding: {exc}") from None
        if len(body) > _MAX_BODY or not inflate.eof:
            raise LogVerificationError(f"{what} is larger than any tile or bundle can be")
    return body
