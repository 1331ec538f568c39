"""Consent values: immutability and the invariants checked on construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentRequest,
    GranteeId,
    OwnerId,
    RecordSelector,
    RequestId,
    RequestState,
)


def test_values_are_frozen(make_consent: Callable[..., Consent]) -> None:
    consent = make_consent()
    with pytest.raises(dataclasses.FrozenInstanceError):
        consent.uses = 1  # type: ignore[misc]


def test_new_request_is_pending_for_seven_days(
    make_request: Callable[..., ConsentRequest], now: datetime
) -> None:
    request = make_request()
    assert request.state is RequestState.PENDING
    assert request.expires_at - request.created_at == timedelta(days=7)
    assert (request.decided_at, request.consent_id, request.request_key) == (None, None, "")


@pytest.mark.parametrize(
    "moment",
    [datetime(2025, 1, 1), datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=8)))],
)
def test_naive_or_non_utc_datetimes_are_refused(
    make_consent: Callable[..., Consent], moment: datetime
) -> None:
    with pytest.raises(ValueError, match="UTC"):
        make_consent(created_at=moment)


@pytest.mark.parametrize(("max_uses", "uses"), [(0, 0), (1, 2), (1, -1)])
def test_uses_stay_within_max(
    make_consent: Callable[..., Consent], max_uses: int, uses: int
) -> None:
    with pytest.raises(ValueError, match="uses"):
        make_consent(max_uses=max_uses, uses=uses)


def test_record_selector_domain_must_match(make_consent: Callable[..., Consent]) -> None:
    assert RecordSelector("income").latest
    assert not RecordSelector("income", None).record_id
    with pytest.raises(ValueError, match="domain"):
        make_consent(record=RecordSelector("patent"))


def test_event_requires_utc() -> None:
    ids = (RequestId("r"), None, GranteeId("g"), OwnerId("o"), RequestState.REJECTED)
    with pytest.raises(ValueError, match="UTC"):
        ConsentEvent(0, *ids, at=datetime(2025, 1, 1))
    event = ConsentEvent(0, *ids, at=datetime(2025, 1, 1, tzinfo=UTC))
    assert event.state is RequestState.REJECTED
