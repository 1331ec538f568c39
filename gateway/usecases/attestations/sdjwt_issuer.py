"""Issue SD-JWT attestations (RFC 9901 §4) in the profile that ``protocol.sdjwt`` verifies.

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

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.jose import (
    JoseError,
    JsonInput,
    b64url_encode,
    json_dumps,
    json_segment,
    json_text,
    load_public_jwk,
    sign_es256_segments,
)
from attestgate.protocol.reasons import FieldViolation, invalid_argument
from attestgate.protocol.sdjwt_format import (
    REGISTERED_CLAIM_NAMES,
    SD_ALG,
    SD_JWT_TYP,
    Jti,
    disclosure_digest,
    encode_disclosure,
    join_sd_jwt,
    sd_digest,
)

__all__ = ["MAX_DECOYS", "MAX_JTI_CHARS", "SALT_BYTES", "IssuedSdJwt", "issue_sd_jwt"]

SALT_BYTES = 18
"""144-bit salts (RFC 9901 §9.3 recommends at least 128 bits). A multiple of three bytes, so
the salts (and the ``jti``) of one token are slices of one base64url string."""
_SALT_CHARS = SALT_BYTES // 3 * 4
_DECOY_SEED_BYTES = 16
MAX_DECOYS = 16
MAX_JTI_CHARS = 256
_RESERVED = frozenset(
    {"iss", "iat", "exp", "nbf", "jti", "vct", "vct#integrity", "cnf", "_sd", "_sd_alg", "..."}
)
"""Names a plain claim may not take (the payload's own members); ``status`` is allowed there,
as the Token Status List reference."""
_NOT_DISCLOSABLE = _RESERVED | REGISTERED_CLAIM_NAMES
"""Names a disclosure may not take: no registered JWT / SD-JWT VC claim under another meaning
(``protocol.sdjwt_format.REGISTERED_CLAIM_NAMES`` quotes the draft)."""


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

    def __init__(self, salts: int, decoys: int) -> None:
        split = SALT_BYTES * salts
        pool = secrets.token_bytes(split + _DECOY_SEED_BYTES * decoys)
        self._text = b64url_encode(pool[:split])
        self._next = 0
        # RFC 9901 §4.2.5: a decoy is the digest of a random value, like a real digest.
        self.decoy_digests = [
            sd_digest(pool[i : i + _DECOY_SEED_BYTES])
            for i in range(split, len(pool), _DECOY_SEED_BYTES)
        ]

    def salt(self) -> str:
        """The next unused salt (also used for the default ``jti``)."""
        start = self._next
        self._next = start + _SALT_CHARS
        return self._text[start : self._next]


def _check_names(disclosed: Mapping[str, JsonInput], plain: Mapping[str, JsonInput]) -> None:
    _check_name_sets(tuple(disclosed), tuple(plain))


@lru_cache(maxsize=256)
def _check_name_sets(disclosed: tuple[str, ...], plain: tuple[str, ...]) -> None:
    # Cached: the catalog and the predicates use a handful of claim-name sets.
    for name in (*disclosed, *plain):
        if not isinstance(name, str) or not name or name in _RESERVED:
            raise ValueError(f"claim name {name!r} is reserved or invalid")
    for name in disclosed:
        if name in _NOT_DISCLOSABLE:
            raise ValueError(f"claim name {name!r} is a registered claim: it cannot be disclosed")
    clash = set(disclosed) & set(plain)
    if clash:
        raise ValueError(f"claims both disclosed and plain: {sorted(clash)}")


def _holder_cnf(holder_jwk: Mapping[str, object]) -> str:
    """The JSON text of ``cnf``: the holder's public key with only its public members."""
    try:
        load_public_jwk(holder_jwk)  # validates: P-256, public only, on the curve
        return _cnf_json(str(holder_jwk["x"]), str(holder_jwk["y"]))
    except JoseError:
        raise invalid_argument(
            FieldViolation("holder_jwk", "must be a P-256 public JWK (kty EC, crv P-256, x, y)")
        ) from None


@lru_cache(maxsize=1024)
def _cnf_json(x: str, y: str) -> str:
    # Banks reuse their holder keys: the canonical public JWK is encoded once per key.
    return json_dumps({"jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y}})


@lru_cache(maxsize=64)
def _header_segment(kid: str) -> str:
    # The protected header depends on the key id only: encoded once per signing key.
    return json_segment({"alg": "ES256", "typ": SD_JWT_TYP, "kid": kid})


def _payload_json(
    *,
    issuer: str,
    iat: int,
    exp: int,
    jti: str,
    vct: str,
    vct_integrity: str | None,
    cnf: str,
    plain: Mapping[str, JsonInput],
    sd: list[str],
) -> bytes:
    """The claims set, byte for byte what ``json_dumps`` writes for the equivalent dict.

    Written directly because it is on the issuance hot path: the fixed members around the
    caller's ``plain`` claims need no general-purpose encoder. ``_check_names`` has ruled out
    duplicate names; digests are base64url, so they need no escaping.
    """
    try:
        members = ",".join([f"{json_text(k)}:{json_text(v)}" for k, v in plain.items()])
    except JoseError:
        raise ValueError("plain claim values must be JSON values") from None
    # RFC 9901 §4.2.4.1: sorted, so the order reveals nothing about the claims.
    digests = ",".join([f'"{digest}"' for digest in sorted(sd)])
    integrity = "" if vct_integrity is None else f',"vct#integrity":{json_text(vct_integrity)}'
    text = (
        f'{{"iss":{json_text(issuer)},"iat":{iat},"exp":{exp},"jti":{json_text(jti)},'
        f'"vct":{json_text(vct)}{integrity},"cnf":{cnf}{"," if members else ""}{members},'
        f'"_sd_alg":"{SD_ALG}","_sd":[{digests}]}}'
    )
    return text.encode("utf-8")


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
    vct_integrity: str | None = None,
    disclosed: Mapping[str, JsonInput],
    plain: Mapping[str, JsonInput],
    now: datetime,
    ttl: timedelta,
    decoys: int | None = None,
    jti: str | None = None,
) -> IssuedSdJwt:
    """Sign an SD-JWT for ``holder_jwk`` disclosing ``disclosed`` and stating ``plain`` in clear.

    ``vct_integrity`` (the type metadata's SRI hash) goes in clear as ``vct#integrity``.
    ``iat`` is ``now`` truncated to the second, ``exp`` is ``iat + ttl``; ``decoys`` is the
    number of decoy digests (default: random, 1 to 4); ``jti`` defaults to 144 random bits.
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
    random = _Randomness(len(disclosed) + 1, n_decoys)  # a salt per claim, and the jti
    encoded = _disclosures(disclosed, random)
    digests = [disclosure_digest(d) for d in encoded.values()]
    digests.extend(random.decoy_digests)
    token_id = Jti(jti if jti is not None else random.salt())
    if not 0 < len(token_id) <= MAX_JTI_CHARS:
        raise ValueError(f"jti must have 1 to {MAX_JTI_CHARS} characters")
    iat = int(now.timestamp())
    exp = iat + int(ttl.total_seconds())
    body = _payload_json(
        issuer=issuer,
        iat=iat,
        exp=exp,
        jti=token_id,
        vct=vct,
        vct_integrity=vct_integrity,
        cnf=cnf,
        plain=plain,
        sd=digests,
    )
    try:
        jwt = sign_es256_segments(_header_segment(kid), b64url_encode(body), signing_key)
    except JoseError:  # pragma: no cover - the key type is checked by the key ring
        raise ValueError("signing key must be a P-256 private key") from None
    return IssuedSdJwt(
        token=join_sd_jwt(jwt, encoded.values()),
        jti=token_id,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        disclosures=MappingProxyType(encoded),
    )
