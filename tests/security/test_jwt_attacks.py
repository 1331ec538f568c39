"""JWT attacks on the bearer token (RFC 8725) against the real services: the foundation's attack
corpus (``tests/integration/test_foundation.py``: alg none, HS256 with the public key, unknown
and forged kids, expiry, issuer, audience, role, tampering) aimed at state-changing RPCs, plus
header tricks the corpus lacks (an embedded ``jwk``, a ``jku``/``x5u`` pointing elsewhere, a path
in ``kid``, crit, deep nesting). Every one is refused before the servicer runs: nothing changes,
not even the audit log."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestgate.protocol.jose import public_jwk
from attestgate.v1 import attestation_pb2, common_pb2, consent_pb2
from tests.integration.conftest import RunningGateway
from tests.integration.test_foundation import ATTACKS, b64
from tests.security.world import World, reason_of


def _as_running(world: World) -> RunningGateway:
    gw = world.gw
    return RunningGateway(gw.gateway.server, gw.config, gw.parts.keyring, gw.clock)


def _claims(world: World) -> dict[str, Any]:
    now = int(world.gw.clock.now().timestamp())
    return {"iss": world.gw.parts.keyring.dev_issuer_name, "sub": "bank-a", "aud": "attestgate",
            "role": "bank", "iat": now, "nbf": now, "exp": now + 600}  # fmt: skip


def _embedded_jwk(world: World) -> str:
    # The attacker signs with its own key and ships it in the header (CVE-2018-0114 style).
    key = ed25519.Ed25519PrivateKey.generate()
    kid, _ = world.gw.parts.keyring.dev_issuer_key
    raw = key.public_key().public_bytes_raw()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    return jwt.encode(_claims(world), key, algorithm="EdDSA", headers={"kid": kid, "jwk": jwk})


def _remote_key(world: World) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    headers = {"kid": "evil", "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c"}
    return jwt.encode(_claims(world), key, algorithm="EdDSA", headers=headers)


def _kid_path(world: World) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return jwt.encode(_claims(world), key, algorithm="EdDSA", headers={"kid": "../keys/note"})


def _deep_header(world: World) -> str:
    header = "{" + '"x":' + "[" * 1500 + "]" * 1500 + "}"  # past the json recursion limit
    raw = base64.urlsafe_b64encode(header.encode()).decode().rstrip("=")
    return f"{raw}.{b64(_claims(world))}.c2ln"


def _es256_with_an_unknown_key(world: World) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key.public_key())
    return jwt.encode(_claims(world), key, algorithm="ES256", headers={"kid": "x", "jwk": jwk})


EXTRA: dict[str, Callable[[World], str]] = {
    "embedded jwk": _embedded_jwk,
    "jku and x5u": _remote_key,
    "kid is a path": _kid_path,
    "deeply nested header": _deep_header,
    "ES256 with its own key": _es256_with_an_unknown_key,
}


def _attempts(world: World, token: str | None) -> list[tuple[str, Callable[[], object]]]:
    """State-changing calls of a bank (the corpus tokens are bank tokens of ``bank-a``)."""
    channel = world.channel()
    consents, attestations, _ = world.stubs(channel)
    metadata = [] if token is None else [("authorization", f"Bearer {token}")]
    create = consent_pb2.CreateConsentRequestRequest(
        consent_request=consent_pb2.ConsentRequest(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
    )
    issue = attestation_pb2.IssueAttestationRequest(
        consent=f"consents/{world.consent.id}",
        params={
            "amount": common_pb2.Value(int_value=100),
            "currency": common_pb2.Value(string_value="USD"),
        },
        holder_jwk=json.dumps(public_jwk(world.bank.holder_key.public_key())),
    )
    return [
        ("create", lambda: consents.CreateConsentRequest(create, metadata=metadata, timeout=5)),
        ("issue", lambda: attestations.IssueAttestation(issue, metadata=metadata, timeout=5)),
    ]


def _refused(world: World, token: str | None) -> set[str]:
    before, size = world.snapshot(), world.log_size()
    reasons = set()
    for name, attempt in _attempts(world, token):
        with pytest.raises(grpc.RpcError) as caught:
            attempt()
        assert caught.value.code() in (
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
        ), name
        reasons.add(reason_of(caught.value))
    assert world.snapshot() == before
    assert world.log_size() == size  # refused at the door: not even audited
    return reasons


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_foundation_corpus_changes_nothing(world: World, attack: str) -> None:
    make_token, _, reason = ATTACKS[attack]
    assert _refused(world, make_token(_as_running(world))) == {reason.value}


@pytest.mark.parametrize("attack", sorted(EXTRA))
def test_header_tricks_are_refused(world: World, attack: str) -> None:
    reasons = _refused(world, EXTRA[attack](world))
    assert reasons <= {"TOKEN_UNKNOWN_KEY", "TOKEN_MALFORMED", "TOKEN_SIGNATURE_INVALID",
                       "TOKEN_ALGORITHM_NOT_ALLOWED"}, reasons  # fmt: skip


def test_the_control_token_passes(world: World) -> None:
    """The same calls with a genuine token succeed: the refusals above are the token's doing."""
    token = world.gw.token("bank", "bank-a")
    for _, attempt in _attempts(world, token):
        attempt()
