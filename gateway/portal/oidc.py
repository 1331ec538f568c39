"""The portal as an OpenID Connect relying party (OpenID Connect Core 1.0, authorization code
flow; RFC 7636 PKCE with S256; OpenID Connect Discovery 1.0; RP-Initiated Logout 1.0).

- ``start`` makes the authorization request: a fresh ``state`` (CSRF of the redirect), ``nonce``
  (replay of the ID token) and PKCE verifier, all kept server-side in the browser's session.
- ``finish`` redeems the code at the token endpoint (``client_secret_basic`` and the verifier) and
  validates the ID token: its ``alg`` from the discovery's ``id_token_signing_alg_values_supported``
  (never ``none`` or a MAC), its signature by a key of the provider's JWKS (fetched again when a
  ``kid`` is unknown: key rotation, at most once per ``jwks_refresh_interval``), ``iss``, ``aud``
  (and ``azp`` with several audiences), ``exp``, ``iat`` and ``nonce``.
- The discovery document is read from ``<issuer>/.well-known/openid-configuration`` and must name
  the configured issuer exactly. The provider is reached over HTTPS; plain HTTP only on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from attestgate.gateway.common.addresses import is_loopback

MAX_DOCUMENT_BYTES = 256 * 1024
DISCOVERY_TTL = timedelta(hours=1)
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OidcError(Exception):
    """The sign-in did not complete; ``str()`` says why (for the log, never personal data)."""


@dataclass(frozen=True)
class OidcSettings:
    """The identity provider and this portal's registration there (config ``portal_oidc_*``)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str = ""  # empty: <portal URL>/login/callback
    scopes: tuple[str, ...] = ("openid",)
    owner_claim: str = "sub"
    role_claim: str = "roles"
    regulator_role: str = "regulator"
    ca_file: Path | None = None
    leeway: timedelta = timedelta(seconds=30)
    jwks_refresh_interval: timedelta = timedelta(seconds=10)
    # private_key_jwt (RFC 7523 §2.2): this key signs a client assertion instead of sending
    # the secret; None: client_secret_basic.
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None


