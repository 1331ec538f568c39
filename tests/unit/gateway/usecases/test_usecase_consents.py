"""ConsentManager without a server: request, approve (narrowing), revoke, and refusals that
change nothing but the audit log."""

from __future__ import annotations

from dataclasses import replace

import pytest

from attestgate.consent.machine import ConsentAction
from attestgate.consent.model import ConsentState, RequestState
from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import ConsentManager, RequestDraft
from attestgate.protocol.reasons import DomainError, Reason
from tests.unit.gateway.usecases.conftest import ALICE, BANK, log_size

DRAFT = RequestDraft(
    owner="alice",
    domain="income",
    purpose="fx_purchase",
    claims=("tax_year", "covers_amount"),
    bounds={"amount": 5_000_000, "currency": "USD"},  # fx_purchase shows the owner the amount
    record_id=None,
    valid_for=None,
    max_uses=1,
    separate_consent=False,
    cross_border=False,
)


def test_request_approve_revoke(parts: GatewayParts, consents: ConsentManager) -> None:
    request = consents.create_request(BANK, DRAFT, None)
    assert request.state is RequestState.PENDING
    assert request.claims == ("tax_year", "covers_amount")
    inbox = consents.list_requests(ALICE, None, 10, None).items
    assert [r.id for r in inbox] == [request.id]

    consent = consents.approve(ALICE, request.id, ["tax_year"], None)  # narrowed by the owner
    assert consent.state is ConsentState.ACTIVE
    assert consent.claims == ("tax_year",)
    assert consent.artefact_jws.count(".") == 2  # the gateway's signed artefact
    assert consents.get_request(BANK, request.id).state is RequestState.APPROVED
    assert [c.id for c in consents.list_consents(BANK, None, 10, None).items] == [consent.id]

    revoked = consents.change(ALICE, consent.id, ConsentAction.REVOKE)
    assert revoked.state is ConsentState.REVOKED
    assert consents.get_consent(BANK, consent.id).state is ConsentState.REVOKED
    states = [e.state for e in consents.events_after(BANK, 0)]
    assert states == ["PENDING", "ACTIVE", "REVOKED"]


def test_each_change_is_audited_with_it(parts: GatewayParts, consents: ConsentManager) -> None:
    before = log_size(parts)
    request = consents.create_request(BANK, DRAFT, None)
    consents.approve(ALICE, request.id, None, None)
    assert log_size(parts) == before + 2


def refused(reason: Reason, call: object) -> None:
    assert callable(call)
    with pytest.raises(DomainError) as raised:
        call()
    assert raised.value.reason is reason


def test_only_the_owner_decides_and_a_refusal_changes_nothing(
    parts: GatewayParts, consents: ConsentManager
) -> None:
    request = consents.create_request(BANK, DRAFT, None)
    mallory = Caller("mallory", "owner")
    size = log_size(parts)
    refused(Reason.NOT_CONSENT_OWNER, lambda: consents.approve(mallory, request.id, None, None))
    assert consents.get_request(ALICE, request.id).state is RequestState.PENDING
    assert log_size(parts) == size + 1  # the refusal is audited, nothing else is written
    with pytest.raises(DomainError):  # a stranger does not even see it
        consents.get_request(mallory, request.id)


def test_revoked_is_final(parts: GatewayParts, consents: ConsentManager) -> None:
    consent = consents.approve(ALICE, consents.create_request(BANK, DRAFT, None).id, None, None)
    consents.change(ALICE, consent.id, ConsentAction.REVOKE)
    with pytest.raises(DomainError):
        consents.change(ALICE, consent.id, ConsentAction.RESUME)
    assert consents.get_consent(ALICE, consent.id).state is ConsentState.REVOKED


def test_a_request_outside_the_purpose_template_is_refused(
    parts: GatewayParts, consents: ConsentManager
) -> None:
    size = log_size(parts)
    refused(
        Reason.UNKNOWN_PURPOSE,
        lambda: consents.create_request(BANK, replace(DRAFT, purpose="no_such_purpose"), None),
    )
    assert consents.list_requests(ALICE, None, 10, None).items == ()
    assert log_size(parts) == size


def test_an_exhausted_consent_takes_no_pause_or_resume_and_no_leaf(
    parts: GatewayParts, consents: ConsentManager, clock: FixedClock
) -> None:
    consent = consents.approve(ALICE, consents.create_request(BANK, DRAFT, None).id, None, None)
    parts.storage.write(
        lambda tx: parts.storage.consents(tx.conn).use_consent(consent.id, now=clock.now())
    )
    assert consents.get_consent(ALICE, consent.id).state is ConsentState.EXHAUSTED
    size = log_size(parts)
    for action in (ConsentAction.PAUSE, ConsentAction.RESUME):
        refused(Reason.CONSENT_EXHAUSTED, lambda a=action: consents.change(ALICE, consent.id, a))
    assert log_size(parts) == size
    assert consents.list_consents(ALICE, ConsentState.ACTIVE, 10, None).items == ()
    exhausted = consents.list_consents(ALICE, ConsentState.EXHAUSTED, 10, None).items
    assert [c.id for c in exhausted] == [consent.id]
    assert consents.change(ALICE, consent.id, ConsentAction.REVOKE).state is ConsentState.REVOKED


def test_a_request_stored_before_a_rename_is_narrowed_by_the_new_name(
    parts: GatewayParts, consents: ConsentManager
) -> None:
    """A pending request written when ``registration_status`` was still called ``status``."""
    draft = replace(
        DRAFT,
        domain="business_registration",
        purpose="counterparty_check",
        claims=("name", "registration_status", "in_good_standing"),
        bounds={},
    )
    request = consents.create_request(BANK, draft, None)
    parts.storage.write(
        lambda tx: tx.conn.execute(
            "UPDATE consent_requests SET claims = replace(claims, 'registration_status', 'status')"
            " WHERE id = ?",
            (request.id,),
        )
    )
    assert "status" in consents.get_request(ALICE, request.id).claims

    consent = consents.approve(ALICE, request.id, ["registration_status"], None)
    assert consent.claims == ("registration_status",)
