"""Token Status List (draft-ietf-oauth-status-list): the bit array, its compression and the
signed Status List Token (JWT, ``typ`` ``statuslist+jwt``).

A status list is a byte array holding one status of ``bits`` bits (1, 2, 4 or 8) per referenced
token; index ``i`` lives in byte ``i * bits // 8`` starting at bit ``(i * bits) % 8`` counted from
the least significant bit. In JSON it travels as ``{"bits": n, "lst": base64url(ZLIB(bytes))}``
(DEFLATE in the RFC 1950 ZLIB format). A referenced token carries
``"status": {"status_list": {"idx": i, "uri": U}}``; the Status List Token served at ``U`` has
``sub`` = ``U``, ``iat``, optional ``exp`` and ``ttl``, and the ``status_list`` claim.

Nothing here knows where lists are stored or served; failures raise ``StatusListError``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.protocol.encoding import JsonValue, b64url_decode, b64url_encode, json_object
from attestgate.protocol.jose import (
    EDDSA,
    ES256,
    JoseError,
    parse_compact_jws,
    sign_jws,
    verify_eddsa,
    verify_es256,
)

__all__ = [
    "ALLOWED_BITS",
    "MAX_LIST_BYTES",
    "TYP",
    "Status",
    "StatusList",
    "StatusListError",
    "StatusListToken",
    "StatusReference",
    "compress",
    "decompress",
    "parse_reference",
    "reference_claim",
    "sign_status_list_token",
    "verify_status_list_token",
]

TYP = "statuslist+jwt"
ALLOWED_BITS = (1, 2, 4, 8)
MAX_LIST_BYTES = 16 * 1024 * 1024
"""The largest decompressed list accepted (16 MiB: 2^27 one-bit entries); bounds a zip bomb."""
_MAX_TOKEN_CHARS = 24 * 1024 * 1024


class StatusListError(ValueError):
    """A status list, Status List Token or status reference is malformed or not acceptable."""


class Status(IntEnum):
    """The draft's registered status types (§7.1)."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


def compress(data: bytes | bytearray) -> bytes:
    """DEFLATE in the ZLIB format (RFC 1950): the smaller of two encodings at level 9, run-length
    matches (``Z_RLE``: long runs of one status) and Huffman coding only (random statuses: no
    matches to find). Both take milliseconds on a 1 MiB list and come within 1.2x of its
    information content; the default strategy's match search takes up to a second on sparse
    random lists and ends larger (the draft recommends the highest compression, not a strategy).
    """
    best = b""
    for strategy in (zlib.Z_RLE, zlib.Z_HUFFMAN_ONLY):
        deflater = zlib.compressobj(9, zlib.DEFLATED, 15, 9, strategy)
        out = deflater.compress(data) + deflater.flush()
        if not best or len(out) < len(best):
            best = out
    return best


