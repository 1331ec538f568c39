"""An EXHAUSTED consent is final as docs/consent.md says, over a real gateway (SQLite and
PostgreSQL): pause and resume are refused with ``CONSENT_EXHAUSTED`` and write nothing, not even
an audit leaf; revoke still works; ``ListConsents`` filtered by a state returns exactly the
consents the SDK shows in it; the portal offers no pause or resume on an exhausted consent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import Consent, ConsentState, errors
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.portal_client import PortalSession
from tests.security.world import World, build

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gw = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        yield build(gw)
    finally:
        gw.close()


def exhausted(world: World) -> Consent:
    """A fresh consent of alice for bank-a with its one use spent."""
    attestation = world.issue()
    consent = world.bank.get_consent(attestation.consent_id)
    assert (consent.state, consent.uses, consent.max_uses) == (ConsentState.EXHAUSTED, 1, 1)
    return consent


def test_pause_and_resume_of_an_exhausted_consent_are_refused_and_write_nothing(
    world: World,
) -> None:
    consent = exhausted(world)
    owner = world.gw.owner("alice")
    state, size = world.snapshot(), world.log_size()
    changes: list[Callable[[str], Consent]] = [owner.pause, owner.resume]
    for change in changes:
        with pytest.raises(errors.FailedPrecondition) as refused:
            change(consent.id)
        assert refused.value.reason == "CONSENT_EXHAUSTED"
        assert refused.value.code == "FAILED_PRECONDITION"
        assert "used up" in refused.value.message
        assert "new consent request" in refused.value.message
    assert world.snapshot() == state
    assert world.log_size() == size  # no refusal leaf: such a change could change nothing
    assert owner.get_consent(consent.id).state is ConsentState.EXHAUSTED
    assert owner.revoke(consent.id).state is ConsentState.REVOKED  # the one step left to it
    assert world.log_size() == size + 2  # the revocation, and its attestation turning INVALID


def test_list_consents_filters_by_the_state_the_sdk_shows(world: World) -> None:
    active = world.consent
    spent = exhausted(world)
    owner = world.gw.owner("alice")
    asked = world.bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
    )
    paused = owner.pause(owner.approve(asked.id).id)
    for client in (world.bank, owner):
        everything = client.list_consents()
        assert {c.id: c.state for c in everything} == {
            active.id: ConsentState.ACTIVE,
            spent.id: ConsentState.EXHAUSTED,
            paused.id: ConsentState.PAUSED,
        }
        for state in ConsentState:
            listed = client.list_consents(state=state)
            assert [c.id for c in listed] == [c.id for c in everything if c.state is state]
            assert all(c.state is state for c in listed)
        assert [c.id for c in client.list_consents(state=ConsentState.ACTIVE)] == [active.id]
        assert [c.id for c in client.list_consents(state=ConsentState.EXHAUSTED)] == [spent.id]


def test_the_portal_offers_no_pause_or_resume_on_an_exhausted_consent(
    tmp_path: Path, clock: FixedClock
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, portal="127.0.0.1:0")
    try:
        world = build(gw)
        spent = exhausted(world)
        browser = PortalSession.of(gw)
        assert browser.sign_in_with(gw.token("owner", "alice")).status == 303
        page = browser.request("GET", "/owner/consents").body
        assert f'id="pause-{world.consent.id}"' in page  # an ACTIVE consent can be paused
        assert f'id="pause-{spent.id}"' not in page
        assert f'id="resume-{spent.id}"' not in page
        assert f'id="revoke-{spent.id}"' in page
        size = world.log_size()
        refused = browser.post(f"/owner/consents/{spent.id}/pause")
        assert refused.status == 409
        assert "CONSENT_EXHAUSTED" in refused.body
        assert world.log_size() == size
    finally:
        gw.close()
