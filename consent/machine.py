"""The consent-request and consent state machines as pure functions (DESIGN.md "Consent").

Request:  PENDING -> APPROVED | REJECTED | EXPIRED (all three terminal).
Consent:  ACTIVE <-> PAUSED; ACTIVE | PAUSED -> REVOKED | EXPIRED; ACTIVE -> EXHAUSTED.

An illegal transition raises ``DomainError`` with a stable reason (FAILED_PRECONDITION). The reason
names what blocks the action: a terminal state names itself (``CONSENT_REVOKED`` ...), otherwise the
precondition that failed (``CONSENT_NOT_PAUSED`` for resuming an active consent).

Time is only ever an argument (``now``): the stored state may lag behind the clock, so
``effective_state`` folds in expiry and exhaustion before any decision.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from attestgate.consent.model import Consent, ConsentRequest, ConsentState, RequestState
from attestgate.protocol.reasons import DomainError, Reason


class RequestAction(StrEnum):
    """What can happen to a consent request."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"
    EXPIRE = "EXPIRE"


class ConsentAction(StrEnum):
    """What can happen to a consent. ``USE`` keeps the state (usage is counted separately)."""

    PAUSE = "PAUSE"
    RESUME = "RESUME"
    REVOKE = "REVOKE"
    EXPIRE = "EXPIRE"
    EXHAUST = "EXHAUST"
    USE = "USE"


_REQUEST_TARGET = {
    RequestAction.APPROVE: RequestState.APPROVED,
    RequestAction.REJECT: RequestState.REJECTED,
    RequestAction.EXPIRE: RequestState.EXPIRED,
}

_TERMINAL_REASON = {
    ConsentState.REVOKED: Reason.CONSENT_REVOKED,
    ConsentState.EXPIRED: Reason.CONSENT_EXPIRED,
    ConsentState.EXHAUSTED: Reason.CONSENT_EXHAUSTED,
}

_ACTIVE_MOVES = {
    ConsentAction.PAUSE: ConsentState.PAUSED,
    ConsentAction.REVOKE: ConsentState.REVOKED,
    ConsentAction.EXPIRE: ConsentState.EXPIRED,
    ConsentAction.EXHAUST: ConsentState.EXHAUSTED,
    ConsentAction.USE: ConsentState.ACTIVE,
}

# A paused consent can be resumed, revoked by its owner, or run out of time; it cannot be used,
# so it cannot be exhausted either.
_PAUSED_MOVES = {
    ConsentAction.RESUME: ConsentState.ACTIVE,
    ConsentAction.REVOKE: ConsentState.REVOKED,
    ConsentAction.EXPIRE: ConsentState.EXPIRED,
}


def next_request_state(state: RequestState, action: RequestAction) -> RequestState:
    """The state after ``action``; only a PENDING request moves."""
    if state is RequestState.PENDING:
        return _REQUEST_TARGET[action]
    if state is RequestState.EXPIRED:
        raise DomainError(Reason.CONSENT_REQUEST_EXPIRED, "the consent request has expired")
    raise DomainError(
        Reason.CONSENT_REQUEST_NOT_PENDING,
        f"the consent request is {state.value}, not PENDING",
        metadata={"state": state.value},
    )


def next_consent_state(state: ConsentState, action: ConsentAction) -> ConsentState:
    """The state after ``action`` or ``DomainError`` naming why it is not allowed."""
    if state in _TERMINAL_REASON:
        raise DomainError(
            _TERMINAL_REASON[state],
            f"the consent is {state.value}",
            metadata={"state": state.value},
        )
    moves = _ACTIVE_MOVES if state is ConsentState.ACTIVE else _PAUSED_MOVES
    if action in moves:
        return moves[action]
    if state is ConsentState.ACTIVE:  # only RESUME is missing from the active moves
        raise DomainError(Reason.CONSENT_NOT_PAUSED, "the consent is not paused")
    if action is ConsentAction.PAUSE:
        raise DomainError(Reason.CONSENT_NOT_ACTIVE, "the consent is already paused")
    raise DomainError(Reason.CONSENT_PAUSED, "the consent is paused")