def decompress(data: bytes, *, max_bytes: int = MAX_LIST_BYTES) -> bytes:
    """Inflate ZLIB ``data``; refuses anything that is not exactly one complete ZLIB stream or
    that inflates beyond ``max_bytes``."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise StatusListError("lst is not ZLIB data") from exc
    if len(out) > max_bytes:
        raise StatusListError(f"status list inflates beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise StatusListError("lst is not one complete ZLIB stream")
    return out


class StatusList:
    """A mutable status list of ``size`` entries of ``bits`` bits each (all VALID at first)."""

    __slots__ = ("_data", "_mask", "_shift", "bits")

    def __init__(self, bits: int, data: bytes | bytearray) -> None:
        if bits not in ALLOWED_BITS:
            raise StatusListError("bits must be 1, 2, 4 or 8")
        self.bits = bits
        self._data = bytearray(data)
        self._mask = (1 << bits) - 1
        self._shift = {1: 3, 2: 2, 4: 1, 8: 0}[bits]  # log2(entries per byte)

    @classmethod
    def new(cls, size: int, bits: int = 2) -> StatusList:
        """An all-VALID list with room for at least ``size`` entries."""
        if size < 1:
            raise StatusListError("a status list has at least one entry")
        return cls(bits, bytes(-(-size * bits // 8)))

    @property
    def size(self) -> int:
        """How many entries the list holds (the byte array's length times entries per byte)."""
        return len(self._data) << self._shift

    def get(self, index: int) -> int:
        """The status at ``index``; an index outside the list is an error."""
        if not 0 <= index < self.size:
            raise StatusListError(f"index {index} is outside the list of {self.size} entries")
        entry_mask = (1 << self._shift) - 1
        offset = (index & entry_mask) * self.bits
        return (self._data[index >> self._shift] >> offset) & self._mask

    def set(self, index: int, status: int) -> None:
        """Set the entry at ``index`` to ``status`` (which must fit in ``bits`` bits)."""
        if not 0 <= status <= self._mask:
            raise StatusListError(f"status {status} does not fit in {self.bits} bits")
        self.get(index)  # bounds check
        offset = (index & ((1 << self._shift) - 1)) * self.bits
        byte = index >> self._shift
        self._data[byte] = (self._data[byte] & ~(self._mask << offset) & 0xFF) | (status << offset)

    def to_bytes(self) -> bytes:
        """The uncompressed byte array."""
        return bytes(self._data)

    def to_json(self) -> dict[str, JsonValue]:
        """``{"bits": n, "lst": base64url(ZLIB(bytes))}`` (§4.2)."""
        return {"bits": self.bits, "lst": b64url_encode(compress(self._data))}

    @classmethod
    def from_json(cls, value: object, *, max_bytes: int = MAX_LIST_BYTES) -> StatusList:
        """Parse the JSON Status List (``bits`` and ``lst`` only)."""
        if not isinstance(value, Mapping) or set(value) != {"bits", "lst"}:
            raise StatusListError("status_list must be an object with exactly bits and lst")
        bits, lst = value["bits"], value["lst"]
        if isinstance(bits, bool) or bits not in ALLOWED_BITS:
            raise StatusListError("bits must be 1, 2, 4 or 8")
        if not isinstance(lst, str) or not lst:
            raise StatusListError("lst must be a non-empty base64url string")
        try:
            raw = b64url_decode(lst)
        except JoseError as exc:
            raise StatusListError("lst is not base64url") from exc
        return cls(bits, decompress(raw, max_bytes=max_bytes))


@dataclass(frozen=True)
class StatusReference:
    """Where a referenced token's status is: entry ``idx`` of the list served at ``uri``."""

    uri: str
    idx: int


def reference_claim(uri: str, idx: int) -> dict[str, JsonValue]:
    """The referenced token's ``status`` claim value (§6.1)."""
    return {"status_list": {"idx": idx, "uri": uri}}


def parse_reference(status: object) -> StatusReference:
    """The ``status_list`` reference in a referenced token's ``status`` claim value."""
    entry = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(entry, Mapping):
        raise StatusListError("status claim has no status_list object")
    idx, uri = entry.get("idx"), entry.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise StatusListError("status_list.idx must be a non-negative integer")
    if not isinstance(uri, str) or not uri:
        raise StatusListError("status_list.uri must be a non-empty string")
    return StatusReference(uri, idx)


@dataclass(frozen=True)
class StatusListToken:
    """The verified claims of a Status List Token."""

    sub: str
    iat: int
    exp: int | None
    ttl: int | None
    iss: str | None
    status_list: StatusList

    def status(self, idx: int) -> Status | int:
        """The status at ``idx`` (a ``Status`` when it is a registered type)."""
        value = self.status_list.get(idx)
        try:
            return Status(value)
        except ValueError:
            return value


SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def sign_status_list_token(
    key: SigningKey,
    *,
    kid: str,
    uri: str,
    iat: int,
    status_list: StatusList,
    ttl: int | None = None,
    exp: int | None = None,
    iss: str | None = None,
) -> str:
    """A compact JWS Status List Token (§5.1) over ``status_list`` for the list at ``uri``."""
    alg = EDDSA if isinstance(key, ed25519.Ed25519PrivateKey) else ES256
    claims: dict[str, JsonValue] = {"sub": uri, "iat": iat}
    if iss is not None:
        claims["iss"] = iss
    if exp is not None:
        claims["exp"] = exp
    if ttl is not None:
        if ttl < 1:
            raise StatusListError("ttl must be positive")
        claims["ttl"] = ttl
    claims["status_list"] = status_list.to_json()
    return sign_jws({"alg": alg, "kid": kid, "typ": TYP}, claims, key)


def _int_claim(claims: Mapping[str, JsonValue], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StatusListError(f"{name} must be an integer")
    return value


def verify_status_list_token(
    token: str,
    key_for: Callable[[str], PublicKey | None],
    *,
    uri: str,
    now: int,
    iss: str | None = None,
    max_bytes: int = MAX_LIST_BYTES,
) -> StatusListToken:
    """Check a Status List Token as a relying party must (§8.3): ``typ``, a signature by the key
    ``key_for(kid)`` returns (algorithm fixed by the key), ``sub`` equal to the referenced
    ``uri``, ``iss`` if given, not expired at ``now``, a well-formed ``status_list``."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise StatusListError("not a Status List Token")
    try:
        jws = parse_compact_jws(token)
        claims = json_object(jws.payload, max_depth=4, floats=False)
    except JoseError as exc:
        raise StatusListError(f"not a Status List Token: {exc}") from exc
    if jws.header.get("typ") != TYP:
        raise StatusListError(f"typ must be {TYP}")
    kid = jws.header.get("kid")
    key = key_for(kid) if isinstance(kid, str) else None
    if key is None:
        raise StatusListError("Status List Token is signed by an unknown key")
    alg = jws.header.get("alg")
    if isinstance(key, ed25519.Ed25519PublicKey):
        ok = alg == EDDSA and verify_eddsa(jws, key)
    else:
        ok = alg == ES256 and verify_es256(jws, key)
    if not ok:
        raise StatusListError("Status List Token signature is invalid")
    return _checked_claims(claims, uri=uri, now=now, iss=iss, max_bytes=max_bytes)


def _checked_claims(
    claims: Mapping[str, JsonValue], *, uri: str, now: int, iss: str | None, max_bytes: int
) -> StatusListToken:
    if claims.get("sub") != uri:
        raise StatusListError("Status List Token sub does not match the referenced uri")
    token_iss = claims.get("iss")
    if token_iss is not None and not isinstance(token_iss, str):
        raise StatusListError("iss must be a string")
    if iss is not None and token_iss != iss:
        raise StatusListError("Status List Token iss does not match the referenced token's")
    iat = _int_claim(claims, "iat", required=True)
    exp = _int_claim(claims, "exp", required=False)
    ttl = _int_claim(claims, "ttl", required=False)
    if exp is not None and now >= exp:
        raise StatusListError("Status List Token is expired")
    if ttl is not None and ttl < 1:
        raise StatusListError("ttl must be positive")
    assert iat is not None
    status_list = StatusList.from_json(claims.get("status_list"), max_bytes=max_bytes)
    return StatusListToken(uri, iat, exp, ttl, token_iss, status_list)
