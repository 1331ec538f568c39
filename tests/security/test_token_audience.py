"""Tokens made for another audience: a bearer token for another gateway, a presentation whose
KB-JWT names another verifier, and an attestation that another gateway issued. Each is refused;
an attestation presented to the wrong audience stays ISSUED for the right one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from attestgate.gateway.common.auth import issue_dev_token
from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import AttestationState
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import attestation_pb2, consent_pb2
from tests.integration import live
from tests.security.world import World, build, reason_of


def _redeem(world: World, presentation: str, ref: str = "fx-1") -> str:
    with world.channel() as channel:
        _, attestations, _ = world.stubs(channel)
        request = attestation_pb2.RedeemAttestationRequest(
            presentation=presentation, transaction_ref=ref
        )
        try:
            attestations.RedeemAttestation(
                request, metadata=world.metadata("bank", "bank-a"), timeout=5
            )
        except grpc.RpcError as error:
            return reason_of(error)
    return "ok"


def test_a_bearer_token_for_another_gateway(world: World) -> None:
    token = issue_dev_token(
        world.gw.parts.keyring, role="bank", sub="bank-a", ttl=timedelta(hours=1),
        now=world.gw.clock.now(), audience="another-gateway",
    )  # fmt: skip
    with world.channel() as channel:
        consents, _, _ = world.stubs(channel)
        with pytest.raises(grpc.RpcError) as caught:
            consents.GetConsent(
                consent_pb2.GetConsentRequest(name=f"consents/{world.consent.id}"),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=5,
            )
    assert reason_of(caught.value) == "TOKEN_WRONG_AUDIENCE"


def test_a_presentation_for_another_verifier(world: World) -> None:
    attestation = world.issue()
    elsewhere = create_presentation(
        attestation.token,
        holder_key=world.bank.holder_key,
        audience="another-gateway",
        nonce=redemption_nonce(attestation.jti, "fx-1"),
        now=world.gw.clock.now(),
    )
    size = world.log_size()
    assert _redeem(world, elsewhere) == "ATTESTATION_INVALID"
    (event,) = world.events_since(size)
    assert event["decision"] == "deny"
    assert event["reason"].startswith("ATTESTATION_INVALID:")  # the precise code is audited
    assert world.bank.get_attestation(attestation.jti).state == AttestationState.ISSUED
    assert world.bank.redeem(attestation, transaction_ref="fx-1").jti == attestation.jti


def test_an_attestation_issued_by_another_gateway(
    world: World, tmp_path: Path, clock: FixedClock
) -> None:
    other = live.start_live(tmp_path / "other", clock)  # its own keys, same gateway id
    try:
        elsewhere = build(other)
        stranger = elsewhere.issue()
        presentation = create_presentation(
            stranger.token,
            holder_key=elsewhere.bank.holder_key,
            audience="attestgate",
            nonce=redemption_nonce(stranger.jti, "fx-1"),
            now=clock.now(),
        )
    finally:
        other.close()
    before = world.snapshot()
    assert _redeem(world, presentation) == "ATTESTATION_INVALID"
    assert world.snapshot() == before
