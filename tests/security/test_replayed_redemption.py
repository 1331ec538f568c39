"""A replayed redemption: the same presentation sent again, the same KB-JWT for another
transaction, and a fresh KB-JWT for the spent attestation. The attestation is redeemed once,
capacity is consumed once, and every replay is refused and audited."""

from __future__ import annotations

import grpc
import pytest

from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import attestation_pb2
from tests.security.world import World


def _consumed(world: World) -> int:
    row = (
        world.gw.parts.storage.read()
        .execute("SELECT consumed FROM capacity WHERE record_id = 'inc-2025'")
        .fetchone()
    )
    return int(row[0])


def test_a_redemption_cannot_be_replayed(world: World) -> None:
    attestation = world.issue()
    presentation = create_presentation(
        attestation.token,
        holder_key=world.bank.holder_key,
        audience="attestgate",
        nonce=redemption_nonce(attestation.jti, "fx-1"),
        now=world.gw.clock.now(),
    )
    metadata = world.metadata("bank", "bank-a")
    with world.channel() as channel:
        _, attestations, _ = world.stubs(channel)

        def redeem(ref: str, text: str = presentation) -> str:
            request = attestation_pb2.RedeemAttestationRequest(
                presentation=text, transaction_ref=ref
            )
            try:
                attestations.RedeemAttestation(request, metadata=metadata, timeout=5)
            except grpc.RpcError as exc:
                return str(errors.from_rpc_error(exc).reason)
            return "ok"

        assert redeem("fx-1") == "ok"
        consumed = _consumed(world)
        before, size = world.snapshot(), world.log_size()
        assert redeem("fx-1") == Reason.ATTESTATION_ALREADY_REDEEMED  # the very same bytes
        assert redeem("fx-2") == Reason.ATTESTATION_INVALID  # KB-JWT nonce is bound to fx-1
    with pytest.raises(errors.AlreadyRedeemed):  # a fresh, valid KB-JWT for a new transaction
        world.bank.redeem(attestation, transaction_ref="fx-3")
    assert world.snapshot() == before
    assert _consumed(world) == consumed > 0
    events = world.events_since(size)
    assert [e["decision"] for e in events] == ["deny"] * 3
    assert world.bank.get_attestation(attestation.jti).transaction_ref == "fx-1"
