"""Consent storage behind a Protocol, and the in-memory implementation used by unit tests.

Contract (this in-memory store and ``consent.sql_store.SqlConsentStore``, on SQLite and PostgreSQL,
pass ``tests/unit/consent/test_consent_store_contract.py`` and ``tests/conformance``):

- ``add_*`` refuses a duplicate id, a second consent for one request, or a reused non-empty
  ``request_key`` of the same grantee with ``REQUEST_ID_CONFLICT`` (ALREADY_EXISTS).
- ``get_*`` raises ``CONSENT_REQUEST_NOT_FOUND`` / ``CONSENT_NOT_FOUND``.
- ``update_*`` is optimistic: the caller names the state (and use count) it read; if another
  writer got there first, ``StaleWriteError`` is raised and nothing changes. This keeps single use
  correct when two requests race (DESIGN.md "Storage and scale-out").
- ``list_*`` pages in ascending id order; ``Page.next_after`` is the cursor for the next page.
- Events get a store-assigned, strictly increasing ``seq``; ``events_after`` resumes a feed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from attestgate.consent.machine import check_usable, effective_state
from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentId,
    ConsentRequest,
    ConsentState,
    GranteeId,
    OwnerId,
    RequestId,
    RequestState,
)
from attestgate.protocol.reasons import DomainError, Reason

T = TypeVar("T")
MAX_PAGE_SIZE = 1000


class StaleWriteError(DomainError):
    """An optimistic update lost a race: the stored state differs from what the caller read."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_after`` is None on the last page."""

    items: tuple[T, ...]
    next_after: str | None


class ConsentStore(Protocol):
    """Persistence for consent requests, consents and the consent event feed."""

    def add_request(self, request: ConsentRequest) -> None:
        """Store a new request."""

    def get_request(self, request_id: RequestId) -> ConsentRequest:
        """The request, or ``DomainError(CONSENT_REQUEST_NOT_FOUND)``."""

    def find_request_by_key(self, grantee: GranteeId, request_key: str) -> ConsentRequest | None:
        """The grantee's request with this idempotency key, if any ("" never matches)."""

    def update_request(self, request: ConsentRequest, *, expected_state: RequestState) -> None:
        """Set state, decided_at and consent_id if the state is still ``expected_state``."""

    def add_consent(self, consent: Consent) -> None:
        """Store a new consent."""

    def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or ``DomainError(CONSENT_NOT_FOUND)``."""

    def update_consent(
        self, consent: Consent, *, expected_state: ConsentState, expected_uses: int
    ) -> None:
        """Replace state and uses if the stored ones are still the expected ones."""

    def use_consent(self, consent_id: ConsentId, *, now: datetime) -> tuple[int, int]:
        """Count one use, in one conditional write, if the consent is usable at ``now``.

        Returns (uses, max_uses) after the use; otherwise raises the reason
        ``consent.machine.check_usable`` gives (revoked, paused, expired, exhausted ...).
        """

    def list_consents(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[ConsentState] | None = None,
        now: datetime | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[Consent]:
        """Consents matching every given filter, by ascending id. ``states`` are the states
        they read as at ``now`` (``machine.effective_state``: expiry and exhaustion folded in),
        so a filtered listing holds exactly the consents that show one of them; ``now`` is
        required with ``states``."""

    def list_requests(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[RequestState] | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[ConsentRequest]:
        """Requests matching every given filter, by ascending id."""

    def count_pending_requests(self, owner: OwnerId, grantee: GranteeId, now: datetime) -> int:
        """The grantee's requests to ``owner`` that are PENDING and not expired at ``now``."""

    def append_event(self, event: ConsentEvent) -> ConsentEvent:
        """Store ``event`` with the next ``seq`` (its own ``seq`` is ignored) and return it."""

    def events_after(self, grantee: GranteeId, seq: int, limit: int = 100) -> list[ConsentEvent]:
        """The grantee's events with ``seq`` greater than ``seq``, oldest first."""


