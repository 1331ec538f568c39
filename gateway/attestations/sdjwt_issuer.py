"""Issue SD-JWT attestations (RFC 9901 §4) in the profile that ``sdk.sdjwt`` verifies.

The issuer JWT has header ``{"alg":"ES256","typ":"dc+sd-jwt","kid":...}`` and carries in clear
only ``iss``, ``iat``, ``exp``, ``jti``, ``vct``, ``cnf.jwk`` (the holder's key), ``_sd_alg`` and
the caller's ``plain`` claims (such as the consent hash or the name of an FX rate). Every claim in
``disclosed`` becomes a salted disclosure whose digest sits in the sorted top-level ``_sd``
array, together with decoy digests that hide how many claims there are.

Claim names and values come from the catalog and the predicate code, so a bad one is a
programming error (``ValueError``); the holder key comes from the bank's request, so a bad one is
an ``INVALID_ARGUMENT`` ``DomainError`` on the ``holder_jwk`` field.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec

from sdk._internal.jose import (
    JoseError,
    JsonInput,
    b64url_encode,
    load_public_jwk,
    sign_es256,
)
from sdk.reasons import FieldViolation, invalid_argument
from sdk.sdjwt import SD_ALG, SD_JWT_TYP, Jti, disclosure_digest, encode_disclosure

__all__ = ["MAX_DECOYS", "MAX_JTI_CHARS", "SALT_BYTES", "IssuedSdJwt", "issue_sd_jwt"]

SALT_BYTES = 16
"""128-bit salts, the minimum RFC 9901 §9.3 recommends."""
MAX_DECOYS = 16
MAX_JTI_CHARS = 256
_RESERVED = frozenset({"iss", "iat", "exp", "nbf", "jti", "vct", "cnf", "_sd", "_sd_alg", "..."})


@dataclass(frozen=True)
class IssuedSdJwt:
    """A freshly issued attestation: the compact token ``<jwt>~<d1>~...~`` and its facts."""

    token: str
    jti: Jti
    issued_at: datetime
    expires_at: datetime
    disclosures: Mapping[str, str]
    """Claim name -> its encoded disclosure (each also present in ``token``)."""


class _Randomness:
    """Every random value of one token from one CSPRNG read (one system call, not one per salt)."""

    def __init__(self, count: int) -> None:
        self._pool = secrets.token_bytes(SALT_BYTES * count)
        self._next = 0

    def take(self) -> bytes:
        start = self._next
        self._next += SALT_BYTES
        return self._pool[start : self._next]

    def salt(self) -> str:
        return b64url_encode(self.take())

    def decoy_digest(self) -> str:
        # RFC 9901 §4.2.5: a decoy is the digest of a random value, like a real digest.
        return b64url_encode(hashlib.sha256(self.take()).digest())


def _check_names(disclosed: Mapping[str, JsonInput], plain: Mapping[str, JsonInput]) -> None:
    for name in (*disclosed, *plain):
        if not isinstance(name, str) or not name or name in _RESERVED:
            raise ValueError(f"claim name {name!r} is reserved or invalid")
    clash = set(disclosed) & set(plain)
    if clash:
        raise ValueError(f"claims both disclosed and plain: {sorted(clash)}")


def _holder_cnf(holder_jwk: Mapping[str, object]) -> Mapping[str, str]:
    """The holder's public key, re-encoded so that only public members reach the token."""
    try:
        load_public_jwk(holder_jwk)  # validates: P-256, public only, on the curve
        return _public_members(str(holder_jwk["x"]), str(holder_jwk["y"]))
    except JoseError:
        raise invalid_argument(
            FieldViolation("holder_jwk", "must be a P-256 public JWK (kty EC, crv P-256, x, y)")
        ) from None


@lru_cache(maxsize=1024)
def _public_members(x: str, y: str) -> Mapping[str, str]:
    # Banks reuse their holder keys: the canonical public JWK is computed once per key.
    return MappingProxyType({"kty": "EC", "crv": "P-256", "x": x, "y": y})


def _disclosures(disclosed: Mapping[str, JsonInput], random: _Randomness) -> dict[str, str]:
    try:
        return {
            name: encode_disclosure(random.salt(), name, value) for name, value in disclosed.items()
        }
    except JoseError:
        raise ValueError("disclosed claim values must be JSON values") from None


def issue_sd_jwt(
    *,
    signing_key: ec.EllipticCurvePrivateKey,
    kid: str,
    issuer: str,
    vct: str,
    holder_jwk: Mapping[str, object],
    disclosed: Mapping[str, JsonInput],
    plain: Mapping[str, JsonInput],
    now: datetime,
    ttl: timedelta,
    decoys: int | None = None,
    jti: str | None = None,
) -> IssuedSdJwt:
    """Sign an SD-JWT for ``holder_jwk`` disclosing ``disclosed`` and stating ``plain`` in clear.

    ``iat`` is ``now`` truncated to the second, ``exp`` is ``iat + ttl``; ``decoys`` is the
    number of decoy digests (default: random, 1 to 4); ``jti`` defaults to 128 random bits.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if ttl.total_seconds() < 1:
        raise ValueError("ttl must be at least one second")
    n_decoys = 1 + secrets.randbelow(4) if decoys is None else decoys
    if not 0 <= n_decoys <= MAX_DECOYS:
        raise ValueError(f"decoys must be between 0 and {MAX_DECOYS}")
    _check_names(disclosed, plain)
    cnf = _holder_cnf(holder_jwk)
    random = _Randomness(len(disclosed) + n_decoys + 1)
    encoded = _disclosures(disclosed, random)
    digests = [disclosure_digest(d) for d in encoded.values()]
    digests.extend(random.decoy_digest() for _ in range(n_decoys))
    token_id = Jti(jti if jti is not None else b64url_encode(random.take()))
    if not 0 < len(token_id) <= MAX_JTI_CHARS:
        raise ValueError(f"jti must have 1 to {MAX_JTI_CHARS} characters")
    iat = int(now.timestamp())
    exp = iat + int(ttl.total_seconds())
    payload: dict[str, JsonInput] = {
        "iss": issuer,
        "iat": iat,
        "exp": exp,
        "jti": token_id,
        "vct": vct,
        "cnf": {"jwk": dict(cnf)},
        **plain,
        "_sd_alg": SD_ALG,
        # RFC 9901 §4.2.4.1: sorted, so the order reveals nothing about the claims.
        "_sd": sorted(digests),
    }
    header: dict[str, JsonInput] = {"alg": "ES256", "typ": SD_JWT_TYP, "kid": kid}
    try:
        jwt = sign_es256(header, payload, signing_key)
    except JoseError:
        raise ValueError("plain claim values must be JSON values") from None
    return IssuedSdJwt(
        token="~".join([jwt, *encoded.values()]) + "~",
        jti=token_id,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        disclosures=MappingProxyType(encoded),
    )
