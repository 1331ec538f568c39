"""JOSE helpers for attestations: strict base64url and JSON, P-256 JWKs, ES256 compact JWS.

Internal: no stability guarantees. The SD-JWT code (``sdk.sdjwt``, the gateway issuer) builds on
these; nothing here knows about selective disclosure.

Everything that parses is strict, because a verifier that accepts two spellings of one token
invites confusion: base64url must be unpadded and canonical (RFC 7515 §2, RFC 4648 §3.5), JSON
must be UTF-8 without duplicate member names (RFC 7515 §5.2 step 4) or non-finite numbers, and
nesting is bounded. Failures raise ``JoseError``; callers translate it into their own error.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from types import MappingProxyType
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""A parsed JSON value."""

JsonInput: TypeAlias = (
    "bool | int | float | str | Sequence[JsonInput] | Mapping[str, JsonInput] | None"
)
"""A value that serialises to JSON (read-only container types, so callers' dicts fit)."""

ES256 = "ES256"
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {char: value for value, char in enumerate(_B64URL_ALPHABET)}
# Unused low bits of the last character, by the unpadded length modulo 4 (RFC 4648 §4).
_SPARE_BITS = {0: 0, 2: 0b1111, 3: 0b11}
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]")
_P256_COORD_BYTES = 32
# RFC 7518 §3.4: ES256 is ECDSA P-256 with SHA-256, signature R || S (32 bytes each).
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class JoseError(ValueError):
    """A JOSE structure (base64url, JSON, JWK, JWS) is malformed or unacceptable."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url decode: no padding, URL-safe alphabet only, canonical trailing bits.

    Canonical means re-encoding gives back ``text``; otherwise two strings would decode to the
    same bytes (RFC 4648 §3.5), which would let a mutated token verify.
    """
    if not isinstance(text, str) or len(text) % 4 == 1 or not _B64URL_RE.fullmatch(text):
        raise JoseError("invalid base64url")
    # RFC 4648 §3.5: the bits of the last character beyond the data must be zero; checking them
    # is equivalent to re-encoding and comparing, and much cheaper.
    spare_bits = _SPARE_BITS[len(text) % 4]
    if spare_bits and _B64URL_VALUE[text[-1]] & spare_bits:
        raise JoseError("non-canonical base64url")
    padded = (text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE)
    try:
        return binascii.a2b_base64(padded)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the regex
        raise JoseError("invalid base64url") from exc


def json_dumps(value: JsonInput) -> str:
    """Compact JSON (no whitespace, UTF-8 text kept as is, no NaN); raises ``JoseError``."""
    try:
        return _COMPACT_ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise JoseError("value is not JSON-serialisable") from exc


_COMPACT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_json_string = json.encoder.encode_basestring


def json_text(value: JsonInput) -> str:
    """Exactly ``json_dumps(value)``, without the encoder's per-call cost for a string, a
    boolean, null or an integer: for hot paths that assemble JSON from a few such values."""
    if isinstance(value, str) and type(value) is str:
        return _json_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int) and type(value) is int:
        return int.__repr__(value)
    return json_dumps(value)


