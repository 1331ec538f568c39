"""An owner acting on another owner's consent: mallory knows the ids of alice's pending request
and active consent and tries to decide, pause, resume, revoke or read them. Each is refused with
NOT_CONSENT_OWNER, nothing changes, the attempts are audited, and mallory's own lists and activity
show nothing of alice."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from attestgate.protocol.reasons import Reason
from attestgate.sdk import ConsentState, errors
from tests.security.world import World


def test_another_owners_consent_is_out_of_reach(world: World) -> None:
    pending = world.bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
    )
    mallory = world.gw.owner("mallory")
    consent_id = world.consent.id
    attempts: dict[str, Callable[[], object]] = {
        "approve": lambda: mallory.approve(pending.id),
        "reject": lambda: mallory.reject(pending.id),
        "pause": lambda: mallory.pause(consent_id),
        "resume": lambda: mallory.resume(consent_id),
        "revoke": lambda: mallory.revoke(consent_id),
        "read": lambda: mallory.get_consent(consent_id),
    }
    before, size = world.snapshot(), world.log_size()
    for name, attempt in attempts.items():
        with pytest.raises(errors.PermissionDenied) as caught:
            attempt()
        assert caught.value.reason == Reason.NOT_CONSENT_OWNER, name
    assert world.snapshot() == before
    denied = [e for e in world.events_since(size) if e["decision"] == "deny"]
    assert len(denied) == 5  # every decision attempt is audited (reads are not events)
    assert mallory.list_consents() == []
    assert mallory.pending_requests() == []
    assert mallory.activity() == []  # alice's events are about alice, not mallory
    alice = world.gw.owner("alice")
    assert alice.get_consent(consent_id).state == ConsentState.ACTIVE
    assert [r.id for r in alice.pending_requests()] == [pending.id]
