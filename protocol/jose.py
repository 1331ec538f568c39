"""JOSE: P-256 JWKs and JWK Sets, ES256 compact JWS (RFC 7515, 7517, 7518, 7638).

Nothing here knows about selective disclosure (``attestgate.protocol`` SD-JWT code builds on it)
or about bearer-token claims (``attestgate.gateway.common.auth`` parses bearer tokens with
``parse_compact_jws``). Parsing is strict (``attestgate.protocol.encoding``); failures raise
``JoseError``, the kernel's one format error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attestgate.protocol.encoding import (
    EncodingError,
    JsonInput,
    JsonValue,
    b64url_decode,
    b64url_encode,
    canonical_json,
    json_dumps,
    json_loads,
    json_object,
    json_text,
)

__all__ = [  # the encodings are re-exported: JOSE users need them with the JWS helpers
    "EDDSA",
    "ES256",
    "CompactJws",
    "JoseError",
    "JsonInput",
    "JsonValue",
    "Jwks",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "json_dumps",
    "json_loads",
    "json_object",
    "json_segment",
    "json_text",
    "jwk_thumbprint",
    "load_ed25519_jwk",
    "load_public_jwk",
    "parse_compact_jws",
    "public_jwk",
    "raw_p256_signature",
    "sign_es256",
    "sign_es256_segments",
    "sign_jws",
    "verify_eddsa",
    "verify_es256",
]

JoseError = EncodingError
"""A JOSE structure (base64url, JSON, JWK, JWS) is malformed or unacceptable: the kernel's
format error under its JOSE name (one class, so ``except JoseError`` also catches a bad segment)."""

ES256 = "ES256"
EDDSA = "EdDSA"
_P256_COORD_BYTES = 32
_ED25519_SIGNATURE_BYTES = 64
# RFC 7518 §3.4: ES256 is ECDSA P-256 with SHA-256, signature R || S (32 bytes each).
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def public_jwk(
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey, *, kid: str | None = None
) -> dict[str, str]:
    """The public JWK of a P-256 key (RFC 7518 §6.2.1) or an Ed25519 key (RFC 8037 §2), with
    ``kid`` if given (the gateway's dev issuer signs EdDSA; everything else is P-256)."""
    jwk: dict[str, str]
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(_P256_COORD_BYTES, "big")),
            "y": b64url_encode(numbers.y.to_bytes(_P256_COORD_BYTES, "big")),
        }
    else:
        raise JoseError("only P-256 and Ed25519 keys are supported")
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


def jwk_thumbprint(
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | Mapping[str, object],
) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a P-256 or Ed25519 key or its public JWK."""
    if isinstance(key, Mapping):
        key = load_ed25519_jwk(key) if key.get("kty") == "OKP" else load_public_jwk(key)
    members = public_jwk(key)
    # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    required = ("crv", "kty", "x", "y") if members["kty"] == "EC" else ("crv", "kty", "x")
    canonical = canonical_json({name: members[name] for name in required})
    return b64url_encode(hashlib.sha256(canonical).digest())


def load_ed25519_jwk(jwk: Mapping[str, object]) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from its OKP JWK (RFC 8037 §2); refuses private members."""
    x = jwk.get("x")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(x, str):
        raise JoseError("not an Ed25519 OKP JWK")
    if "d" in jwk:
        raise JoseError("JWK carries a private key")
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    except ValueError as exc:  # JoseError is a ValueError too
        raise JoseError("bad Ed25519 public key") from exc


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
    try:
        return b64url_encode(json_dumps(value).encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 JSON can carry it
        raise JoseError("value is not valid Unicode") from exc


def sign_jws(
    header: Mapping[str, JsonInput],
    payload: Mapping[str, JsonInput],
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> str:
    """Compact JWS over compact JSON ``header`` and ``payload``: ES256 with a P-256 key, EdDSA
    (RFC 8037 §3.1) with an Ed25519 key; ``header["alg"]`` must name that algorithm."""
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        return sign_es256(header, payload, key)
    if header.get("alg") != EDDSA:
        raise JoseError("header alg must be EdDSA")
    signing_input = f"{json_segment(header)}.{json_segment(payload)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


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


def verify_eddsa(jws: CompactJws, key: ed25519.Ed25519PublicKey) -> bool:
    """Whether ``jws`` carries a valid EdDSA (Ed25519, RFC 8037 §3.1) signature by ``key``
    (the header is not consulted)."""
    if len(jws.signature) != _ED25519_SIGNATURE_BYTES:
        return False
    try:
        key.verify(jws.signature, jws.signing_input)
    except InvalidSignature:
        return False
    return True
