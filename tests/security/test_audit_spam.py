"""Audit-log spam: a bank floods RedeemAttestation with unsigned, forged presentations (a 256-char
``jti``, a 128-char ``transaction_ref``). Every attempt is refused with ATTESTATION_INVALID, but the
permanent log takes at most the caller's refusal budget of fixed-size leaves, carrying keyed hashes
instead of the caller's text; the leaves still account for every refusal, and what they leave out
is a metric; other callers keep their own budget; consent refusals share the bound; a forged
``jti`` never lands in another owner's activity."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.refusal_budget import SUPPRESSED_OBJECT
from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from attestgate.v1 import attestation_pb2
from tests.integration import live
from tests.integration.test_metrics import scrape
from tests.security.world import World, build

BURST = 200
FORGED_JTI_MARK = "forgedjti"
FORGED_REF_MARK = "forgedref"
HASHED = re.compile(r"p[tj]_[A-Za-z0-9_-]{22}")
ATTACKER_KEY = ec.generate_private_key(ec.SECP256R1())


def forged(n: int) -> tuple[str, str]:
    """An unsigned-by-the-gateway presentation with a maximal jti, and a maximal transaction ref."""
    jti = f"{FORGED_JTI_MARK}{n:05d}".ljust(256, "J")
    payload = {"iss": "attestgate", "jti": jti, "iat": 1, "exp": 4_000_000_000}
    token = jwt.encode(payload, ATTACKER_KEY, algorithm="ES256", headers={"kid": "k1"})
    return token + "~", f"{FORGED_REF_MARK}{n:05d}".ljust(128, "T")


def redeem(stub: Any, metadata: Any, presentation: str, ref: str) -> str:
    request = attestation_pb2.RedeemAttestationRequest(
        presentation=presentation, transaction_ref=ref
    )
    try:
        stub.RedeemAttestation(request, metadata=metadata, timeout=5)
    except grpc.RpcError as exc:
        return str(errors.from_rpc_error(exc).reason)
    return "ok"


def accounted(events: list[dict[str, Any]]) -> int:
    """Refusals the leaves account for: each leaf, plus the ones it says were left out."""
    return sum(1 + int(e["objects"].get(SUPPRESSED_OBJECT, "0")) for e in events)


def test_a_flood_of_forged_presentations_writes_bounded_hashed_leaves(world: World) -> None:
    config = world.gw.config
    before, size = world.snapshot(), world.log_size()
    metadata = world.metadata("bank", "bank-a")
    with world.channel() as channel:
        _, stub, _ = world.stubs(channel)
        started = time.monotonic()
        reasons = [redeem(stub, metadata, *forged(n)) for n in range(BURST)]
        elapsed = time.monotonic() - started
        flood = world.events_since(size)
        # The bucket refills (one leaf a second by default): the next refusal is a leaf again
        # and carries the count of those left out before it.
        time.sleep(60 / config.refusal_audit_per_minute + 0.05)
        assert redeem(stub, metadata, *forged(BURST)) == Reason.ATTESTATION_INVALID
    assert reasons == [Reason.ATTESTATION_INVALID] * BURST  # each one still answered, precisely
    assert world.snapshot() == before
    refill = math.ceil(elapsed * config.refusal_audit_per_minute / 60)
    assert config.refusal_audit_burst <= len(flood) <= config.refusal_audit_burst + refill
    events = world.events_since(size)
    assert len(events) == len(flood) + 1
    assert accounted(events) == BURST + 1
    # What the log left out is what the metric counts.
    assert world.gw.parts.refusal_budget.suppressed_total == BURST + 1 - len(events)
    for event in events:
        leaf = repr(event)
        assert FORGED_JTI_MARK not in leaf
        assert "JJJJJJJJ" not in leaf
        assert FORGED_REF_MARK not in leaf
        assert "TTTTTTTT" not in leaf
        assert (event["type"], event["decision"], event["actor_id"]) == (
            "attestation.refused",
            "deny",
            "bank-a",
        )
        assert event["reason"].startswith("ATTESTATION_INVALID:")
        assert event["subject"] is None
        assert set(event["objects"]) <= {
            "unverified_jti",
            "transaction_pseudonym",
            SUPPRESSED_OBJECT,
        }
        assert HASHED.fullmatch(event["objects"]["unverified_jti"])
        assert HASHED.fullmatch(event["objects"]["transaction_pseudonym"])
        assert len(leaf) < 400  # fixed size, whatever the caller sent


def test_another_caller_keeps_its_own_budget(world: World) -> None:
    with world.channel() as channel:
        _, stub, _ = world.stubs(channel)
        flooder = world.metadata("bank", "bank-a")
        for n in range(world.gw.config.refusal_audit_burst + 5):
            redeem(stub, flooder, *forged(n))
        size = world.log_size()
        assert redeem(stub, world.metadata("bank", "bank-b"), *forged(0)) == "ATTESTATION_INVALID"
    (event,) = world.events_since(size)
    assert event["actor_id"] == "bank-b"
    assert SUPPRESSED_OBJECT not in event["objects"]


def test_a_refusal_names_the_owner_only_for_the_attestation_s_holder(world: World) -> None:
    attestation = world.issue()
    now = world.gw.clock.now()
    thief_key = ec.generate_private_key(ec.SECP256R1())
    presentation = create_presentation(
        attestation.token,
        holder_key=thief_key,  # not the holder's key: the KB-JWT does not verify
        audience="attestgate",
        nonce=redemption_nonce(attestation.jti, "fx-1"),
        now=now,
    )
    owner = world.gw.parts.trail.pseudonym("alice")
    with world.channel() as channel:
        _, stub, _ = world.stubs(channel)
        for bank, subject in (("bank-b", None), ("bank-a", owner)):
            size = world.log_size()
            reason = redeem(stub, world.metadata("bank", bank), presentation, "fx-1")
            assert reason == Reason.ATTESTATION_INVALID
            (event,) = world.events_since(size)
            assert event["subject"] == subject, bank
            assert attestation.jti not in repr(event)  # unverified: hashed even when real


def test_consent_refusals_draw_from_the_same_budget(world: World) -> None:
    burst = world.gw.config.refusal_audit_burst
    owner = world.gw.owner("mallory")
    size = world.log_size()
    for _ in range(burst + 30):
        with pytest.raises(errors.AttestgateError):
            owner.approve(world.consent.request_id)  # alice's request: not mallory's to approve
    events = world.events_since(size)
    assert burst <= len(events) <= burst + 2  # refills within the (sub-second) loop
    assert {e["type"] for e in events} == {"consent.approved"}
    assert {e["decision"] for e in events} == {"deny"}


def test_what_the_log_leaves_out_is_a_metric(tmp_path: Path, clock: FixedClock) -> None:
    gw = live.start_live(
        tmp_path / "gw",
        clock,
        metrics="127.0.0.1:0",
        refusal_audit_per_minute=1,
        refusal_audit_burst=2,
    )
    try:
        world = build(gw)
        size = world.log_size()
        with world.channel() as channel:
            _, stub, _ = world.stubs(channel)
            metadata = world.metadata("bank", "bank-a")
            assert {redeem(stub, metadata, *forged(n)) for n in range(7)} == {"ATTESTATION_INVALID"}
        assert len(world.events_since(size)) == 2
        samples = scrape(gw.metrics_port)
        assert samples[("attestgate_audit_refusals_unlogged_total", ())] == 5
    finally:
        gw.close()
