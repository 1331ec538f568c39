"""gateway.usecases.attestations.consent_cache: ACTIVE consents from memory, anything else from
storage."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from attestgate.consent.model import Consent, ConsentId, ConsentState
from attestgate.consent.store import MemoryConsentStore
from attestgate.gateway.usecases.attestations.consent_cache import ActiveConsents
from attestgate.protocol.reasons import DomainError, Reason
from tests.unit.consent.conftest import NOW, build_consent


class CountingStore(MemoryConsentStore):
    """A real in-memory store that counts reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_consent(self, consent_id: ConsentId) -> Consent:
        self.reads += 1
        return super().get_consent(consent_id)

    def replace(self, consent: Consent) -> None:
        """Another writer changed it (revoke, pause, uses), behind the cache's back."""
        self._consents[consent.id] = consent


def cache_over(store: CountingStore, **options: Any) -> ActiveConsents:
    return ActiveConsents(lambda conn: store, **options)


CONN: Any = None  # the memory store needs no connection


def test_an_active_consent_is_read_once() -> None:
    store = CountingStore()
    store.add_consent(build_consent(id="c1", max_uses=5))
    cache = cache_over(store)
    first = cache.get(CONN, ConsentId("c1"), NOW)
    second = cache.get(CONN, ConsentId("c1"), NOW)
    assert second is first
    assert store.reads == 1


def test_a_consent_not_active_is_never_cached() -> None:
    store = CountingStore()
    store.add_consent(build_consent(id="c1", state=ConsentState.REVOKED))
    cache = cache_over(store)
    for _ in range(3):
        assert cache.get(CONN, ConsentId("c1"), NOW).state is ConsentState.REVOKED
    assert (store.reads, len(cache)) == (3, 0)


def test_an_entry_no_longer_usable_is_read_again() -> None:
    # Expired by time (or spent, as far as the entry knows): decided on fresh data, not memory.
    store = CountingStore()
    consent = build_consent(id="c1", valid_until=NOW + timedelta(minutes=1))
    store.add_consent(consent)
    cache = cache_over(store)
    cache.get(CONN, ConsentId("c1"), NOW)
    later = NOW + timedelta(minutes=2)
    assert cache.get(CONN, ConsentId("c1"), later) == consent
    assert store.reads == 2


def test_a_change_behind_its_back_is_seen_after_eviction() -> None:
    store = CountingStore()
    store.add_consent(build_consent(id="c1", max_uses=5))
    cache = cache_over(store)
    cache.get(CONN, ConsentId("c1"), NOW)
    store.replace(replace(store.get_consent(ConsentId("c1")), state=ConsentState.REVOKED))
    # Stale but harmless: the unit of work re-checks and refuses; the caller then evicts.
    assert cache.get(CONN, ConsentId("c1"), NOW).state is ConsentState.ACTIVE
    cache.evict("c1")
    assert cache.get(CONN, ConsentId("c1"), NOW).state is ConsentState.REVOKED
    assert len(cache) == 0


def test_unknown_consents_are_refused_by_storage() -> None:
    cache = cache_over(CountingStore())
    with pytest.raises(DomainError) as refused:
        cache.get(CONN, ConsentId("nope"), NOW)
    assert refused.value.reason is Reason.CONSENT_NOT_FOUND


def test_capacity_bounds_memory_oldest_first() -> None:
    store = CountingStore()
    for i in range(4):
        store.add_consent(build_consent(id=f"c{i}", request_id=f"r{i}", max_uses=5))
    cache = cache_over(store, capacity=3)
    for i in range(4):
        cache.get(CONN, ConsentId(f"c{i}"), NOW)
    assert len(cache) == 3
    reads = store.reads
    cache.get(CONN, ConsentId("c0"), NOW)  # the oldest was dropped: read again
    cache.get(CONN, ConsentId("c3"), NOW)  # the newest is still there
    assert store.reads == reads + 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        cache_over(CountingStore(), capacity=0)
