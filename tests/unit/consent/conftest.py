"""Fixtures for the consent core tests: the shipped catalog, a fixed clock, value builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.consent.model import (
    Consent,
    ConsentId,
    ConsentRequest,
    ConsentState,
    GranteeId,
    OwnerId,
    RecordSelector,
    RequestId,
)

NOW = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The catalog shipped with the package."""
    return Catalog.load_default()


@pytest.fixture
def now() -> datetime:
    """A fixed instant; tests move time by adding to it."""
    return NOW


def build_request(**changes: Any) -> ConsentRequest:
    """A PENDING income/fx_purchase request created at NOW, with ``changes`` applied."""
    base = ConsentRequest.new(
        id=RequestId("req-0001"),
        owner=OwnerId("owner-a"),
        grantee=GranteeId("bank-a"),
        domain="income",
        purpose="fx_purchase",
        claims=("tax_year", "covers_amount"),
        valid_for=timedelta(days=30),
        max_uses=1,
        now=NOW,
    )
    return replace(base, **changes)


def build_consent(**changes: Any) -> Consent:
    """An ACTIVE income/fx_purchase consent valid for 30 days from NOW, with ``changes`` applied."""
    base = Consent(
        id=ConsentId("con-0001"),
        request_id=RequestId("req-0001"),
        owner=OwnerId("owner-a"),
        grantee=GranteeId("bank-a"),
        domain="income",
        purpose="fx_purchase",
        claims=("tax_year", "covers_amount"),
        record=RecordSelector("income"),
        valid_from=NOW,
        valid_until=NOW + timedelta(days=30),
        max_uses=1,
        uses=0,
        data_life=timedelta(0),
        separate_consent=True,
        cross_border=False,
        created_at=NOW,
        state=ConsentState.ACTIVE,
    )
    return replace(base, **changes)


@pytest.fixture
def make_request() -> Callable[..., ConsentRequest]:
    """Builder for consent requests (keyword overrides)."""
    return build_request


@pytest.fixture
def make_consent() -> Callable[..., Consent]:
    """Builder for consents (keyword overrides)."""
    return build_consent
