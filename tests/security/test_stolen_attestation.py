"""A stolen attestation redeemed without the holder key. The token leaks (logs, a compromised
front end); the thief, who is a bank too, presents it without a KB-JWT, with a KB-JWT signed by
its own key, or with the holder's KB-JWT altered. All fail as ATTESTATION_INVALID and are audited;
the attestation stays ISSUED and its rightful holder still redeems it."""

from __future__ import annotations

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.reasons import Reason
from attestgate.sdk import AttestationState, errors
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import attestation_pb2
from tests.security.world import World


def test_a_stolen_token_is_useless_without_the_holder_key(world: World) -> None:
    attestation = world.issue()
    token = attestation.token
    nonce = redemption_nonce(attestation.jti, "fx-1")
    now = world.gw.clock.now()
    own_key = ec.generate_private_key(ec.SECP256R1())
    signed_by_thief = create_presentation(
        token, holder_key=own_key, audience="attestgate", nonce=nonce, now=now
    )
    genuine = create_presentation(
        token, holder_key=world.bank.holder_key, audience="attestgate", nonce=nonce, now=now
    )
    head, _, signature = genuine.rpartition(".")
    flipped = "A" if signature[0] != "A" else "B"
    presentations = {
        "no key binding": token,
        "bound to the thief's key": signed_by_thief,
        "holder's KB-JWT, signature altered": f"{head}.{flipped}{signature[1:]}",
    }
    before, size = world.snapshot(), world.log_size()
    with world.channel() as channel:
        _, attestations, _ = world.stubs(channel)
        for thief in ("bank-a", "bank-b"):  # an insider with the token, or another bank
            for name, presentation in presentations.items():
                request = attestation_pb2.RedeemAttestationRequest(
                    presentation=presentation, transaction_ref="fx-1"
                )
                try:
                    attestations.RedeemAttestation(
                        request, metadata=world.metadata("bank", thief), timeout=5
                    )
                except grpc.RpcError as exc:
                    reason = errors.from_rpc_error(exc).reason
                    assert reason == Reason.ATTESTATION_INVALID, (thief, name, reason)
                else:
                    raise AssertionError(f"{thief}: {name} was redeemed")
    assert world.snapshot() == before
    assert [e["decision"] for e in world.events_since(size)] == ["deny"] * 6
    assert world.bank.get_attestation(attestation.jti).state == AttestationState.ISSUED
    assert world.bank.redeem(attestation, transaction_ref="fx-1").jti == attestation.jti
