"""A bank acting on another bank's consent: bank-b knows the ids of bank-a's consent and
attestation (ids leak; they are not secrets) and tries every bank call on them. Each is refused
with NOT_CONSENT_GRANTEE / NOT_ATTESTATION_HOLDER, nothing changes, and each well-formed attempt is
in the audit log for alice and the regulator to see."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import attestation_pb2
from tests.security.world import FX, World


def test_another_banks_consent_is_out_of_reach(world: World) -> None:
    attestation = world.issue()
    thief = world.gw.bank("bank-b")
    consent_id = world.consent.id
    grantee, holder = Reason.NOT_CONSENT_GRANTEE, Reason.NOT_ATTESTATION_HOLDER
    attempts: dict[str, tuple[Callable[[], object], Reason]] = {
        "read the consent": (lambda: thief.get_consent(consent_id), grantee),
        "issue under it": (lambda: thief.issue(consent_id, params=FX), grantee),
        "read the attestation": (lambda: thief.get_attestation(attestation.jti), holder),
    }
    before, size = world.snapshot(), world.log_size()
    for name, (attempt, reason) in attempts.items():
        with pytest.raises(errors.PermissionDenied) as caught:
            attempt()
        assert caught.value.reason == reason, name
    assert world.snapshot() == before
    denied = [e for e in world.events_since(size) if e["decision"] == "deny"]
    assert {e["actor_id"] for e in denied} == {"bank-b"}  # the issue attempt is audited
    assert thief.list_consents() == []  # and bank-b's lists never show bank-a's objects
    assert world.bank.get_consent(consent_id).uses == 0  # bank-b's issue used nothing


def test_another_banks_presentation_cannot_be_redeemed_by_the_thief(world: World) -> None:
    """bank-b replays bank-a's finished presentation under its own token."""
    attestation = world.issue()
    presentation = create_presentation(
        attestation.token,
        holder_key=world.bank.holder_key,
        audience="attestgate",
        nonce=redemption_nonce(attestation.jti, "fx-1"),
        now=world.gw.clock.now(),
    )
    before = world.snapshot()
    with world.channel() as channel:
        _, attestations, _ = world.stubs(channel)
        request = attestation_pb2.RedeemAttestationRequest(
            presentation=presentation, transaction_ref="fx-1"
        )
        with pytest.raises(grpc.RpcError) as caught:
            attestations.RedeemAttestation(
                request, metadata=world.metadata("bank", "bank-b"), timeout=5
            )
    assert errors.from_rpc_error(caught.value).reason == Reason.NOT_ATTESTATION_HOLDER
    assert world.snapshot() == before
    assert world.bank.redeem(attestation, transaction_ref="fx-1").jti == attestation.jti