def effective_request_state(request: ConsentRequest, now: datetime) -> RequestState:
    """The stored state, with a PENDING request past ``expires_at`` read as EXPIRED."""
    if request.state is RequestState.PENDING and now >= request.expires_at:
        return RequestState.EXPIRED
    return request.state


@dataclass(frozen=True)
class ReadRule:
    """A stored consent state that reads as another once time or usage caught up with it.

    Nothing writes these changes down (no background job): they are folded in whenever a consent
    is read. ``READ_RULES`` is the one statement of them: ``effective_state`` applies them to a
    consent, and ``consent.sql_store`` turns them into the SQL that filters listings by the state
    a consent reads as, so a listing filtered by a state returns exactly the consents shown in it.
    """

    stored: frozenset[ConsentState]
    reads_as: ConsentState
    lapsed: bool = False
    """Holds only at or after ``valid_until``."""
    spent: bool = False
    """Holds only once every use is spent (``uses >= max_uses``)."""

    def holds(self, consent: Consent, now: datetime) -> bool:
        """Whether ``consent`` (as stored) matches this rule at ``now``."""
        return (
            consent.state in self.stored
            and (not self.lapsed or now >= consent.valid_until)
            and (not self.spent or consent.uses >= consent.max_uses)
        )


READ_RULES = (
    # A paused consent still runs out; time goes first: a spent consent past valid_until reads
    # EXPIRED.
    ReadRule(
        frozenset({ConsentState.ACTIVE, ConsentState.PAUSED}), ConsentState.EXPIRED, lapsed=True
    ),
    ReadRule(frozenset({ConsentState.ACTIVE}), ConsentState.EXHAUSTED, spent=True),
)
"""The read-time rules, in order: the first that holds decides how a consent reads."""


def effective_state(consent: Consent, now: datetime) -> ConsentState:
    """The stored state with time and usage folded in (``READ_RULES``).

    ACTIVE or PAUSED at/after ``valid_until`` reads as EXPIRED (a paused consent still runs out);
    ACTIVE with every use spent reads as EXHAUSTED.
    """
    for rule in READ_RULES:
        if rule.holds(consent, now):
            return rule.reads_as
    return consent.state


def check_usable(consent: Consent, now: datetime) -> None:
    """Raise unless the consent may back an attestation at ``now``."""
    next_consent_state(effective_state(consent, now), ConsentAction.USE)
    if now < consent.valid_from:
        raise DomainError(Reason.CONSENT_NOT_ACTIVE, "the consent is not valid yet")


def apply_request_action(
    request: ConsentRequest, action: RequestAction, now: datetime
) -> ConsentRequest:
    """``request`` after ``action`` at ``now`` (``decided_at`` set); expiry is checked first."""
    state = next_request_state(effective_request_state(request, now), action)
    return replace(request, state=state, decided_at=now)


def apply_consent_action(consent: Consent, action: ConsentAction, now: datetime) -> Consent:
    """``consent`` after ``action`` at ``now``; USE also counts the use (see ``use_consent``)."""
    if action is ConsentAction.USE:
        return use_consent(consent, now)
    current = effective_state(consent, now)
    lapsed = current is ConsentState.EXPIRED and consent.state is not ConsentState.EXPIRED
    if action is ConsentAction.EXPIRE and lapsed:
        return replace(consent, state=current)  # persist an expiry that time already decided
    return replace(consent, state=next_consent_state(current, action))


def use_consent(consent: Consent, now: datetime) -> Consent:
    """Count one use; the consent becomes EXHAUSTED with its last use."""
    check_usable(consent, now)
    uses = consent.uses + 1
    state = ConsentState.EXHAUSTED if uses >= consent.max_uses else ConsentState.ACTIVE
    return replace(consent, uses=uses, state=state)
