"""Issue 20 item 5 over HTTPS, without a browser: the owner's receipt route
(``GET /owner/consents/{id}/receipt/approved|revoked``) answers 409 "not ready yet" while no
signed checkpoint covers the step (and hands out nothing), 404 for a step that did not happen or
is not a step, refuses another owner's consent, and once a checkpoint covers the step serves a
file that ``verify_consent_receipt`` accepts. The Chromium test (tests/browser/
test_portal_receipts.py) covers the download links in both languages."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import verify_consent_receipt
from attestgate.sdk.types import ClaimValue
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.portal_client import PortalSession, Reply

OWNER = "alice"
PORTAL = "127.0.0.1:0"
BOUNDS: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}


def _approved_consent(gw: LiveGateway) -> str:
    gw.provider("tax-bureau").put_record(
        domain="income", subject=OWNER, record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    made = gw.bank("bank-a").request_consent(
        owner=OWNER,
        domain="income",
        purpose="fx_purchase",
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
        bounds=BOUNDS,
    )
    return gw.owner(OWNER).approve(made.id).id


def _signed_in(gw: LiveGateway, sub: str) -> PortalSession:
    session = PortalSession.of(gw)
    assert session.sign_in_with(gw.token("owner", sub)).status == 303
    return session


def _receipt(session: PortalSession, consent_id: str, step: str, lang: str = "en") -> Reply:
    return session.request(
        "GET", f"/owner/consents/{consent_id}/receipt/{step}", accept_language=lang
    )


@pytest.mark.timeout(30)
def test_receipt_waits_for_a_checkpoint(tmp_path: Path, clock: FixedClock) -> None:
    # One checkpoint an hour: the approval is logged but no checkpoint covers it yet.
    hourly = {"checkpoint_interval": timedelta(hours=1)}
    with contextmanager(live.live_gateway)(tmp_path, clock, portal=PORTAL, **hourly) as gw:
        consent_id = _approved_consent(gw)
        session = _signed_in(gw, OWNER)
        pending = _receipt(session, consent_id, "approved")
        assert pending.status == 409, pending.body
        assert "The receipt is not ready yet" in pending.body
        assert "eyJ" not in pending.body  # no artefact handed out
        assert pending.headers.get("content-disposition") is None
        chinese = _receipt(session, consent_id, "approved", lang="zh-CN")
        assert chinese.status == 409
        assert "收据尚未就绪" in chinese.body


@pytest.mark.timeout(30)
def test_receipt_route_serves_only_the_owners_logged_steps(
    tmp_path: Path, clock: FixedClock
) -> None:
    with contextmanager(live.live_gateway)(tmp_path, clock, portal=PORTAL) as gw:
        consent_id = _approved_consent(gw)
        session = _signed_in(gw, OWNER)
        not_revoked = _receipt(session, consent_id, "revoked")
        assert not_revoked.status == 404
        assert "There is no receipt for this step" in not_revoked.body
        assert _receipt(session, consent_id, "issued").status == 404
        # Another owner gets nothing of alice's consent.
        other = _receipt(_signed_in(gw, "bob"), consent_id, "approved")
        assert other.status in (403, 404), other.status
        assert "eyJ" not in other.body

        deadline = time.monotonic() + 5
        reply = _receipt(session, consent_id, "approved")
        while reply.status == 409 and time.monotonic() < deadline:
            time.sleep(0.05)  # checkpoints are signed every 20 ms in these tests
            reply = _receipt(session, consent_id, "approved")
        assert reply.status == 200, reply.body
        disposition = reply.headers.get("content-disposition", "")
        assert f'filename="attestgate-consent-{consent_id}-approved.receipt"' in disposition
        verified = verify_consent_receipt(reply.body, vkey=gw.vkey, origin=gw.config.log_origin)
        assert verified.event == "consent.approved"
        assert verified.terms["consent_id"] == consent_id
        assert verified.terms["bounds"] == BOUNDS
