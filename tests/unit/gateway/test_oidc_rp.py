"""The portal's OpenID Connect relying party (gateway.portal.oidc) against a scripted provider:
every ID token check refuses what it must, JWKS rotation, discovery rules, PKCE (RFC 7636)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from attestgate.gateway.portal.oidc import (
    OidcError,
    OidcSettings,
    RelyingParty,
    client_key_id,
    pkce_challenge,
    role_values,
)

ISSUER = "https://id.example"
CLIENT = "portal"


class Provider:
    """Answers discovery, JWKS and the token endpoint like a provider would."""

    def __init__(self) -> None:
        self.keys = {"k1": ec.generate_private_key(ec.SECP256R1())}
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "/auth",
            "token_endpoint": ISSUER + "/token",
            "jwks_uri": ISSUER + "/jwks",
            "end_session_endpoint": ISSUER + "/session/end",
            "id_token_signing_alg_values_supported": ["ES256"],
        }
        self.jwks_fetches = 0
        self.next_id_token = ""
        self.token_requests: list[urllib.request.Request] = []

    def fetch(self, request: urllib.request.Request) -> bytes:
        url = request.full_url
        if url.endswith("/.well-known/openid-configuration"):
            return json.dumps(self.discovery).encode()
        if url.endswith("/jwks"):
            self.jwks_fetches += 1
            keys = []
            for kid, key in self.keys.items():
                jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                keys.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
            return json.dumps({"keys": keys}).encode()
        if url.endswith("/token"):
            self.token_requests.append(request)
            return json.dumps({"id_token": self.next_id_token, "token_type": "Bearer"}).encode()
        raise AssertionError(url)

    def id_token(self, kid: str = "k1", **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "alice-sub",
            "iat": now,
            "exp": now + 300,
            "nonce": "n-1",
            **changes,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


def make_rp(provider: Provider, **settings: Any) -> RelyingParty:
    values: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT, "client_secret": "s e/cret"}
    values.update(settings)
    return RelyingParty(
        OidcSettings(**values),
        now=lambda: datetime.now(UTC) + provider_offset.get("offset", timedelta(0)),
        fetch=provider.fetch,
    )


provider_offset: dict[str, timedelta] = {}


@pytest.fixture(autouse=True)
def _no_offset() -> None:
    provider_offset.clear()


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_authorization_request_carries_state_nonce_and_pkce() -> None:
    provider = Provider()
    start = make_rp(provider, scopes=("openid", "attestgate")).start("https://p/cb")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.url).query))
    assert start.url.startswith(ISSUER + "/auth?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT
    assert query["redirect_uri"] == "https://p/cb"
    assert query["scope"] == "openid attestgate"
    assert query["state"] == start.state
    assert query["nonce"] == start.nonce
    assert query["code_challenge"] == pkce_challenge(start.verifier)
    assert query["code_challenge_method"] == "S256"
    again = make_rp(provider).start("https://p/cb")
    assert {again.state, again.nonce, again.verifier}.isdisjoint({start.state, start.nonce})


def test_finish_redeems_the_code_with_the_verifier_and_basic_auth() -> None:
    provider = Provider()
    provider.next_id_token = provider.id_token()
    identity = make_rp(provider).finish(
        code="c-1", verifier="v" * 43, nonce="n-1", redirect_url="https://p/cb"
    )
    assert identity.claims["sub"] == "alice-sub"
    sent = provider.token_requests[0]
    form = dict(urllib.parse.parse_qsl((sent.data or b"").decode()))  # type: ignore[union-attr]
    assert form == {
        "grant_type": "authorization_code",
        "code": "c-1",
        "redirect_uri": "https://p/cb",
        "code_verifier": "v" * 43,
    }
    # RFC 6749 §2.3.1: id and secret form-urlencoded before Basic.
    assert sent.get_header("Authorization") == "Basic cG9ydGFsOnMlMjBlJTJGY3JldA=="


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"nonce": "other"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"aud": [CLIENT, "other"]}, "azp"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iat": int(time.time()) + 600}, "future"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
    ],
)
def test_a_bad_id_token_is_refused(changes: dict[str, Any], why: str) -> None:
    provider = Provider()
    with pytest.raises(OidcError, match=why):
        make_rp(provider).validate(provider.id_token(**changes), nonce="n-1")


def test_several_audiences_need_azp_of_this_client() -> None:
    provider = Provider()
    token = provider.id_token(aud=[CLIENT, "other"], azp=CLIENT)
    assert make_rp(provider).validate(token, nonce="n-1")["azp"] == CLIENT


def test_an_alg_the_provider_does_not_announce_is_refused() -> None:
    provider = Provider()
    rp = make_rp(provider)
    mac = jwt.encode(
        {"iss": ISSUER, "aud": CLIENT}, "a-long-enough-shared-secret-of-32-bytes", algorithm="HS256"
    )
    with pytest.raises(OidcError, match="alg 'HS256'"):
        rp.validate(mac, nonce="n-1")
    unsigned = jwt.encode({"iss": ISSUER}, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(OidcError, match="alg 'none'"):
        rp.validate(unsigned, nonce="n-1")
    provider.discovery["id_token_signing_alg_values_supported"] = ["none", "HS256"]
    with pytest.raises(OidcError, match="no supported algorithm"):
        make_rp(provider).discovery()


def test_a_forged_signature_is_refused() -> None:
    provider = Provider()
    rp = make_rp(provider)
    good = provider.id_token()
    forger = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, forger, algorithm="ES256", headers={"kid": "k1"})
    with pytest.raises(OidcError, match="not valid"):
        rp.validate(forged, nonce="n-1")


def test_an_unknown_kid_fetches_the_jwks_again_at_most_once_per_interval() -> None:
    provider = Provider()
    rp = make_rp(provider)
    rp.validate(provider.id_token(), nonce="n-1")
    assert provider.jwks_fetches == 1
    provider.keys = {"k2": ec.generate_private_key(ec.SECP256R1())}  # rotation
    with pytest.raises(OidcError, match="no key 'k2'"):
        rp.validate(provider.id_token("k2"), nonce="n-1")  # within the refresh interval
    assert provider.jwks_fetches == 1
    provider_offset["offset"] = timedelta(seconds=11)
    assert rp.validate(provider.id_token("k2"), nonce="n-1")["sub"] == "alice-sub"
    assert provider.jwks_fetches == 2
    rp.validate(provider.id_token("k2"), nonce="n-1")
    assert provider.jwks_fetches == 2  # known now: no fetch
    provider_offset["offset"] = timedelta(seconds=30)
    with pytest.raises(OidcError, match="no key 'forged'"):
        rp.validate(
            jwt.encode({"a": 1}, provider.keys["k2"], "ES256", headers={"kid": "forged"}),
            nonce="n-1",
        )
    assert provider.jwks_fetches == 3


def test_discovery_must_name_the_configured_issuer() -> None:
    provider = Provider()
    provider.discovery["issuer"] = "https://other.example"
    with pytest.raises(OidcError, match=r"expected 'https://id\.example'"):
        make_rp(provider).start("https://p/cb")


def test_the_provider_must_use_https_off_loopback() -> None:
    with pytest.raises(OidcError, match="https"):
        make_rp(Provider(), issuer="http://id.example")
    provider = Provider()
    provider.discovery["token_endpoint"] = "http://id.example/token"
    with pytest.raises(OidcError, match="token_endpoint"):
        make_rp(provider).discovery()
    make_rp(Provider(), issuer="http://127.0.0.1:9999")  # a local provider is fine


def test_logout_url_and_role_values() -> None:
    provider = Provider()
    url = make_rp(provider).logout_url("tok", "https://p/login")
    assert url is not None
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(ISSUER + "/session/end?")
    assert query == {
        "id_token_hint": "tok",
        "client_id": CLIENT,
        "post_logout_redirect_uri": "https://p/login",
    }
    del provider.discovery["end_session_endpoint"]
    assert make_rp(provider).logout_url("tok", "https://p/login") is None
    assert role_values({"roles": ["regulator", 3]}, "roles") == {"regulator"}
    assert role_values({"roles": "a regulator"}, "roles") == {"a", "regulator"}
    assert role_values({}, "roles") == set()


def test_private_key_jwt_sends_a_signed_client_assertion_instead_of_the_secret() -> None:
    provider = Provider()
    provider.next_id_token = provider.id_token()
    key = ec.generate_private_key(ec.SECP256R1())
    rp = make_rp(provider, client_secret="", private_key=key)
    rp.finish(code="c-1", verifier="v" * 43, nonce="n-1", redirect_url="https://p/cb")
    sent = provider.token_requests[0]
    assert sent.get_header("Authorization") is None
    form = dict(urllib.parse.parse_qsl((sent.data or b"").decode()))  # type: ignore[union-attr]
    assert form["client_id"] == CLIENT
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["alg"] == "ES256"
    assert header["kid"] == client_key_id(key)
    claims = jwt.decode(
        form["client_assertion"], key.public_key(), algorithms=["ES256"], audience=ISSUER + "/token"
    )
    assert claims["iss"] == claims["sub"] == CLIENT
    assert claims["exp"] - claims["iat"] == 60
    assert len(claims["jti"]) >= 32
