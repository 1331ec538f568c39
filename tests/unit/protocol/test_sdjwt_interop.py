"""Independent implementations agree with ours: the IETF reference `sd_jwt` and plain PyJWT."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from attestgate.gateway.usecases.attestations.sdjwt_issuer import IssuedSdJwt, issue_sd_jwt
from attestgate.protocol.jose import JsonInput, public_jwk
from attestgate.protocol.sdjwt import KeyBindingPolicy, create_presentation, verify_sd_jwt

ISSUER = "https://gateway.attestgate.test"
VCT = "urn:attestgate:income:fx_purchase:v1"
AUDIENCE = "attestgate-gateway"
NONCE = "nonce-42"
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())
DISCLOSED: dict[str, JsonInput] = {
    "covers_amount": True,
    "tax_year": 2025,
    "employer": {"name": "Qianhai Ltd"},
}


def _issue(now: datetime) -> IssuedSdJwt:
    return issue_sd_jwt(
        signing_key=ISSUER_KEY,
        kid="k1",
        issuer=ISSUER,
        vct=VCT,
        holder_jwk=public_jwk(HOLDER_KEY.public_key()),
        disclosed=DISCLOSED,
        plain={"consent_hash": "abc"},
        now=now,
        ttl=timedelta(minutes=10),
    )


def _issuer_jwk() -> JWK:
    return JWK.from_json(json.dumps(public_jwk(ISSUER_KEY.public_key(), kid="k1")))


def _key_callback(issuer: str, header: Mapping[str, Any]) -> JWK:
    assert issuer == ISSUER
    assert header["kid"] == "k1"
    assert header["typ"] == "dc+sd-jwt"
    return _issuer_jwk()


def test_reference_verifier_accepts_our_issuance() -> None:
    issued = _issue(datetime.now(UTC))
    verifier = SDJWTVerifier(issued.token, _key_callback)
    payload = verifier.get_verified_payload()
    for name, value in DISCLOSED.items():
        assert payload[name] == value
    assert payload["iss"] == ISSUER
    assert payload["jti"] == issued.jti
    assert payload["cnf"]["jwk"] == public_jwk(HOLDER_KEY.public_key())


def test_reference_verifier_accepts_our_presentation_with_key_binding() -> None:
    now = datetime.now(UTC)
    presentation = create_presentation(
        _issue(now).token,
        holder_key=HOLDER_KEY,
        audience=AUDIENCE,
        nonce=NONCE,
        now=now,
        disclose=["covers_amount"],
    )
    verifier = SDJWTVerifier(
        presentation, _key_callback, expected_aud=AUDIENCE, expected_nonce=NONCE
    )
    payload = verifier.get_verified_payload()
    assert payload["covers_amount"] is True
    assert "tax_year" not in payload
    # The reference implementation checks nonce, aud and sd_hash: a wrong nonce must fail there too.
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(presentation, _key_callback, expected_aud=AUDIENCE, expected_nonce="x")


def test_reference_holder_selects_from_our_issuance() -> None:
    now = datetime.now(UTC)
    holder = SDJWTHolder(_issue(now).token)
    holder.create_presentation(
        {"tax_year": True},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=JWK.from_pyca(HOLDER_KEY),
        sign_alg="ES256",
    )
    result = verify_sd_jwt(
        holder.sd_jwt_presentation,
        jwks={"k1": ISSUER_KEY.public_key()},
        issuer=ISSUER,
        now=now,  # the reference holder stamps its KB-JWT with the real clock
        key_binding=KeyBindingPolicy.require(audience=AUDIENCE, nonce=NONCE),
    )
    assert dict(result.claims) == {"tax_year": 2025}


def test_pyjwt_alone_accepts_the_issuer_jwt() -> None:
    now = datetime.now(UTC)
    issued = _issue(now)
    issuer_jwt = issued.token.split("~")[0]
    claims = jwt.decode(
        issuer_jwt,
        ISSUER_KEY.public_key(),
        algorithms=["ES256"],
        issuer=ISSUER,
        options={"require": ["iss", "iat", "exp", "jti"]},
    )
    assert claims["jti"] == issued.jti
    assert claims["vct"] == VCT
    assert jwt.get_unverified_header(issuer_jwt) == {
        "alg": "ES256",
        "typ": "dc+sd-jwt",
        "kid": "k1",
    }


def test_our_verifier_accepts_a_reference_issuance() -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    iat = int(now.timestamp())
    issuer = SDJWTIssuer(
        {
            "iss": ISSUER,
            "iat": iat,
            "exp": iat + 600,
            "jti": "ref-1",
            "vct": VCT,
            SDObj("covers_amount"): True,
            SDObj("tax_year"): 2025,
        },
        JWK.from_pyca(ISSUER_KEY),
        holder_key=JWK.from_pyca(HOLDER_KEY),
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "k1"},
    )
    presentation = create_presentation(
        issuer.sd_jwt_issuance, holder_key=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=now
    )
    result = verify_sd_jwt(
        presentation,
        jwks={"k1": ISSUER_KEY.public_key()},
        issuer=ISSUER,
        now=now,
        key_binding=KeyBindingPolicy.require(audience=AUDIENCE, nonce=NONCE),
    )
    assert dict(result.claims) == {"covers_amount": True, "tax_year": 2025}
    assert result.jti == "ref-1"