def _no_duplicates(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JoseError("duplicate JSON member name")
    return result


def _reject_constant(name: str) -> None:
    raise JoseError("non-finite JSON number")


def json_text_depth(text: str) -> int:
    """Nesting depth of the containers of JSON ``text`` (brackets inside strings ignored)."""
    openings = text.count("[") + text.count("{")
    if openings <= 8:  # the depth is at most the number of openings: no need to look closer
        return openings
    brackets = _NOT_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def json_depth(value: JsonValue) -> int:
    """Nesting depth of containers: a scalar is 0, ``{}`` is 1, ``{"a": []}`` is 2."""
    deepest = 0
    stack: list[tuple[JsonValue, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children: Iterator[JsonValue]
        if isinstance(item, dict):
            children = iter(item.values())
        elif isinstance(item, list):
            children = iter(item)
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_loads(data: bytes, *, max_depth: int) -> JsonValue:
    """Parse UTF-8 JSON strictly (no duplicate names, no NaN/Infinity, depth <= ``max_depth``)."""
    try:
        text = data.decode("utf-8")
        # Depth first, on the text: the parser then never recurses deeper than allowed.
        if json_text_depth(text) > max_depth:
            raise JoseError("JSON nested too deeply")
        value: JsonValue = _STRICT_DECODER.decode(text)
    except JoseError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and over-long integer literals.
        raise JoseError("invalid JSON") from exc
    return value


_STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
)


def json_object(data: bytes, *, max_depth: int) -> dict[str, JsonValue]:
    """Parse strict JSON that must be an object (a JWS header or JWT claims set)."""
    value = json_loads(data, max_depth=max_depth)
    if not isinstance(value, dict):
        raise JoseError("JSON value is not an object")
    return value


def public_jwk(key: ec.EllipticCurvePublicKey, *, kid: str | None = None) -> dict[str, str]:
    """The P-256 public JWK of ``key`` (RFC 7518 §6.2.1), with ``kid`` if given."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise JoseError("only P-256 keys are supported")
    numbers = key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(_P256_COORD_BYTES, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_P256_COORD_BYTES, "big")),
    }
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def load_public_jwk(jwk: Mapping[str, object]) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its JWK; refuses other curves, private members, off-curve points."""
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise JoseError("not a P-256 EC JWK")
    if "d" in jwk:
        raise JoseError("JWK carries a private key")
    x, y = jwk.get("x"), jwk.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise JoseError("bad EC coordinate")
    return _p256_point(x, y)


@lru_cache(maxsize=1024)
def _p256_point(x: str, y: str) -> ec.EllipticCurvePublicKey:
    """The validated point (cached: holders and issuers reuse their keys; keys are immutable)."""
    coords = []
    for text in (x, y):
        raw = b64url_decode(text)
        # RFC 7518 §6.2.1.2: coordinates are the full-length octet string of the field size.
        if len(raw) != _P256_COORD_BYTES:
            raise JoseError("bad EC coordinate")
        coords.append(raw)
    try:
        # SEC 1 §2.3.4: decoding an uncompressed point checks that it lies on the curve.
        return ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + coords[0] + coords[1]
        )
    except ValueError as exc:
        raise JoseError("point is not on P-256") from exc


def jwk_thumbprint(key: ec.EllipticCurvePublicKey | Mapping[str, object]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a P-256 key or its JWK."""
    loaded = key if isinstance(key, ec.EllipticCurvePublicKey) else load_public_jwk(key)
    members = public_jwk(loaded)
    # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    canonical = json.dumps(
        {name: members[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":")
    )
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class Jwks:
    """Issuer verification keys by ``kid`` (a JWK Set, RFC 7517 §5); P-256 ES256 keys only."""

    keys: Mapping[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kid, key in self.keys.items():
            if not isinstance(kid, str) or not kid:
                raise JoseError("every key needs a non-empty kid")
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise JoseError("only P-256 public keys are allowed")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def get(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The key for ``kid``, or None."""
        return self.keys.get(kid)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Jwks:
        """Parse ``{"keys": [...]}``; a duplicate kid or a non-ES256-signing key is an error."""
        entries = data.get("keys") if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise JoseError("JWKS needs a keys array")
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise JoseError("JWKS entry is not an object")
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid or kid in keys:
                raise JoseError("JWKS entry needs a unique kid")
            if entry.get("use", "sig") != "sig" or entry.get("alg", ES256) != ES256:
                raise JoseError("JWKS entry is not an ES256 signing key")
            keys[kid] = load_public_jwk(entry)
        return cls(keys)

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        """``{"keys": [...]}`` with ``kid``, ``use: sig`` and ``alg: ES256`` on every key."""
        return {
            "keys": [
                {**public_jwk(key, kid=kid), "use": "sig", "alg": ES256}
                for kid, key in self.keys.items()
            ]
        }


@dataclass(frozen=True)
class CompactJws:
    """A parsed (not yet verified) JWS Compact Serialization (RFC 7515 §7.1)."""

    header: dict[str, JsonValue]
    payload: bytes
    signing_input: bytes
    signature: bytes


def parse_compact_jws(token: str, *, max_header_depth: int = 4) -> CompactJws:
    """Split and decode ``header.payload.signature`` strictly; the signature is not checked."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not token.isascii():
        raise JoseError("not a compact JWS")
    header = json_object(b64url_decode(parts[0]), max_depth=max_header_depth)
    payload = b64url_decode(parts[1])
    signature = b64url_decode(parts[2])
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return CompactJws(header, payload, signing_input, signature)


def json_segment(value: Mapping[str, JsonInput]) -> str:
    """The base64url of compact JSON ``value``: one segment of a compact JWS."""
    return b64url_encode(json_dumps(value).encode("utf-8"))


def sign_es256(
    header: Mapping[str, JsonInput],
    payload: Mapping[str, JsonInput],
    key: ec.EllipticCurvePrivateKey,
) -> str:
    """Compact ES256 JWS over compact JSON ``header`` and ``payload`` (RFC 7515 §5.1)."""
    if header.get("alg") != ES256:
        raise JoseError("header alg must be ES256")
    return sign_es256_segments(json_segment(header), json_segment(payload), key)


def sign_es256_segments(head: str, body: str, key: ec.EllipticCurvePrivateKey) -> str:
    """Compact ES256 JWS of already-encoded segments (``head`` must say ``"alg":"ES256"``).

    For issuers that encode a fixed header once per key instead of once per token.
    """
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise JoseError("ES256 needs a P-256 private key")
    signing_input = f"{head}.{body}"
    der = key.sign(signing_input.encode("ascii"), _ECDSA_SHA256)
    return f"{signing_input}.{b64url_encode(raw_p256_signature(der))}"


def raw_p256_signature(der: bytes) -> bytes:
    """RFC 7518 §3.4: the JWS form of a DER ECDSA P-256 signature, R || S in 32 bytes each.

    Reads ``SEQUENCE { INTEGER r, INTEGER s }`` directly: for P-256 every length fits one byte,
    and this runs once per issued token.
    """
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2 or der[2] != 0x02:
        raise JoseError("not a DER ECDSA signature")
    r_end = 4 + der[3]
    if r_end + 2 > len(der) or der[r_end] != 0x02 or r_end + 2 + der[r_end + 1] != len(der):
        raise JoseError("not a DER ECDSA signature")
    r, s = der[4:r_end].lstrip(b"\0"), der[r_end + 2 :].lstrip(b"\0")
    if len(r) > _P256_COORD_BYTES or len(s) > _P256_COORD_BYTES:
        raise JoseError("not a P-256 signature")
    return r.rjust(_P256_COORD_BYTES, b"\0") + s.rjust(_P256_COORD_BYTES, b"\0")


def verify_es256(jws: CompactJws, key: ec.EllipticCurvePublicKey) -> bool:
    """Whether ``jws`` carries a valid ES256 signature by ``key`` (the header is not consulted)."""
    if len(jws.signature) != 2 * _P256_COORD_BYTES:
        return False
    r = int.from_bytes(jws.signature[:_P256_COORD_BYTES], "big")
    s = int.from_bytes(jws.signature[_P256_COORD_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), jws.signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True
