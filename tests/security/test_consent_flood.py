"""Consent-request flood: one bank cannot bury other banks' requests in an owner's inbox
(issue 14, section 4).

Observed before: unlimited requests per bank and owner; 300 spam requests hid the legitimate ones
from the portal's first 100. Now a bank may have ``max_pending_requests`` (default 10) undecided
requests to one owner; beyond, ``TOO_MANY_PENDING_REQUESTS`` and nothing changes.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import grpc
import pytest

from attestgate.consent.model import PENDING_REQUEST_LIFETIME
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.protocol.reasons import Reason
from attestgate.sdk import BankClient, ConsentRequest
from attestgate.sdk.errors import AttestgateError, TooManyPendingRequests
from attestgate.v1 import consent_pb2
from tests.integration.live import FX_BOUNDS, fx_bounds_pb
from tests.security.world import World, reason_of

LIMIT = GatewayConfig().max_pending_requests


def ask(bank: BankClient, owner: str = "alice", request_id: str | None = None) -> ConsentRequest:
    """One income consent request of ``bank`` to ``owner``."""
    return bank.request_consent(
        owner=owner,
        domain="income",
        purpose="fx_purchase",
        bounds=FX_BOUNDS,
        claims=["covers_amount"],
        request_id=request_id,
    )


def test_a_bank_may_not_flood_an_owner(world: World) -> None:
    spam = [ask(world.bank) for _ in range(LIMIT)]
    before, size = world.snapshot(), world.log_size()

    with pytest.raises(TooManyPendingRequests) as refused:
        ask(world.bank)
    assert refused.value.code == "RESOURCE_EXHAUSTED"
    assert refused.value.reason is Reason.TOO_MANY_PENDING_REQUESTS
    assert refused.value.metadata == {"limit": str(LIMIT)}
    assert "once the owner has approved or rejected some" in refused.value.message
    channel = world.channel()  # the raw status carries the reason too
    try:
        consents, _, _ = world.stubs(channel)
        draft = consent_pb2.ConsentRequest(
            owner="alice",
            domain="income",
            purpose="fx_purchase",
            claims=["covers_amount"],
            bounds=fx_bounds_pb(),
        )
        with pytest.raises(grpc.RpcError) as raw:
            consents.CreateConsentRequest(
                consent_pb2.CreateConsentRequestRequest(consent_request=draft),
                metadata=world.metadata("bank", "bank-a"),
                timeout=10,
            )
        assert raw.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason_of(raw.value) == "TOO_MANY_PENDING_REQUESTS"
    finally:
        channel.close()
    assert world.snapshot() == before
    assert world.log_size() == size  # refused floods do not become audit leaves either

    legitimate = ask(world.gw.bank("bank-b"))  # another bank still reaches the owner
    assert ask(world.bank, owner="bob").owner == "bob"  # and this bank other owners
    inbox = {r.id for r in world.gw.owner("alice").pending_requests()}
    assert legitimate.id in inbox
    assert inbox == {r.id for r in spam} | {legitimate.id}


def test_the_limit_frees_up_as_the_owner_decides_or_requests_expire(world: World) -> None:
    spam = [ask(world.bank) for _ in range(LIMIT)]
    with pytest.raises(TooManyPendingRequests):
        ask(world.bank)
    world.gw.owner("alice").reject(spam[0].id)
    ask(world.bank)
    with pytest.raises(TooManyPendingRequests):
        ask(world.bank)
    world.gw.clock.advance(PENDING_REQUEST_LIFETIME + timedelta(seconds=1))
    bank = world.gw.bank("bank-a")  # tokens follow the clock
    assert [ask(bank).owner for _ in range(LIMIT)] == ["alice"] * LIMIT


def test_a_resent_request_is_answered_at_the_limit(world: World) -> None:
    first = ask(world.bank, request_id="req-0")
    for i in range(1, LIMIT):
        ask(world.bank, request_id=f"req-{i}")
    assert ask(world.bank, request_id="req-0").id == first.id  # a retry is no new request
    with pytest.raises(TooManyPendingRequests):
        ask(world.bank, request_id="req-new")


def test_concurrent_requests_never_exceed_the_limit(world: World) -> None:
    barrier = threading.Barrier(2 * LIMIT)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait(timeout=10)
        try:
            ask(world.bank)
            outcome = "created"
        except AttestgateError as exc:
            outcome = str(exc.reason)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(2 * LIMIT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["TOO_MANY_PENDING_REQUESTS"] * LIMIT + ["created"] * LIMIT
    assert len(world.gw.owner("alice").pending_requests()) == LIMIT
