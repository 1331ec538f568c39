"""Bearer tokens from the future (issue 14, section 4, "Bearer ``iat`` in the future accepted").

A token whose ``iat`` (or ``nbf``) lies beyond now + ``token_leeway`` was minted by an issuer with a
wrong clock, or predated to outlive a revocation of its key: refused with ``TOKEN_NOT_YET_VALID``
as docs/errors.md promises. The gateway's clock is the test's fixed clock.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
import jwt
import pytest

from attestgate.v1 import consent_pb2
from tests.integration.test_foundation import error_info
from tests.security.world import World


def _token(world: World, **offsets: timedelta) -> str:
    now = world.gw.clock.now()
    times = {name: int((now + offset).timestamp()) for name, offset in offsets.items()}
    kid, key = world.gw.parts.keyring.dev_issuer_key
    expires = int((now + timedelta(hours=2)).timestamp())
    claims = {"iss": world.gw.parts.keyring.dev_issuer_name, "sub": "alice", "aud": "attestgate",
              "role": "owner", "exp": expires, **times}  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def _list_activity(world: World, token: str) -> None:
    with world.channel() as channel:
        stub = world.stubs(channel)[0]
        stub.ListActivity(
            consent_pb2.ListActivityRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=5,
        )


@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize("ahead", [timedelta(seconds=31), timedelta(hours=1), timedelta(days=400)])
def test_a_token_from_the_future_is_not_yet_valid(
    world: World, claim: str, ahead: timedelta
) -> None:
    assert world.gw.config.token_leeway == timedelta(seconds=30)
    size = world.log_size()
    with pytest.raises(grpc.RpcError) as caught:
        _list_activity(world, _token(world, **{claim: ahead}))
    code, reason, _ = error_info(caught.value)
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_NOT_YET_VALID")
    assert claim in (caught.value.details() or "")
    assert world.log_size() == size


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_within_the_leeway_a_token_is_accepted(world: World, claim: str) -> None:
    """The control: clocks a little apart (up to ``token_leeway``) are tolerated."""
    _list_activity(world, _token(world, **{claim: timedelta(seconds=30)}))
    _list_activity(world, _token(world, iat=timedelta(0), nbf=timedelta(0)))


def test_the_token_becomes_valid_once_its_time_has_come(world: World) -> None:
    token = _token(world, iat=timedelta(minutes=10))
    with pytest.raises(grpc.RpcError):
        _list_activity(world, token)
    world.gw.clock.advance(timedelta(minutes=10))
    _list_activity(world, token)  # refusals are not cached
