"""SD-JWT attestations (RFC 9901): the one verifier, the holder's presentation, small helpers.

The gateway (on redemption) and the SDK (offline, as ``attestgate.sdk.sdjwt``) both call
``verify_sd_jwt``, so an attestation means the same thing everywhere. Our profile of RFC 9901 is
deliberately narrow:

* the issuer JWT is ES256 with header ``typ`` ``dc+sd-jwt`` and a known ``kid``;
* ``_sd_alg`` is ``sha-256``; selectively disclosable claims live only in the top-level ``_sd``
  array (no nested ``_sd``, no array-element ``...`` disclosures), which our issuer never makes;
* the key-binding policy is the caller's decision (RFC 9901 §9.5): ``KeyBindingPolicy`` says
  whether a KB-JWT must be present, and a KB-JWT that the policy does not ask for is rejected
  too, rather than silently ignored, so that a caller never believes a binding was checked.

Every failure raises ``SdJwtError``: its text is always "attestation invalid" (no oracle for the
presenter), the precise ``VerifyFailure`` is on ``.code`` for logs and the audit log. The
gateway reports ``VerifyFailure.EXPIRED`` as ``ATTESTATION_EXPIRED`` by reading ``.code``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.jose import (
    JoseError,
    JsonInput,
    JsonValue,
    Jwks,
    json_object,
    load_public_jwk,
    parse_compact_jws,
    public_jwk,
    sign_es256,
    verify_es256,
)
from attestgate.protocol.sdjwt_format import (
    KB_JWT_TYP,
    MAX_DEPTH,
    MAX_DIGESTS,
    MAX_ID_CHARS,
    MAX_NUMERIC_DATE,
    MAX_PRESENTATION_CHARS,
    REDEEM_DOMAIN,
    SD_ALG,
    SD_JWT_TYP,
    Jti,
    SdJwtError,
    VerifyFailure,
    decode_disclosure,
    disclosure_digest,
    has_sd_keys,
    join_sd_jwt,
    sd_digest,
    sd_hash,
    split_presentation,
)

__all__ = [
    "KeyBindingPolicy",
    "VerifiedSdJwt",
    "create_presentation",
    "redemption_nonce",
    "unverified_jti",
    "verify_sd_jwt",
]


@dataclass(frozen=True)
class KeyBindingPolicy:
    """What the caller demands of the key-binding JWT (RFC 9901 §4.3, §7.3, §9.5).

    Decided by the caller before looking at the token, never inferred from it. With
    ``required`` set, ``audience`` and ``nonce`` are mandatory (a KB-JWT without them can be
    replayed); ``iat`` must lie within ``[now - max_age, now + future_skew]``.
    """

    required: bool
    audience: str | tuple[str, ...] | None = None
    """The ``aud`` to accept, or a tuple of them (a verifier known under several names)."""
    nonce: str | None = None
    max_age: timedelta = timedelta(minutes=5)
    future_skew: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if self.required and not (self.audience and self.nonce):
            raise ValueError("a required key binding needs an audience and a nonce")
        if self.max_age < timedelta(0) or self.future_skew < timedelta(0):
            raise ValueError("max_age and future_skew must not be negative")

    @classmethod
    def none(cls) -> KeyBindingPolicy:
        """No KB-JWT expected (offline checks of an issued token); one present is refused."""
        return cls(required=False)

    @classmethod
    def require(
        cls,
        *,
        audience: str | tuple[str, ...],
        nonce: str,
        max_age: timedelta = timedelta(minutes=5),
        future_skew: timedelta = timedelta(seconds=30),
    ) -> KeyBindingPolicy:
        """A KB-JWT for ``audience`` carrying ``nonce`` must be present and fresh."""
        return cls(True, audience, nonce, max_age, future_skew)


@dataclass(frozen=True)
class VerifiedSdJwt:
    """A presentation that passed every check."""

    header: Mapping[str, JsonValue]
    payload: Mapping[str, JsonValue]
    """The plain (always visible) claims, without ``_sd`` and ``_sd_alg``."""
    claims: Mapping[str, JsonValue]
    """The disclosed claims, name -> value."""
    jti: Jti
    issuer: str
    issued_at: datetime
    expires_at: datetime
    holder_jwk: Mapping[str, str] | None
    kb_payload: Mapping[str, JsonValue] | None = None


def _numeric_date(claims: Mapping[str, JsonValue], name: str, failure: VerifyFailure) -> int:
    value = claims.get(name)
    # RFC 7519 §2 NumericDate; bool is an int subclass in Python and is not a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SdJwtError(failure)
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise SdJwtError(failure)
    return int(value)


def _verify_issuer_jwt(jwt: str, keys: Jwks) -> tuple[dict[str, JsonValue], dict[str, JsonValue]]:
    """Header, allow-list, kid and signature first; the payload is parsed only after that."""
    try:
        jws = parse_compact_jws(jwt)
    except JoseError:
        raise SdJwtError(VerifyFailure.MALFORMED) from None
    header = jws.header
    if header.get("alg") != "ES256":  # RFC 8725 §3.1: an explicit allow-list, never "none".
        raise SdJwtError(VerifyFailure.ALG_NOT_ALLOWED)
    if header.get("typ") != SD_JWT_TYP:  # RFC 8725 §3.11 explicit typing.
        raise SdJwtError(VerifyFailure.BAD_TYP)
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extensions.
        raise SdJwtError(VerifyFailure.BAD_HEADER)
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise SdJwtError(VerifyFailure.UNKNOWN_KID)
    if not verify_es256(jws, key):
        raise SdJwtError(VerifyFailure.BAD_SIGNATURE)
    try:
        payload = json_object(jws.payload, max_depth=MAX_DEPTH)
    except JoseError:
        raise SdJwtError(VerifyFailure.MALFORMED) from None
    return header, payload


def _check_claims(
    payload: Mapping[str, JsonValue],
    *,
    issuers: tuple[str, ...],
    now: float,
    leeway: float,
    vct_prefix: str | tuple[str, ...] | None,
) -> tuple[Jti, int, int]:
    """iss, exp/nbf/iat with leeway (RFC 7519 §4.1), jti, vct and ``_sd_alg``."""
    if payload.get("iss") not in issuers:
        raise SdJwtError(VerifyFailure.WRONG_ISSUER)
    iat = _numeric_date(payload, "iat", VerifyFailure.BAD_CLAIMS)
    exp = _numeric_date(payload, "exp", VerifyFailure.BAD_CLAIMS)
    if now > exp + leeway:
        raise SdJwtError(VerifyFailure.EXPIRED)
    if "nbf" in payload and now + leeway < _numeric_date(payload, "nbf", VerifyFailure.BAD_CLAIMS):
        raise SdJwtError(VerifyFailure.NOT_YET_VALID)
    if iat > now + leeway:
        raise SdJwtError(VerifyFailure.NOT_YET_VALID)
    jti, vct = payload.get("jti"), payload.get("vct")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_ID_CHARS or not isinstance(vct, str):
        raise SdJwtError(VerifyFailure.BAD_CLAIMS)
    if vct_prefix is not None and not vct.startswith(vct_prefix):
        raise SdJwtError(VerifyFailure.VCT_MISMATCH)
    if payload.get("_sd_alg") != SD_ALG:  # RFC 9901 §4.1.1
        raise SdJwtError(VerifyFailure.BAD_SD_ALG)
    return Jti(jti), iat, exp


def _holder_key(payload: Mapping[str, JsonValue]) -> ec.EllipticCurvePublicKey | None:
    """The key in ``cnf.jwk`` (RFC 7800 §3.2), or None without ``cnf``."""
    if "cnf" not in payload:
        return None
    cnf = payload["cnf"]
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise SdJwtError(VerifyFailure.BAD_CNF)
    try:
        return load_public_jwk(jwk)
    except JoseError:
        raise SdJwtError(VerifyFailure.BAD_CNF) from None


def _resolve_disclosures(
    payload: Mapping[str, JsonValue], disclosures: list[str]
) -> dict[str, JsonValue]:
    """RFC 9901 §7.1 steps 3-5 for our flat profile: every disclosure referenced exactly once."""
    digests = payload.get("_sd", [])
    if not isinstance(digests, list) or len(digests) > MAX_DIGESTS:
        raise SdJwtError(VerifyFailure.MALFORMED)
    if not all(isinstance(d, str) for d in digests):
        raise SdJwtError(VerifyFailure.MALFORMED)
    referenced = set(digests)
    if len(referenced) != len(digests):
        raise SdJwtError(VerifyFailure.DUPLICATE_DIGEST)
    if has_sd_keys({k: v for k, v in payload.items() if k != "_sd"}):
        raise SdJwtError(VerifyFailure.MALFORMED)  # nested disclosures are outside our profile
    claims: dict[str, JsonValue] = {}
    seen: set[str] = set()
    for encoded in disclosures:
        digest = disclosure_digest(encoded)
        if digest in seen:
            raise SdJwtError(VerifyFailure.DUPLICATE_DISCLOSURE)
        seen.add(digest)
        if digest not in referenced:
            raise SdJwtError(VerifyFailure.UNREFERENCED_DISCLOSURE)
        disclosure = decode_disclosure(encoded)
        if disclosure.name in payload or disclosure.name in claims:
            raise SdJwtError(VerifyFailure.CLAIM_COLLISION)
        claims[disclosure.name] = disclosure.value
    return claims


def _kb_claims(kb: str, holder_key: ec.EllipticCurvePublicKey) -> dict[str, JsonValue]:
    """Parse the KB-JWT, check its header and its signature by the holder key, then its claims."""
    try:
        jws = parse_compact_jws(kb)
    except JoseError:
        raise SdJwtError(VerifyFailure.KB_MALFORMED) from None
    if jws.header.get("alg") != "ES256":
        raise SdJwtError(VerifyFailure.KB_ALG_NOT_ALLOWED)
    if jws.header.get("typ") != KB_JWT_TYP or "crit" in jws.header:
        raise SdJwtError(VerifyFailure.KB_BAD_TYP)
    if not verify_es256(jws, holder_key):
        raise SdJwtError(VerifyFailure.KB_BAD_SIGNATURE)
    try:
        return json_object(jws.payload, max_depth=2)
    except JoseError:
        raise SdJwtError(VerifyFailure.KB_MALFORMED) from None


def _verify_key_binding(
    kb: str,
    *,
    prefix: str,
    holder_key: ec.EllipticCurvePublicKey | None,
    policy: KeyBindingPolicy,
    now: float,
) -> dict[str, JsonValue] | None:
    """RFC 9901 §7.3: the KB-JWT, as the caller's policy demands."""
    if not policy.required:
        if kb:
            raise SdJwtError(VerifyFailure.KB_UNEXPECTED)
        return None
    if not kb:
        raise SdJwtError(VerifyFailure.KB_MISSING)
    if holder_key is None:
        raise SdJwtError(VerifyFailure.BAD_CNF)
    claims = _kb_claims(kb, holder_key)
    iat = _numeric_date(claims, "iat", VerifyFailure.KB_MALFORMED)
    if iat < now - policy.max_age.total_seconds():
        raise SdJwtError(VerifyFailure.KB_STALE)
    if iat > now + policy.future_skew.total_seconds():
        raise SdJwtError(VerifyFailure.KB_IAT_IN_FUTURE)
    if claims.get("nonce") != policy.nonce:
        raise SdJwtError(VerifyFailure.NONCE_MISMATCH)
    audiences = (policy.audience,) if isinstance(policy.audience, str) else policy.audience or ()
    if claims.get("aud") not in audiences:  # RFC 9901 §4.3: a single audience string.
        raise SdJwtError(VerifyFailure.AUD_MISMATCH)
    if claims.get("sd_hash") != sd_hash(prefix):
        raise SdJwtError(VerifyFailure.SD_HASH_MISMATCH)
    return claims