@dataclass(frozen=True)
class Discovery:
    """What the RP uses of the provider's metadata."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: frozenset[str]
    end_session_endpoint: str | None


@dataclass(frozen=True)
class LoginStart:
    """An authorization request: where to send the browser, and what the callback must match."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    """A validated ID token: its claims and the token itself (the logout's ``id_token_hint``)."""

    claims: Mapping[str, Any]
    id_token: str


Fetch = Callable[[urllib.request.Request], bytes]


CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_key_id(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    """The kid of the client's key: its RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    else:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
        members = {k: jwk[k] for k in ("e", "kty", "n")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _request(url: str, **kwargs: Any) -> urllib.request.Request:
    """A request to a provider URL (checked https, or http on loopback, by the caller)."""
    return urllib.request.Request(url, **kwargs)  # noqa: S310 - the scheme is checked


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2 S256: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_provider_url(url: str, what: str) -> None:
    """HTTPS, or HTTP on a loopback host (a provider started by tests or on this machine)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname and is_loopback(parsed.hostname):
        return
    raise OidcError(f"{what} {url!r} must be an https URL (http only on a loopback host)")


class RelyingParty:
    """One configured provider: discovery and JWKS cached (thread-safe), logins started and
    finished."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        now: Callable[[], datetime],
        fetch: Fetch | None = None,
    ) -> None:
        check_provider_url(settings.issuer, "portal_oidc_issuer")
        self.settings = settings
        self._now = now
        self._fetch = fetch or self._urlopen
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._discovered_at = datetime.min.replace(tzinfo=UTC)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._unnamed: list[jwt.PyJWK] = []
        self._jwks_at = datetime.min.replace(tzinfo=UTC)
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        self._ssl = context

    # -- HTTP ----------------------------------------------------------------------------------

    def _urlopen(self, request: urllib.request.Request) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._ssl) as response:  # noqa: S310 - URL checked
                body: bytes = response.read(MAX_DOCUMENT_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise OidcError(f"{request.full_url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise OidcError(f"{request.full_url} unreachable: {exc}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise OidcError(f"{request.full_url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        return body

    def _json(self, request: urllib.request.Request) -> dict[str, Any]:
        body = self._fetch(request)
        try:
            value = json.loads(body)
        except ValueError:
            raise OidcError(f"{request.full_url} did not answer JSON") from None
        if not isinstance(value, dict):
            raise OidcError(f"{request.full_url} did not answer a JSON object")
        return value

    # -- discovery and keys --------------------------------------------------------------------

    def discovery(self) -> Discovery:
        """The provider's metadata (cached for an hour)."""
        with self._lock:
            now = self._now()
            if self._discovery is not None and now - self._discovered_at < DISCOVERY_TTL:
                return self._discovery
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = self._json(_request(url, headers={"accept": "application/json"}))
        if doc.get("issuer") != issuer:
            raise OidcError(f"discovery names issuer {doc.get('issuer')!r}, expected {issuer!r}")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(name)
            if not isinstance(value, str):
                raise OidcError(f"discovery has no {name}")
            check_provider_url(value, name)
            endpoints[name] = value
        algs = doc.get("id_token_signing_alg_values_supported")
        if not isinstance(algs, list):
            raise OidcError("discovery has no id_token_signing_alg_values_supported")
        usable = frozenset(a for a in algs if isinstance(a, str)) & _ASYMMETRIC
        if not usable:
            raise OidcError(f"the provider signs ID tokens with no supported algorithm ({algs})")
        end_session = doc.get("end_session_endpoint")
        if isinstance(end_session, str):
            check_provider_url(end_session, "end_session_endpoint")
        else:
            end_session = None
        found = Discovery(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            algorithms=usable,
            end_session_endpoint=end_session,
        )
        with self._lock:
            self._discovery, self._discovered_at = found, self._now()
        return found

    def _load_jwks(self, discovery: Discovery) -> None:
        doc = self._json(_request(discovery.jwks_uri))
        keys = doc.get("keys")
        if not isinstance(keys, list):
            raise OidcError("the provider's JWKS has no keys array")
        named: dict[str, jwt.PyJWK] = {}
        unnamed: list[jwt.PyJWK] = []
        for entry in keys:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type this RP does not use
            if isinstance(entry.get("kid"), str):
                named[entry["kid"]] = key
            else:
                unnamed.append(key)
        with self._lock:
            self._keys, self._unnamed, self._jwks_at = named, unnamed, self._now()

    def _signing_key(self, discovery: Discovery, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):
            with self._lock:
                known = dict(self._keys)
                unnamed = list(self._unnamed)
                fetched_at = self._jwks_at
            if kid is not None and kid in known:
                return known[kid]
            if kid is None and len(known) + len(unnamed) == 1:
                return next(iter([*known.values(), *unnamed]))
            # Unknown kid: the provider rotated its keys. Fetch again, but not more often than
            # the refresh interval (a flood of forged kids must not become a flood of fetches).
            fresh = self._now() - fetched_at < self.settings.jwks_refresh_interval
            if attempt or fresh:
                break
            self._load_jwks(discovery)
        raise OidcError(f"no key {kid!r} in the provider's JWKS")

    # -- the flow ------------------------------------------------------------------------------

    def start(self, redirect_url: str) -> LoginStart:
        """A new authorization request to send the browser to."""
        discovery = self.discovery()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-] (RFC 7636 §4.1)
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_url,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        sep = "&" if "?" in discovery.authorization_endpoint else "?"
        url = discovery.authorization_endpoint + sep + urllib.parse.urlencode(query)
        return LoginStart(url=url, state=state, nonce=nonce, verifier=verifier)

    def finish(self, *, code: str, verifier: str, nonce: str, redirect_url: str) -> Identity:
        """Redeem ``code`` and validate the ID token (``OidcError`` when anything is off)."""
        discovery = self.discovery()
        body: str = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_url,
                "code_verifier": verifier,
            }
        )
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        }
        if self.settings.private_key is not None:
            body += "&" + urllib.parse.urlencode(
                {
                    "client_id": self.settings.client_id,
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": self.client_assertion(discovery.token_endpoint),
                }
            )
        else:
            # client_secret_basic: id and secret form-urlencoded, then Basic (RFC 6749 §2.3.1).
            user = urllib.parse.quote(self.settings.client_id, safe="")
            password = urllib.parse.quote(self.settings.client_secret, safe="")
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["authorization"] = f"Basic {basic}"
        request = _request(
            discovery.token_endpoint, data=body.encode(), method="POST", headers=headers
        )
        answer = self._json(request)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the token endpoint answered no id_token")
        claims = self.validate(id_token, nonce=nonce)
        return Identity(claims=claims, id_token=id_token)

    def client_assertion(self, audience: str) -> str:
        """A private_key_jwt client assertion for ``audience`` (RFC 7523 §3; OIDC Core §9):
        iss and sub the client id, a fresh jti, a minute to live."""
        key = self.settings.private_key
        assert key is not None
        now = int(self._now().timestamp())
        claims = {
            "iss": self.settings.client_id,
            "sub": self.settings.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + 60,
        }
        alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": client_key_id(key)})

    def validate(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token for this client and ``nonce`` (OIDC Core §3.1.3.7)."""
        discovery = self.discovery()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("the ID token is not a JWS") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in discovery.algorithms:
            raise OidcError(f"the ID token's alg {alg!r} is not one the provider announces")
        kid = header.get("kid")
        key = self._signing_key(discovery, kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[alg],
                audience=self.settings.client_id,
                issuer=discovery.issuer,
                # exp and iat against the gateway's clock below, not the system's.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "exp", "iat", "sub"],
                },
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        now = self._now().timestamp()
        leeway = self.settings.leeway.total_seconds()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise OidcError("the ID token's exp and iat must be numbers")
        if exp + leeway <= now:
            raise OidcError("the ID token has expired")
        if iat - leeway > now:
            raise OidcError("the ID token was issued in the future")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("the ID token has several audiences and another azp")
        got = claims.get("nonce")
        if not isinstance(got, str) or not secrets.compare_digest(got, nonce):
            raise OidcError("the ID token's nonce is not this login's")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("the ID token has no sub")
        return claims

    def origins(self) -> list[str]:
        """The provider origins the browser is sent to (issuer's, and the discovered
        authorization and end-session endpoints')."""
        urls = [self.settings.issuer]
        with self._lock:
            found = self._discovery
        if found is not None:
            urls.append(found.authorization_endpoint)
            if found.end_session_endpoint:
                urls.append(found.end_session_endpoint)
        origins: list[str] = []
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
        return origins

    def logout_url(self, id_token: str, post_logout_redirect: str) -> str | None:
        """RP-initiated logout at the provider, if its discovery has an end_session_endpoint."""
        try:
            endpoint = self.discovery().end_session_endpoint
        except OidcError:
            return None
        if endpoint is None:
            return None
        query = {
            "id_token_hint": id_token,
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect,
        }
        sep = "&" if "?" in endpoint else "?"
        return endpoint + sep + urllib.parse.urlencode(query)


def role_values(claims: Mapping[str, Any], claim: str) -> set[str]:
    """The values of a role claim: a string (space-separated) or an array of strings."""
    value = claims.get(claim)
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()
