"""Bearer-token authentication (DESIGN.md "Roles"; RFC 7519, RFC 8725 JWT best practices).

``TokenVerifier.verify`` accepts a JWT only if every check passes, in this order:

1. a compact JWS by the protocol kernel's one rule for every token (``parse_compact_jws``):
   three strict base64url segments (unpadded, canonical), a strict JSON object header and payload
   (UTF-8, no duplicate member names, no NaN, bounded nesting), at most ``MAX_TOKEN_BYTES``
   (``TOKEN_MALFORMED``);
2. ``alg`` is ES256 or EdDSA; ``none``, HS* and RS* are refused before any key is touched, which
   closes the RS/HS key-confusion attack (RFC 8725 §2.1, §3.1) (``TOKEN_ALGORITHM_NOT_ALLOWED``);
3. ``iss`` names a configured issuer (``TOKEN_WRONG_ISSUER``) and ``kid`` one of its keys, of the
   key type the algorithm needs (``TOKEN_UNKNOWN_KEY``);
4. the signature verifies, checked by the kernel over the bytes it parsed (``verify_es256``,
   ``verify_eddsa``) (``TOKEN_SIGNATURE_INVALID``);
5. ``exp`` (required), ``nbf`` and ``iat`` with leeway against the injected clock
   (``TOKEN_EXPIRED``; ``TOKEN_NOT_YET_VALID`` when ``nbf`` or ``iat`` lies in the future),
   ``aud`` contains the audience (``TOKEN_WRONG_AUDIENCE``), ``sub`` is a non-empty string of
   valid Unicode (no lone surrogates) and ``role`` a known role (``TOKEN_CLAIMS_INVALID``).

Only the protocol kernel reads and writes JOSE here: it parses and verifies every token, loads
the issuers' JWKs and signs dev tokens. Claims are checked here against the injected clock
(STYLE.md).
Verified tokens are cached (bounded LRU keyed by SHA-256 of the token) until their ``exp``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NewType

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keyfiles import KeyFileError, refuse_writable_by_others
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.roles import Role
from attestgate.gateway.ops.config import ConfigError, TrustedIssuer
from attestgate.gateway.usecases.trail import ERASED_OWNER, is_erased_owner
from attestgate.protocol.jose import (
    CompactJws,
    JoseError,
    JsonValue,
    b64url_encode,
    json_object,
    load_ed25519_jwk,
    load_public_jwk,
    parse_compact_jws,
    sign_jws,
    verify_eddsa,
    verify_es256,
)
from attestgate.protocol.reasons import DomainError, Reason

SubjectId = NewType("SubjectId", str)

ALLOWED_ALGORITHMS = frozenset({"ES256", "EdDSA"})
# The key type each allowed algorithm needs (RFC 7518 §3.4, RFC 8037 §3.1).
_ALG_KEY = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
# RFC 8725 §3.11 explicit typing: refuse other JWT kinds (SD-JWTs, KB-JWTs) as bearer tokens.
_ACCEPTED_TYP = frozenset({"jwt", "at+jwt", "application/at+jwt"})
MAX_TOKEN_BYTES = 8192
_MAX_HEADER_DEPTH = 4
_MAX_CLAIMS_DEPTH = 16


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified identity behind a bearer token."""

    subject: SubjectId
    role: Role
    issuer: str
    expires_at: datetime
    cnf_x5t: str | None = None  # RFC 8705 §3.1 certificate thumbprint the token is bound to


