"""TokenVerifier: claims against an injected clock, caching until exp, certificate binding."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.auth import (
    Principal,
    TokenVerifier,
    certificate_thumbprint,
    check_certificate_binding,
    issue_dev_token,
)
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing, public_jwk
from attestgate.gateway.common.roles import Role
from attestgate.gateway.ops.config import TrustedIssuer
from attestgate.gateway.transport.interceptors import bearer_token
from attestgate.protocol.reasons import DomainError, Reason

LEEWAY = timedelta(seconds=30)


class CountingVerifier(TokenVerifier):
    """Counts full verifications, to observe the cache."""

    full_checks = 0

    def _verify_uncached(self, token: str, now: datetime) -> Principal:
        self.full_checks += 1
        return super()._verify_uncached(token, now)


def verifier_for(keyring: KeyRing, clock: FixedClock, **kwargs: Any) -> CountingVerifier:
    issuer = TrustedIssuer(issuer=keyring.dev_issuer_name, jwks=keyring.dev_issuer_jwks())
    return CountingVerifier([issuer], audience="attestgate", leeway=LEEWAY, clock=clock, **kwargs)


def token(keyring: KeyRing, clock: FixedClock, ttl: timedelta = timedelta(minutes=5)) -> str:
    return issue_dev_token(
        keyring, role="bank", sub="bank-1", ttl=ttl, now=clock.now(), audience="attestgate"
    )


def reason_of(verifier: TokenVerifier, value: str) -> Reason:
    with pytest.raises(DomainError) as caught:
        verifier.verify(value)
    return caught.value.reason


def test_valid_token(keyring: KeyRing, clock: FixedClock) -> None:
    principal = verifier_for(keyring, clock).verify(token(keyring, clock))
    assert principal.subject == "bank-1"
    assert principal.role is Role.BANK
    assert principal.issuer == keyring.dev_issuer_name
    assert principal.expires_at == clock.now() + timedelta(minutes=5)
    assert principal.cnf_x5t is None


def test_cache_hit_until_exp_then_full_check_with_leeway(
    keyring: KeyRing, clock: FixedClock
) -> None:
    verifier = verifier_for(keyring, clock)
    value = token(keyring, clock)
    verifier.verify(value)
    verifier.verify(value)
    assert verifier.full_checks == 1
    clock.advance(timedelta(minutes=5))  # exactly exp: the cache no longer answers...
    verifier.verify(value)  # ...the full check accepts within the leeway
    assert verifier.full_checks == 2
    clock.advance(LEEWAY)
    assert reason_of(verifier, value) is Reason.TOKEN_EXPIRED


def test_cache_is_bounded(keyring: KeyRing, clock: FixedClock) -> None:
    verifier = verifier_for(keyring, clock, cache_size=2)
    first, second, third = (token(keyring, clock) for _ in range(3))
    for value in (first, second, third):
        verifier.verify(value)
    verifier.verify(third)
    assert verifier.full_checks == 3
    verifier.verify(first)  # evicted as least recently used
    assert verifier.full_checks == 4


def test_failures_are_not_cached(keyring: KeyRing, clock: FixedClock) -> None:
    verifier = verifier_for(keyring, clock)
    value = token(keyring, clock)
    clock.advance(timedelta(hours=1))
    assert reason_of(verifier, value) is Reason.TOKEN_EXPIRED
    assert reason_of(verifier, value) is Reason.TOKEN_EXPIRED
    assert verifier.full_checks == 2


def test_not_before_honours_leeway(keyring: KeyRing, clock: FixedClock) -> None:
    verifier = verifier_for(keyring, clock)
    future = token(keyring, FixedClock(clock.now() + timedelta(seconds=20)))
    assert verifier.verify(future).subject == "bank-1"  # 20 s early, within 30 s leeway
    later = token(keyring, FixedClock(clock.now() + timedelta(seconds=40)))
    assert reason_of(verifier, later) is Reason.TOKEN_NOT_YET_VALID


def _signed(keyring: KeyRing, clock: FixedClock, **claims: Any) -> str:
    kid, key = keyring.dev_issuer_key
    now = int(clock.now().timestamp())
    body = {"iss": keyring.dev_issuer_name, "aud": "attestgate", "exp": now + 60, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, "EdDSA", {"kid": kid})


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "", "role": "bank"},
        {"sub": 7, "role": "bank"},
        {"sub": "x", "role": "admin"},
        {"sub": "x"},
        {"sub": "x", "role": "bank", "exp": None},
        {"sub": "x", "role": "bank", "exp": "tomorrow"},
        {"sub": "x", "role": "bank", "cnf": {"jkt": "abc"}},
    ],
)
def test_claims_invalid(keyring: KeyRing, clock: FixedClock, claims: dict[str, Any]) -> None:
    verifier = verifier_for(keyring, clock)
    assert reason_of(verifier, _signed(keyring, clock, **claims)) is Reason.TOKEN_CLAIMS_INVALID


def test_audience_list_and_issuer_override(keyring: KeyRing, clock: FixedClock) -> None:
    verifier = verifier_for(keyring, clock)
    listed = _signed(keyring, clock, sub="x", role="owner", aud=["other", "attestgate"])
    assert verifier.verify(listed).role is Role.OWNER
    issuer = TrustedIssuer(
        issuer=keyring.dev_issuer_name, jwks=keyring.dev_issuer_jwks(), audience="special"
    )
    special = TokenVerifier([issuer], audience="attestgate", leeway=LEEWAY, clock=clock)
    assert reason_of(special, listed) is Reason.TOKEN_WRONG_AUDIENCE


def test_eddsa_header_naming_an_ec_key_is_refused(keyring: KeyRing, clock: FixedClock) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [{**public_jwk(ec_key.public_key()), "kid": "ec-1"}]}
    verifier = TokenVerifier(
        [TrustedIssuer(issuer="i", jwks=jwks)], audience="attestgate", leeway=LEEWAY, clock=clock
    )
    _, ed_key = keyring.dev_issuer_key
    now = int(clock.now().timestamp())
    claims = {"iss": "i", "aud": "attestgate", "exp": now + 60, "sub": "s", "role": "bank"}
    confused = jwt.encode(claims, ed_key, "EdDSA", {"kid": "ec-1"})
    assert reason_of(verifier, confused) is Reason.TOKEN_UNKNOWN_KEY
    good = jwt.encode(claims, ec_key, "ES256", {"kid": "ec-1"})
    assert verifier.verify(good).issuer == "i"


def test_sd_jwt_typed_tokens_are_not_bearer_tokens(keyring: KeyRing, clock: FixedClock) -> None:
    kid, key = keyring.dev_issuer_key
    now = int(clock.now().timestamp())
    claims = {"iss": keyring.dev_issuer_name, "aud": "attestgate", "exp": now + 60}
    typed = jwt.encode(
        {**claims, "sub": "s", "role": "bank"}, key, "EdDSA", {"kid": kid, "typ": "kb+jwt"}
    )
    assert reason_of(verifier_for(keyring, clock), typed) is Reason.TOKEN_MALFORMED


def test_certificate_binding() -> None:
    cert = b"\x30\x82der-bytes"
    bound = Principal(
        subject="b",  # type: ignore[arg-type]
        role=Role.BANK,
        issuer="i",
        expires_at=datetime.now().astimezone(),
        cnf_x5t=certificate_thumbprint(cert),
    )
    check_certificate_binding(bound, cert)
    for presented in (None, b"another certificate"):
        with pytest.raises(DomainError) as caught:
            check_certificate_binding(bound, presented)
        assert caught.value.reason is Reason.TOKEN_CERTIFICATE_MISMATCH


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), Reason.TOKEN_MISSING),
        ((("authorization", "Basic dXNlcjpwdw=="),), Reason.TOKEN_MALFORMED),
        ((("authorization", "Bearer "),), Reason.TOKEN_MALFORMED),
        ((("authorization", "Bearer a"), ("authorization", "Bearer b")), Reason.TOKEN_MALFORMED),
    ],
)
def test_bearer_header_parsing(metadata: Any, reason: Reason) -> None:
    with pytest.raises(DomainError) as caught:
        bearer_token(metadata)
    assert caught.value.reason is reason


def test_bearer_header_ok() -> None:
    assert (
        bearer_token((("x-other", "1"), ("authorization", "bearer abc.def.ghi"))) == "abc.def.ghi"
    )