def check_page_size(page_size: int) -> int:
    """``page_size`` if within 1..MAX_PAGE_SIZE, else INVALID_ARGUMENT."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise DomainError(Reason.INVALID_ARGUMENT, f"page_size must be 1..{MAX_PAGE_SIZE}")
    return page_size


def make_page(rows: list[T], page_size: int, key: str) -> Page[T]:
    """A page from up to ``page_size + 1`` fetched rows (the extra one proves there is more)."""
    items = tuple(rows[:page_size])
    more = len(rows) > page_size
    return Page(items, str(getattr(items[-1], key)) if more and items else None)


def conflict(what: str) -> DomainError:
    """The ALREADY_EXISTS error for a duplicate id or idempotency key."""
    return DomainError(Reason.REQUEST_ID_CONFLICT, f"{what} already exists")


def stale(what: str) -> StaleWriteError:
    """The error for a lost optimistic update of a request or a consent."""
    reason = Reason.CONSENT_REQUEST_NOT_PENDING if what == "request" else Reason.CONSENT_NOT_ACTIVE
    return StaleWriteError(reason, f"the {what} changed concurrently; read it again")


class MemoryConsentStore:
    """A ``ConsentStore`` in dictionaries, for unit tests and single-process tools."""

    def __init__(self) -> None:
        self._requests: dict[RequestId, ConsentRequest] = {}
        self._consents: dict[ConsentId, Consent] = {}
        self._events: list[ConsentEvent] = []

    def add_request(self, request: ConsentRequest) -> None:
        """Store a new request."""
        if request.id in self._requests:
            raise conflict("consent request")
        if request.request_key and self.find_request_by_key(request.grantee, request.request_key):
            raise conflict("consent request key")
        self._requests[request.id] = request

    def get_request(self, request_id: RequestId) -> ConsentRequest:
        """The request, or CONSENT_REQUEST_NOT_FOUND."""
        try:
            return self._requests[request_id]
        except KeyError:
            raise DomainError(Reason.CONSENT_REQUEST_NOT_FOUND, "no such consent request") from None

    def find_request_by_key(self, grantee: GranteeId, request_key: str) -> ConsentRequest | None:
        """The grantee's request with this idempotency key, if any."""
        if not request_key:
            return None
        found = (
            r
            for r in self._requests.values()
            if (r.grantee, r.request_key) == (grantee, request_key)
        )
        return next(found, None)

    def update_request(self, request: ConsentRequest, *, expected_state: RequestState) -> None:
        """Replace the stored request if its state is still ``expected_state``."""
        stored = self.get_request(request.id)
        if stored.state is not expected_state:
            raise stale("request")
        # Only the decision changes; what the bank asked for is immutable.
        self._requests[request.id] = replace(
            stored,
            state=request.state,
            decided_at=request.decided_at,
            consent_id=request.consent_id,
        )

    def add_consent(self, consent: Consent) -> None:
        """Store a new consent."""
        if consent.id in self._consents or any(
            c.request_id == consent.request_id for c in self._consents.values()
        ):
            raise conflict("consent")
        self._consents[consent.id] = consent

    def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or CONSENT_NOT_FOUND."""
        try:
            return self._consents[consent_id]
        except KeyError:
            raise DomainError(Reason.CONSENT_NOT_FOUND, "no such consent") from None

    def update_consent(
        self, consent: Consent, *, expected_state: ConsentState, expected_uses: int
    ) -> None:
        """Replace state and uses if the stored ones are still the expected ones."""
        stored = self.get_consent(consent.id)
        if (stored.state, stored.uses) != (expected_state, expected_uses):
            raise stale("consent")
        # Terms are immutable: only state and uses are taken from the caller's value.
        self._consents[consent.id] = replace(stored, state=consent.state, uses=consent.uses)

    def use_consent(self, consent_id: ConsentId, *, now: datetime) -> tuple[int, int]:
        """Count one use if the consent is usable at ``now``; (uses, max_uses) after it."""
        stored = self.get_consent(consent_id)
        check_usable(stored, now)
        self._consents[consent_id] = replace(stored, uses=stored.uses + 1)
        return stored.uses + 1, stored.max_uses

    def list_consents(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[ConsentState] | None = None,
        now: datetime | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[Consent]:
        """Consents matching every given filter, by ascending id (``states``: as read at
        ``now``)."""
        if states is not None and now is None:
            raise ValueError("filtering consents by state needs now: the state they read as then")
        moment = now or datetime.min

        def reads_as(consent: Consent) -> ConsentState:
            return effective_state(consent, moment)

        return _page(
            self._consents.values(),
            owner=owner,
            grantee=grantee,
            states=states,
            state_of=reads_as,
            page_size=page_size,
            after_id=after_id,
        )

    def list_requests(
        self,
        *,
        owner: OwnerId | None = None,
        grantee: GranteeId | None = None,
        states: Collection[RequestState] | None = None,
        page_size: int = 50,
        after_id: str | None = None,
    ) -> Page[ConsentRequest]:
        """Requests matching every given filter, by ascending id."""
        return _page(
            self._requests.values(),
            owner=owner,
            grantee=grantee,
            states=states,
            state_of=lambda request: request.state,
            page_size=page_size,
            after_id=after_id,
        )

    def count_pending_requests(self, owner: OwnerId, grantee: GranteeId, now: datetime) -> int:
        """The grantee's requests to ``owner`` that are PENDING and not expired at ``now``."""
        return sum(
            1
            for r in self._requests.values()
            if (r.owner, r.grantee, r.state) == (owner, grantee, RequestState.PENDING)
            and r.expires_at > now
        )

    def append_event(self, event: ConsentEvent) -> ConsentEvent:
        """Store ``event`` with the next ``seq`` and return it."""
        stored = replace(event, seq=len(self._events) + 1)
        self._events.append(stored)
        return stored

    def events_after(self, grantee: GranteeId, seq: int, limit: int = 100) -> list[ConsentEvent]:
        """The grantee's events after ``seq``, oldest first."""
        check_page_size(limit)
        found = [e for e in self._events[max(seq, 0) :] if e.grantee == grantee]
        return found[:limit]


_Item = TypeVar("_Item", Consent, ConsentRequest)


def _page(
    items: Iterable[_Item],
    *,
    owner: OwnerId | None,
    grantee: GranteeId | None,
    states: Collection[ConsentState] | Collection[RequestState] | None,
    state_of: Callable[[_Item], ConsentState | RequestState],
    page_size: int,
    after_id: str | None,
) -> Page[_Item]:
    check_page_size(page_size)
    rows = sorted(
        (
            item
            for item in items
            if (owner is None or item.owner == owner)
            and (grantee is None or item.grantee == grantee)
            and (states is None or state_of(item) in states)
            and (after_id is None or item.id > after_id)
        ),
        key=lambda item: item.id,
    )
    return make_page(rows[: page_size + 1], page_size, "id")