def _timestamp(now: datetime) -> float:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.timestamp()


def verify_sd_jwt(
    presentation: str,
    *,
    jwks: Jwks | Mapping[str, ec.EllipticCurvePublicKey],
    issuer: str | tuple[str, ...],
    now: datetime,
    key_binding: KeyBindingPolicy,
    leeway: timedelta = timedelta(seconds=30),
    expected_vct_prefix: str | tuple[str, ...] | None = None,
) -> VerifiedSdJwt:
    """Verify a compact SD-JWT (issuance or presentation) against the caller's policy.

    ``issuer`` is the ``iss`` to accept, or a tuple of them (an issuer renamed keeps accepting
    its former name); ``expected_vct_prefix`` likewise one prefix or a tuple of them.

    Raises ``SdJwtError`` for every refusal (see the module docstring), ``ValueError`` only
    for caller mistakes (a naive ``now``, a malformed key set).
    """
    now_ts, leeway_s = _timestamp(now), leeway.total_seconds()
    keys = jwks if isinstance(jwks, Jwks) else Jwks(jwks)
    jwt, disclosures, kb = split_presentation(presentation)
    header, payload = _verify_issuer_jwt(jwt, keys)
    issuers = (issuer,) if isinstance(issuer, str) else issuer
    jti, iat, exp = _check_claims(
        payload, issuers=issuers, now=now_ts, leeway=leeway_s, vct_prefix=expected_vct_prefix
    )
    holder_key = _holder_key(payload)
    claims = _resolve_disclosures(payload, disclosures)
    kb_payload = _verify_key_binding(
        kb,
        prefix=presentation[: len(presentation) - len(kb)],
        holder_key=holder_key,
        policy=key_binding,
        now=now_ts,
    )
    plain = {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")}
    return VerifiedSdJwt(
        header=MappingProxyType(header),
        payload=MappingProxyType(plain),
        claims=MappingProxyType(claims),
        jti=jti,
        issuer=str(payload["iss"]),
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        holder_jwk=None if holder_key is None else MappingProxyType(public_jwk(holder_key)),
        kb_payload=None if kb_payload is None else MappingProxyType(kb_payload),
    )


def create_presentation(
    token: str,
    *,
    holder_key: ec.EllipticCurvePrivateKey,
    audience: str,
    nonce: str,
    now: datetime,
    disclose: Collection[str] | None = None,
) -> str:
    """Holder side (RFC 9901 §4.3): keep the disclosures named in ``disclose`` (None: all) and
    append a KB-JWT (``typ`` ``kb+jwt``; ``iat``, ``aud``, ``nonce``, ``sd_hash``).

    ``token`` must be an issuance without a KB-JWT. Asking for a claim the token cannot
    disclose is a ``ValueError``; a malformed token raises ``SdJwtError``.
    """
    jwt, disclosures, kb = split_presentation(token)
    if kb:
        raise ValueError("token already carries a key-binding JWT")
    wanted = None if disclose is None else set(disclose)
    decoded = [decode_disclosure(encoded) for encoded in disclosures]
    missing = (wanted or set()) - {d.name for d in decoded}
    if missing:
        raise ValueError(f"no disclosure for claims: {sorted(missing)}")
    kept = [d.encoded for d in decoded if wanted is None or d.name in wanted]
    prefix = join_sd_jwt(jwt, kept)
    kb_claims: dict[str, JsonInput] = {
        "iat": int(_timestamp(now)),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": sd_hash(prefix),
    }
    return prefix + sign_es256({"alg": "ES256", "typ": KB_JWT_TYP}, kb_claims, holder_key)


def unverified_jti(token: str) -> Jti:
    """The ``jti`` of an SD-JWT **without verifying anything**: only for look-ups (for
    example to compute ``redemption_nonce`` before verification); raises ``SdJwtError``."""
    if not isinstance(token, str) or len(token) > MAX_PRESENTATION_CHARS:
        raise SdJwtError(VerifyFailure.MALFORMED)
    try:
        claims = json_object(
            parse_compact_jws(token.split("~", maxsplit=1)[0]).payload, max_depth=MAX_DEPTH
        )
    except JoseError:
        raise SdJwtError(VerifyFailure.MALFORMED) from None
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_ID_CHARS:
        raise SdJwtError(VerifyFailure.MALFORMED)
    return Jti(jti)


def redemption_nonce(jti: str, transaction_ref: str) -> str:
    """The KB-JWT nonce that binds a presentation to one redemption of ``jti``.

    ``base64url(SHA-256("attestgate-redeem" NUL jti NUL transaction_ref))``: the bank computes
    it when it presents, the gateway recomputes it from the request, so a KB-JWT made for one
    transaction cannot be replayed for another. The domain prefix keeps it apart from any
    other hash; NUL separators keep the encoding unambiguous, so NUL is refused inside either.
    """
    if "\x00" in jti or "\x00" in transaction_ref:
        raise ValueError("jti and transaction_ref must not contain NUL")
    data = REDEEM_DOMAIN + jti.encode("utf-8") + b"\x00" + transaction_ref.encode("utf-8")
    return sd_digest(data)
