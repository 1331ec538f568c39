"""Bearer tokens with fuzzed claims, correctly signed by a trusted issuer (issue 14, section 4):
lone surrogates and odd text in ``sub``/``role``/``iss``, NumericDates far in the past or future,
huge, fractional, infinite or of the wrong type. The verifier either returns a principal whose
subject is valid Unicode and whose ``iat``/``nbf`` are not in the future, or refuses with a
``TOKEN_*`` reason, never another exception; over gRPC no such token ends in INTERNAL/UNKNOWN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import TrustedIssuer
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.v1 import consent_pb2
from tests.fuzz.harness import RPCS, Harness, build_world

pytestmark = pytest.mark.slow

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LEEWAY = timedelta(seconds=30)
FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)

_CHARS = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))  # with lone surrogates
TEXT = st.one_of(
    st.text(_CHARS, max_size=20),
    st.sampled_from(["alice", "²", "\ud800", "a\udfffb", " ", "bank", "owner", "regulator"]),
)
NUMERIC_DATE = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(int(NOW.timestamp()) - 10**6, int(NOW.timestamp()) + 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    TEXT,
    st.none(),
)


@st.composite
def claim_sets(draw: st.DrawFn, issuer: str) -> dict[str, Any]:
    """Claims around a valid set, with some replaced by fuzzed values."""
    now = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer, "sub": "alice", "aud": "attestgate", "role": "owner",
        "iat": now, "nbf": now, "exp": now + 600,
    }  # fmt: skip
    for name in ("sub", "role", "iss"):
        if draw(st.booleans()):
            claims[name] = draw(TEXT)
    for name in ("iat", "nbf", "exp"):
        if draw(st.booleans()):
            claims[name] = draw(NUMERIC_DATE)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(keyring: KeyRing, claims: dict[str, Any]) -> str:
    kid, key = keyring.dev_issuer_key
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """A dev issuer whose key signs the fuzzed tokens."""
    folder = tmp_path_factory.mktemp("tokens")
    return KeyRing.open_or_create(folder, clock=FixedClock(NOW), gateway_id="attestgate")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@settings(FUZZ, max_examples=600)
@given(data=st.data())
@example(data=None)  # replaced below by the explicit shapes of the issue
def test_verifier_outcomes(keyring: KeyRing, data: st.DataObject | None) -> None:
    issuer = TrustedIssuer(issuer=keyring.dev_issuer_name, jwks=keyring.dev_issuer_jwks())
    verifier = TokenVerifier([issuer], audience="attestgate", leeway=LEEWAY, clock=FixedClock(NOW))
    now = int(NOW.timestamp())
    if data is None:
        shapes: list[dict[str, Any]] = [
            {"sub": "\ud800"},
            {"sub": "alice\udfff"},
            {"iat": now + 3600},
            {"nbf": now + 3600},
        ]
        cases = [{**_base(keyring, now), **shape} for shape in shapes]
    else:
        cases = [data.draw(claim_sets(keyring.dev_issuer_name))]
    for claims in cases:
        try:  # any other exception fails the test
            principal = verifier.verify(_signed(keyring, claims))
        except DomainError as exc:
            refused: Reason | None = exc.reason
        else:
            refused = None
        if refused is not None:
            assert refused.value.startswith("TOKEN_"), (claims, refused)
            continue
        principal.subject.encode("utf-8")  # no lone surrogate got through
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if isinstance(value, int | float) and _is_number(value) and math.isfinite(value):
                assert value <= now + LEEWAY.total_seconds(), (name, claims)


def _base(keyring: KeyRing, now: int) -> dict[str, Any]:
    return {"iss": keyring.dev_issuer_name, "sub": "alice", "aud": "attestgate",
            "role": "owner", "iat": now, "nbf": now, "exp": now + 600}  # fmt: skip


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One live gateway for the gRPC half."""
    made = build_world(tmp_path_factory.mktemp("fuzz-tokens") / "gw", FixedClock(NOW))
    try:
        yield made
    finally:
        made.close()
        made.gw.close()


_LIST_ACTIVITY = next(r for r in RPCS if r.name == "ListActivity")


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_fuzzed_tokens_over_grpc(harness: Harness, data: st.DataObject) -> None:
    claims = data.draw(claim_sets(harness.gw.parts.keyring.dev_issuer_name))
    harness.metadata["fuzzed"] = (
        ("authorization", f"Bearer {_signed(harness.gw.parts.keyring, claims)}"),
    )
    outcome = harness.call(_LIST_ACTIVITY, "fuzzed", consent_pb2.ListActivityRequest())
    assert outcome.code in ("OK", "UNAUTHENTICATED", "PERMISSION_DENIED"), (claims, outcome)
