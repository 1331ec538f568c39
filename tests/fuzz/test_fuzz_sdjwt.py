"""Fuzzed SD-JWTs and KB-JWTs against the shared verifier and against RedeemAttestation.

``tests/unit/sdk/test_sdjwt_property.py`` mutates the characters of one valid presentation (the
signature catches those). Here the tokens are *validly signed* by the issuer and the holder but
carry random structure: claims of the wrong type, odd ``_sd`` arrays, random disclosures, random
KB-JWT claims, NUL bytes, deep nesting. The verifier must answer ``SdJwtError`` and nothing else;
the gateway must refuse them without ``UNKNOWN``/``INTERNAL`` and change no state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.attestations.sdjwt_issuer import issue_sd_jwt
from attestgate.protocol.jose import Jwks, b64url_encode, public_jwk, sign_es256
from attestgate.protocol.sdjwt import KeyBindingPolicy, redemption_nonce, verify_sd_jwt
from attestgate.protocol.sdjwt_format import SdJwtError, disclosure_digest, encode_disclosure
from attestgate.v1 import attestation_pb2
from tests.fuzz.harness import UNARY_RPCS, Harness, build_world

pytestmark = pytest.mark.slow

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ISSUER = "attestgate"
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = Jwks({"k1": ISSUER_KEY.public_key()})
FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None, max_examples=300
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["\x00", "sha-256", "ES256", "kb+jwt", "dc+sd-jwt", "..."]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_CLAIMS = ("iss", "iat", "exp", "nbf", "jti", "vct", "cnf", "_sd", "_sd_alg", "consent_hash")
_KB_CLAIMS = ("iat", "aud", "nonce", "sd_hash")
_HEADER = ("alg", "typ", "kid")


def _base_payload(jti: str, digests: list[str]) -> dict[str, Any]:
    iat = int(NOW.timestamp())
    return {
        "iss": ISSUER,
        "iat": iat,
        "exp": iat + 600,
        "jti": jti,
        "vct": "urn:attestgate:income:fx_purchase:v1",
        "cnf": {"jwk": public_jwk(HOLDER_KEY.public_key())},
        "_sd": sorted(digests),
        "_sd_alg": "sha-256",
    }


@st.composite
def tokens(draw: st.DrawFn, issuer_key: ec.EllipticCurvePrivateKey, kid: str) -> tuple[str, str]:
    """(presentation, jti): issuer JWT and KB-JWT validly signed, their contents fuzzed."""
    disclosures = [encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "tax_year", 2025)]
    for _ in range(draw(st.integers(0, 2))):
        raw = draw(json_values)
        disclosures.append(b64url_encode(json.dumps(raw).encode()))
    jti = draw(st.sampled_from(["j1", "a\x00b", "", "x" * 300]) | st.text(max_size=8))
    payload: dict[str, Any] = _base_payload(jti, [disclosure_digest(d) for d in disclosures])
    for name in draw(st.lists(st.sampled_from(_CLAIMS), max_size=3, unique=True)):
        payload[name] = draw(json_values)
    header: dict[str, Any] = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": kid}
    for name in draw(st.lists(st.sampled_from(_HEADER[1:]), max_size=1)):
        header[name] = draw(json_values)
    issuer_jwt = sign_es256(header, payload, issuer_key)
    kept = draw(st.lists(st.sampled_from(disclosures), max_size=4))
    prefix = "~".join([issuer_jwt, *kept]) + "~"
    tx_nonce = redemption_nonce(jti, "tx-1") if "\x00" not in jti else "n"
    kb: dict[str, Any] = {
        "iat": int(NOW.timestamp()),
        "aud": ISSUER,
        "nonce": tx_nonce,
        "sd_hash": b64url_encode(hashlib.sha256(prefix.encode()).digest()),
    }
    for name in draw(st.lists(st.sampled_from(_KB_CLAIMS), max_size=2, unique=True)):
        kb[name] = draw(json_values)
    kb_header: dict[str, Any] = {"alg": "ES256", "typ": draw(st.sampled_from(["kb+jwt", "JWT"]))}
    return prefix + sign_es256(kb_header, kb, HOLDER_KEY), jti


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _verify(presentation: str, nonce: str = "n") -> None:
    verify_sd_jwt(
        presentation,
        jwks=JWKS,
        issuer=ISSUER,
        now=NOW,
        key_binding=KeyBindingPolicy.require(audience=ISSUER, nonce=nonce),
    )


@FUZZ
@given(token=tokens(ISSUER_KEY, "k1"))
def test_fuzzed_presentations_only_raise_sdjwt_errors(token: tuple[str, str]) -> None:
    presentation, jti = token
    nonce = redemption_nonce(jti, "tx-1") if "\x00" not in jti else "n"
    # Some draws change nothing that matters and verify; any failure must be an SdJwtError.
    with contextlib.suppress(SdJwtError):
        _verify(presentation, nonce)


@FUZZ
@given(payload=st.dictionaries(st.sampled_from(_CLAIMS), json_values, max_size=6))
@example(payload={"_sd": _deep(200)})
@example(payload={"cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": _deep(50)}}})
def test_fuzzed_issuer_jwts_without_key_binding(payload: dict[str, Any]) -> None:
    token = sign_es256({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, payload, ISSUER_KEY)
    with pytest.raises(SdJwtError):
        verify_sd_jwt(token + "~", jwks=JWKS, issuer=ISSUER, now=NOW, key_binding=_NO_KB)


_NO_KB = KeyBindingPolicy.none()


def test_a_real_token_still_verifies() -> None:
    """The fuzzers above must not pass only because everything fails."""
    issued = issue_sd_jwt(
        signing_key=ISSUER_KEY,
        kid="k1",
        issuer=ISSUER,
        vct="urn:attestgate:income:fx_purchase:v1",
        holder_jwk=public_jwk(HOLDER_KEY.public_key()),
        disclosed={"tax_year": 2025},
        plain={},
        now=NOW,
        ttl=timedelta(minutes=10),
    )
    verify_sd_jwt(issued.token, jwks=JWKS, issuer=ISSUER, now=NOW, key_binding=_NO_KB)


# -- against the gateway ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A gateway with the fuzz world (``harness.build_world``)."""
    made = build_world(tmp_path_factory.mktemp("sdjwt") / "gw", FixedClock(NOW))
    try:
        yield made
    finally:
        made.close()
        made.gw.close()


REDEEM = next(r for r in UNARY_RPCS if r.name == "RedeemAttestation")


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_redeem_refuses_fuzzed_presentations_cleanly(harness: Harness, data: st.DataObject) -> None:
    kid, key = harness.gw.parts.keyring.current_signing_key()
    presentation, _ = data.draw(tokens(key, str(kid)))
    request = attestation_pb2.RedeemAttestationRequest(
        presentation=presentation, transaction_ref="tx-1"
    )
    outcome = harness.call(REDEEM, "bank", request)
    assert outcome.code != "OK", "a fuzzed presentation was redeemed"
