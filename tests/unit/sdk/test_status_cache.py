"""``attestgate.sdk.status``: cached Status List Tokens are reused while fresh (iat + ttl),
refetched after, used offline within the freshness bound (never past exp), and refused when
they do not verify; a status reference must point at the issuer's own lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.encoding import JsonInput
from attestgate.protocol.jose import Jwks, sign_jws
from attestgate.protocol.status_list import (
    Status,
    StatusList,
    StatusReference,
    reference_claim,
    sign_status_list_token,
)
from attestgate.sdk.errors import InvalidAttestation, Unavailable
from attestgate.sdk.status import StatusLists, status_reference

ISSUER = "https://issuer.example"
URI = f"{ISSUER}/status-lists/1"
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = Jwks({"k": KEY.public_key()})


class Server:
    """A status list endpoint: serves the current token, counts fetches, can go down."""

    def __init__(self) -> None:
        self.list = StatusList.new(1024, 2)
        self.now = T0
        self.fetches = 0
        self.down = False

    def token(self, *, ttl: int = 60, exp: int = 86400) -> str:
        iat = int(self.now.timestamp())
        return sign_status_list_token(
            KEY,
            kid="k",
            uri=URI,
            iat=iat,
            ttl=ttl,
            exp=iat + exp,
            status_list=self.list,
            iss=ISSUER,
        )

    def fetch(self, uri: str) -> str:
        assert uri == URI
        if self.down:
            raise OSError("unreachable")
        self.fetches += 1
        return self.token()


@pytest.fixture
def server() -> Server:
    return Server()


def lookup(cache: StatusLists, idx: int = 3, *, offline: bool = False) -> Status:
    return cache.lookup(StatusReference(URI, idx), jwks=JWKS, issuer=ISSUER, offline=offline).status


def test_a_fresh_list_is_reused_then_refetched_after_its_ttl(server: Server) -> None:
    clock = [T0]
    cache = StatusLists(server.fetch, clock=lambda: clock[0])
    assert lookup(cache) is Status.VALID
    server.list.set(3, Status.INVALID)
    clock[0] = T0 + timedelta(seconds=59)
    assert lookup(cache) is Status.VALID  # still within ttl: no fetch
    assert server.fetches == 1
    clock[0] = server.now = T0 + timedelta(seconds=61)
    found = cache.lookup(StatusReference(URI, 3), jwks=JWKS, issuer=ISSUER)
    assert (found.status, found.iat, server.fetches) == (Status.INVALID, server.now, 2)


def test_offline_a_cached_list_serves_within_the_freshness_bound(server: Server) -> None:
    clock = [T0]
    cache = StatusLists(server.fetch, clock=lambda: clock[0], max_age=timedelta(minutes=10))
    server.list.set(3, Status.SUSPENDED)
    assert lookup(cache) is Status.SUSPENDED
    server.down = True
    clock[0] = T0 + timedelta(minutes=9)
    assert lookup(cache) is Status.SUSPENDED  # stale, unreachable, within max_age
    assert lookup(cache, offline=True) is Status.SUSPENDED
    clock[0] = T0 + timedelta(minutes=11)
    with pytest.raises(Unavailable, match="freshness bound"):
        lookup(cache)
    with pytest.raises(Unavailable):
        lookup(StatusLists(server.fetch, clock=lambda: clock[0]), offline=True)


def test_a_list_is_never_used_past_its_exp(server: Server) -> None:
    clock = [T0]
    cache = StatusLists(server.fetch, clock=lambda: clock[0], max_age=timedelta(days=7))
    cache.put(server.token(exp=300), uri=URI, jwks=JWKS, issuer=ISSUER)
    server.down = True
    clock[0] = T0 + timedelta(seconds=299)
    assert lookup(cache) is Status.VALID
    clock[0] = T0 + timedelta(seconds=300)
    with pytest.raises(Unavailable):
        lookup(cache)


def test_a_list_that_does_not_verify_is_refused(server: Server) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    forged = sign_status_list_token(
        other, kid="k", uri=URI, iat=int(T0.timestamp()), status_list=server.list, iss=ISSUER
    )
    cache = StatusLists(lambda _uri: forged, clock=lambda: T0)
    with pytest.raises(InvalidAttestation, match="not acceptable"):
        lookup(cache)
    with pytest.raises(InvalidAttestation):
        lookup(StatusLists(server.fetch, clock=lambda: T0), idx=1024)


def _attestation(status: JsonInput) -> str:
    payload: dict[str, JsonInput] = {"iss": ISSUER}
    if status is not None:
        payload["status"] = status
    return sign_jws({"alg": "ES256", "typ": "dc+sd-jwt"}, payload, KEY) + "~"


def test_a_status_reference_must_name_a_list_of_the_issuer() -> None:
    ref = status_reference(_attestation(reference_claim(URI, 9)), ISSUER)
    assert ref == StatusReference(URI, 9)
    assert status_reference(_attestation(None), ISSUER) is None
    with pytest.raises(InvalidAttestation, match="not its issuer's"):
        status_reference(_attestation(reference_claim("https://evil.example/l/1", 9)), ISSUER)
    with pytest.raises(InvalidAttestation, match="no usable status"):
        status_reference(_attestation({"status_list": {"idx": -1, "uri": URI}}), ISSUER)
