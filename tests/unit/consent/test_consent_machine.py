"""The consent-request and consent state machines, exhaustively: every state x every action.

The expected tables below are written out by hand from DESIGN.md "Consent", not derived from the
implementation's tables, so a wrong entry in either shows up as a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestgate.consent.machine import (
    ConsentAction,
    RequestAction,
    apply_consent_action,
    apply_request_action,
    check_usable,
    effective_request_state,
    effective_state,
    next_consent_state,
    next_request_state,
    use_consent,
)
from attestgate.consent.model import Consent, ConsentRequest, ConsentState, RequestState
from attestgate.protocol.reasons import DomainError, Reason

RS, RA = RequestState, RequestAction
CS, CA, R = ConsentState, ConsentAction, Reason

REQUEST_TABLE: dict[tuple[RequestState, RequestAction], RequestState | Reason] = {
    (RS.PENDING, RA.APPROVE): RS.APPROVED,
    (RS.PENDING, RA.REJECT): RS.REJECTED,
    (RS.PENDING, RA.EXPIRE): RS.EXPIRED,
    (RS.APPROVED, RA.APPROVE): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.APPROVED, RA.REJECT): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.APPROVED, RA.EXPIRE): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.REJECTED, RA.APPROVE): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.REJECTED, RA.REJECT): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.REJECTED, RA.EXPIRE): R.CONSENT_REQUEST_NOT_PENDING,
    (RS.EXPIRED, RA.APPROVE): R.CONSENT_REQUEST_EXPIRED,
    (RS.EXPIRED, RA.REJECT): R.CONSENT_REQUEST_EXPIRED,
    (RS.EXPIRED, RA.EXPIRE): R.CONSENT_REQUEST_EXPIRED,
}

CONSENT_TABLE: dict[tuple[ConsentState, ConsentAction], ConsentState | Reason] = {
    (CS.ACTIVE, CA.PAUSE): CS.PAUSED,
    (CS.ACTIVE, CA.RESUME): R.CONSENT_NOT_PAUSED,
    (CS.ACTIVE, CA.REVOKE): CS.REVOKED,
    (CS.ACTIVE, CA.EXPIRE): CS.EXPIRED,
    (CS.ACTIVE, CA.EXHAUST): CS.EXHAUSTED,
    (CS.ACTIVE, CA.USE): CS.ACTIVE,
    (CS.PAUSED, CA.PAUSE): R.CONSENT_NOT_ACTIVE,
    (CS.PAUSED, CA.RESUME): CS.ACTIVE,
    (CS.PAUSED, CA.REVOKE): CS.REVOKED,
    (CS.PAUSED, CA.EXPIRE): CS.EXPIRED,
    (CS.PAUSED, CA.EXHAUST): R.CONSENT_PAUSED,
    (CS.PAUSED, CA.USE): R.CONSENT_PAUSED,
    (CS.REVOKED, CA.PAUSE): R.CONSENT_REVOKED,
    (CS.REVOKED, CA.RESUME): R.CONSENT_REVOKED,
    (CS.REVOKED, CA.REVOKE): R.CONSENT_REVOKED,
    (CS.REVOKED, CA.EXPIRE): R.CONSENT_REVOKED,
    (CS.REVOKED, CA.EXHAUST): R.CONSENT_REVOKED,
    (CS.REVOKED, CA.USE): R.CONSENT_REVOKED,
    (CS.EXPIRED, CA.PAUSE): R.CONSENT_EXPIRED,
    (CS.EXPIRED, CA.RESUME): R.CONSENT_EXPIRED,
    (CS.EXPIRED, CA.REVOKE): R.CONSENT_EXPIRED,
    (CS.EXPIRED, CA.EXPIRE): R.CONSENT_EXPIRED,
    (CS.EXPIRED, CA.EXHAUST): R.CONSENT_EXPIRED,
    (CS.EXPIRED, CA.USE): R.CONSENT_EXPIRED,
    (CS.EXHAUSTED, CA.PAUSE): R.CONSENT_EXHAUSTED,
    (CS.EXHAUSTED, CA.RESUME): R.CONSENT_EXHAUSTED,
    (CS.EXHAUSTED, CA.REVOKE): R.CONSENT_EXHAUSTED,
    (CS.EXHAUSTED, CA.EXPIRE): R.CONSENT_EXHAUSTED,
    (CS.EXHAUSTED, CA.EXHAUST): R.CONSENT_EXHAUSTED,
    (CS.EXHAUSTED, CA.USE): R.CONSENT_EXHAUSTED,
}


def test_tables_cover_every_state_and_action() -> None:
    assert set(REQUEST_TABLE) == {(s, a) for s in RequestState for a in RequestAction}
    assert set(CONSENT_TABLE) == {(s, a) for s in ConsentState for a in ConsentAction}


@pytest.mark.parametrize(("state", "action"), list(REQUEST_TABLE))
def test_request_transition(state: RequestState, action: RequestAction) -> None:
    expected = REQUEST_TABLE[state, action]
    if isinstance(expected, RequestState):
        assert next_request_state(state, action) is expected
    else:
        with pytest.raises(DomainError) as caught:
            next_request_state(state, action)
        assert caught.value.reason is expected
        assert caught.value.status_name == "FAILED_PRECONDITION"


@pytest.mark.parametrize(("state", "action"), list(CONSENT_TABLE))
def test_consent_transition(state: ConsentState, action: ConsentAction) -> None:
    expected = CONSENT_TABLE[state, action]
    if isinstance(expected, ConsentState):
        assert next_consent_state(state, action) is expected
    else:
        with pytest.raises(DomainError) as caught:
            next_consent_state(state, action)
        assert caught.value.reason is expected
        assert caught.value.status_name == "FAILED_PRECONDITION"


@given(st.sampled_from(ConsentState), st.lists(st.sampled_from(ConsentAction), max_size=12))
def test_terminal_states_absorb(start: ConsentState, actions: list[ConsentAction]) -> None:
    state = start
    terminal = {CS.REVOKED, CS.EXPIRED, CS.EXHAUSTED}
    for action in actions:
        try:
            after = next_consent_state(state, action)
        except DomainError:
            continue
        assert state not in terminal
        state = after


def test_pending_request_expires_with_time(
    make_request: Callable[..., ConsentRequest], now: datetime
) -> None:
    request = make_request()
    assert request.expires_at == now + timedelta(days=7)
    assert effective_request_state(request, request.expires_at - timedelta(seconds=1)) is RS.PENDING
    assert effective_request_state(request, request.expires_at) is RS.EXPIRED
    with pytest.raises(DomainError) as caught:
        apply_request_action(request, RA.APPROVE, request.expires_at)
    assert caught.value.reason is R.CONSENT_REQUEST_EXPIRED


def test_apply_request_action_records_the_decision(
    make_request: Callable[..., ConsentRequest], now: datetime
) -> None:
    later = now + timedelta(hours=1)
    approved = apply_request_action(make_request(), RA.APPROVE, later)
    assert (approved.state, approved.decided_at) == (RS.APPROVED, later)
    with pytest.raises(DomainError) as caught:
        apply_request_action(approved, RA.REJECT, later)
    assert caught.value.reason is R.CONSENT_REQUEST_NOT_PENDING


@pytest.mark.parametrize(
    ("stored", "uses", "offset", "expected"),
    [
        (CS.ACTIVE, 0, timedelta(days=29), CS.ACTIVE),
        (CS.ACTIVE, 0, timedelta(days=30), CS.EXPIRED),
        (CS.PAUSED, 0, timedelta(days=30), CS.EXPIRED),
        (CS.PAUSED, 0, timedelta(days=1), CS.PAUSED),
        (CS.ACTIVE, 1, timedelta(days=1), CS.EXHAUSTED),
        (CS.ACTIVE, 1, timedelta(days=31), CS.EXPIRED),
        (CS.REVOKED, 0, timedelta(days=31), CS.REVOKED),
        (CS.EXHAUSTED, 1, timedelta(days=31), CS.EXHAUSTED),
    ],
)
def test_effective_state(
    make_consent: Callable[..., Consent],
    now: datetime,
    stored: ConsentState,
    uses: int,
    offset: timedelta,
    expected: ConsentState,
) -> None:
    consent = make_consent(state=stored, uses=uses)
    assert effective_state(consent, now + offset) is expected


@pytest.mark.parametrize(
    ("state", "uses", "offset", "reason"),
    [
        (CS.PAUSED, 0, timedelta(days=1), R.CONSENT_PAUSED),
        (CS.REVOKED, 0, timedelta(days=1), R.CONSENT_REVOKED),
        (CS.EXPIRED, 0, timedelta(days=1), R.CONSENT_EXPIRED),
        (CS.ACTIVE, 0, timedelta(days=30), R.CONSENT_EXPIRED),
        (CS.EXHAUSTED, 1, timedelta(days=1), R.CONSENT_EXHAUSTED),
        (CS.ACTIVE, 1, timedelta(days=1), R.CONSENT_EXHAUSTED),
        (CS.ACTIVE, 0, -timedelta(seconds=1), R.CONSENT_NOT_ACTIVE),
    ],
)
def test_check_usable_refuses_with_the_right_reason(
    make_consent: Callable[..., Consent],
    now: datetime,
    state: ConsentState,
    uses: int,
    offset: timedelta,
    reason: Reason,
) -> None:
    with pytest.raises(DomainError) as caught:
        check_usable(make_consent(state=state, uses=uses), now + offset)
    assert caught.value.reason is reason


def test_use_counts_and_exhausts_on_the_last_use(
    make_consent: Callable[..., Consent], now: datetime
) -> None:
    consent = make_consent(max_uses=2)
    check_usable(consent, now)
    once = use_consent(consent, now)
    assert (once.state, once.uses) == (CS.ACTIVE, 1)
    twice = apply_consent_action(once, CA.USE, now)
    assert (twice.state, twice.uses) == (CS.EXHAUSTED, 2)
    assert consent.uses == 0  # the original value is untouched
    with pytest.raises(DomainError) as caught:
        use_consent(twice, now)
    assert caught.value.reason is R.CONSENT_EXHAUSTED


def test_apply_consent_action_uses_the_effective_state(
    make_consent: Callable[..., Consent], now: datetime
) -> None:
    late = now + timedelta(days=31)
    consent = make_consent()
    expired = apply_consent_action(consent, CA.EXPIRE, late)
    assert expired.state is CS.EXPIRED
    with pytest.raises(DomainError) as caught:
        apply_consent_action(consent, CA.PAUSE, late)
    assert caught.value.reason is R.CONSENT_EXPIRED
    paused = apply_consent_action(consent, CA.PAUSE, now)
    assert paused.state is CS.PAUSED
    assert apply_consent_action(paused, CA.RESUME, now).state is CS.ACTIVE
    assert apply_consent_action(paused, CA.REVOKE, now).state is CS.REVOKED


def test_exhausted_consent_cannot_be_expired_by_action(
    make_consent: Callable[..., Consent], now: datetime
) -> None:
    spent = make_consent(uses=1)  # stored ACTIVE, but every use is spent
    with pytest.raises(DomainError) as caught:
        apply_consent_action(spent, CA.EXPIRE, now)
    assert caught.value.reason is R.CONSENT_EXHAUSTED