def _parse(token: str) -> tuple[CompactJws, dict[str, JsonValue]]:
    """The strictly parsed JWS and its claims (the kernel's rule for every token)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise DomainError(Reason.TOKEN_MALFORMED, "token is not a compact JWS")
    try:
        jws = parse_compact_jws(token, max_header_depth=_MAX_HEADER_DEPTH)
        claims = json_object(jws.payload, max_depth=_MAX_CLAIMS_DEPTH)
    except JoseError:
        raise DomainError(
            Reason.TOKEN_MALFORMED,
            "token is not a well-formed JWT: each segment must be unpadded base64url and the "
            "header and payload JSON objects without duplicate members",
        ) from None
    return jws, claims


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise DomainError(Reason.TOKEN_CLAIMS_INVALID, f"token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(Reason.TOKEN_CLAIMS_INVALID, f"token '{name}' is not a NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise DomainError(Reason.TOKEN_CLAIMS_INVALID, f"token '{name}' is out of range") from None


@dataclass(frozen=True)
class _IssuerKey:
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    alg: str  # the one algorithm this key may verify


def _load_jwks(issuer: TrustedIssuer) -> dict[str, _IssuerKey]:
    if issuer.jwks is not None:
        document: Any = issuer.jwks
    else:
        assert issuer.jwks_file is not None
        document = _read_jwks_file(issuer.jwks_file)
    keys: dict[str, _IssuerKey] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        kind = (entry.get("kty"), entry.get("crv")) if isinstance(entry, dict) else None
        alg = next((a for a, k in _ALG_KEY.items() if k == kind), None)
        if not isinstance(kid, str) or alg is None:
            continue  # keys we could never accept (RSA, other curves, no kid) are ignored
        try:
            key = load_ed25519_jwk(entry) if alg == "EdDSA" else load_public_jwk(entry)
        except JoseError:
            raise ConfigError(f"issuer {issuer.issuer!r}: key {kid!r} is not a valid JWK") from None
        keys[kid] = _IssuerKey(key, alg)
    return keys


def _read_jwks_file(path: Path) -> Any:
    try:
        refuse_writable_by_others(path, "JWKS file")  # its keys sign tokens we trust
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"JWKS file {path} does not exist") from None
    except ValueError:
        raise ConfigError(f"JWKS file {path} is not valid JSON") from None


class TokenVerifier:
    """Verifies bearer JWTs from the trusted issuers; thread-safe."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        audience: str,
        leeway: timedelta,
        clock: Clock,
        cache_size: int = 4096,
    ) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._keys = {i.issuer: _load_jwks(i) for i in issuers}
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        """The principal of a valid ``token``; ``DomainError`` with a TOKEN_* reason otherwise."""
        if not token:
            raise DomainError(Reason.TOKEN_MISSING, "no bearer token")
        if len(token) > MAX_TOKEN_BYTES:
            raise DomainError(Reason.TOKEN_MALFORMED, "token is too long")
        now = self._clock.now()
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None and now < cached.expires_at:
                self._cache.move_to_end(digest)
                return cached
        principal = self._verify_uncached(token, now)
        with self._lock:
            self._cache[digest] = principal
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal

    def _verify_uncached(self, token: str, now: datetime) -> Principal:
        jws, claims = _parse(token)
        header = jws.header
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise DomainError(
                Reason.TOKEN_ALGORITHM_NOT_ALLOWED, "token algorithm must be ES256 or EdDSA"
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
            raise DomainError(Reason.TOKEN_MALFORMED, "token 'typ' is not a bearer JWT type")
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise DomainError(Reason.TOKEN_WRONG_ISSUER, "token issuer is not trusted")
        key = self._key_for(issuer, header.get("kid"), str(alg))
        self._check_signature(jws, key)
        return self._check_claims(claims, self._issuers[issuer], now)

    def _key_for(self, issuer: str, kid: object, alg: str) -> _IssuerKey:
        key = self._keys[issuer].get(kid) if isinstance(kid, str) else None
        if key is None:
            raise DomainError(Reason.TOKEN_UNKNOWN_KEY, "token 'kid' is not a key of its issuer")
        if key.alg != alg:
            # An EdDSA header naming an EC key (or the reverse) is algorithm confusion.
            raise DomainError(Reason.TOKEN_UNKNOWN_KEY, "token 'kid' names a key of another type")
        return key

    def _check_signature(self, jws: CompactJws, key: _IssuerKey) -> None:
        # The algorithm is the key's (``_key_for`` matched it to the header), never the token's.
        if isinstance(key.key, ed25519.Ed25519PublicKey):
            valid = key.alg == "EdDSA" and verify_eddsa(jws, key.key)
        else:
            valid = key.alg == "ES256" and verify_es256(jws, key.key)
        if not valid:
            raise DomainError(Reason.TOKEN_SIGNATURE_INVALID, "token signature is invalid")

    def _check_claims(
        self, claims: Mapping[str, Any], issuer: TrustedIssuer, now: datetime
    ) -> Principal:
        expires = _numeric_date(claims, "exp", required=True)
        assert expires is not None
        if now >= expires + self._leeway:  # RFC 7519 §4.1.4
            raise DomainError(Reason.TOKEN_EXPIRED, "token has expired")
        for name in ("nbf", "iat"):  # RFC 7519 §4.1.5, §4.1.6: neither may lie in the future
            moment = _numeric_date(claims, name, required=False)
            if moment is not None and now + self._leeway < moment:
                raise DomainError(
                    Reason.TOKEN_NOT_YET_VALID,
                    f"token '{name}' lies in the future; check the issuer's clock",
                )
        audience = issuer.audience or self._audience
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:  # RFC 7519 §4.1.3
            raise DomainError(Reason.TOKEN_WRONG_AUDIENCE, "token audience is not this gateway")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 256:
            raise DomainError(Reason.TOKEN_CLAIMS_INVALID, "token 'sub' must be a non-empty string")
        if not _is_unicode(subject):  # JSON may carry a lone surrogate ("\\ud800")
            raise DomainError(Reason.TOKEN_CLAIMS_INVALID, "token 'sub' is not valid Unicode")
        if is_erased_owner(subject):  # the tombstone of an erased owner's consents
            raise DomainError(Reason.TOKEN_CLAIMS_INVALID, f"token 'sub' starts {ERASED_OWNER!r}")
        try:
            role = Role(str(claims.get("role")))
        except ValueError:
            raise DomainError(
                Reason.TOKEN_CLAIMS_INVALID, "token 'role' is not a known role"
            ) from None
        return Principal(
            subject=SubjectId(subject),
            role=role,
            issuer=issuer.issuer,
            expires_at=expires,
            cnf_x5t=_cnf_thumbprint(claims.get("cnf")),
        )


def _is_unicode(text: str) -> bool:
    """False for a string with a lone surrogate, which no UTF-8 encoder (SQLite, gRPC) accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _cnf_thumbprint(cnf: object) -> str | None:
    if cnf is None:
        return None
    value = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(value, str) or not value:
        # A confirmation we do not understand must not be silently dropped (RFC 7800 §3.1).
        raise DomainError(Reason.TOKEN_CLAIMS_INVALID, "token 'cnf' must carry 'x5t#S256'")
    return value


def certificate_thumbprint(cert_der: bytes) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url SHA-256 of the DER certificate."""
    return b64url_encode(hashlib.sha256(cert_der).digest())


def check_certificate_binding(principal: Principal, peer_cert_der: bytes | None) -> None:
    """Refuse a certificate-bound token presented over another (or no) client certificate."""
    if principal.cnf_x5t is None:
        return
    if peer_cert_der is None or certificate_thumbprint(peer_cert_der) != principal.cnf_x5t:
        raise DomainError(
            Reason.TOKEN_CERTIFICATE_MISMATCH,
            "token is bound to a client certificate that this connection did not present",
        )


def issue_dev_token(
    keyring: KeyRing,
    *,
    role: Role | str,
    sub: str,
    ttl: timedelta,
    now: datetime,
    audience: str,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A bearer token from the data dir's dev issuer (``attestgate token``)."""
    if not sub:
        raise ValueError("sub must not be empty")
    kid, key = keyring.dev_issuer_key
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        **(extra_claims or {}),
        "iss": keyring.dev_issuer_name,
        "sub": sub,
        "aud": audience,
        "role": str(Role(role)),
        "iat": issued,
        "nbf": issued,
        "exp": issued + max(1, int(ttl.total_seconds())),
        "jti": uuid.uuid4().hex,
    }
    return sign_jws({"alg": "EdDSA", "kid": kid, "typ": "JWT"}, claims, key)
