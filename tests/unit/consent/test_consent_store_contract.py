"""One contract for every ``ConsentStore``: in memory and ``SqlConsentStore`` on a real SQLite file
under tmp_path, migrated by the gateway's migrations (``tests/conformance`` adds PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attestgate.consent.machine import effective_state
from attestgate.consent.model import (
    Consent,
    ConsentEvent,
    ConsentId,
    ConsentRequest,
    ConsentState,
    GranteeId,
    OwnerId,
    RecordId,
    RecordSelector,
    RequestId,
    RequestState,
)
from attestgate.consent.sql_store import SqlConsentStore
from attestgate.consent.store import ConsentStore, MemoryConsentStore, StaleWriteError
from attestgate.gateway.persistence.migrate import migrate
from attestgate.gateway.persistence.storage import connect
from attestgate.protocol.reasons import DomainError, Reason

MakeRequest = Callable[..., ConsentRequest]
MakeConsent = Callable[..., Consent]
MIGRATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _connect(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    migrate(conn, now=MIGRATED_AT)
    return conn


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsentStore]:
    if request.param == "memory":
        yield MemoryConsentStore()
        return
    conn = _connect(tmp_path / "attestgate.consent.db")
    yield SqlConsentStore(conn)
    conn.close()


def _event(now: datetime, grantee: str, state: RequestState | ConsentState) -> ConsentEvent:
    consent = None if isinstance(state, RequestState) else ConsentId("con-1")
    return ConsentEvent(
        0, RequestId("req-1"), consent, GranteeId(grantee), OwnerId("owner-a"), state, now
    )


def test_request_round_trip(store: ConsentStore, make_request: MakeRequest) -> None:
    request = make_request(
        record_id=RecordId("rec-1"),
        valid_for=timedelta(days=3, microseconds=7),
        request_key="k-1",
        cross_border=True,
    )
    store.add_request(request)
    assert store.get_request(request.id) == request
    assert store.find_request_by_key(request.grantee, "k-1") == request
    assert store.find_request_by_key(GranteeId("bank-b"), "k-1") is None
    assert store.find_request_by_key(request.grantee, "") is None
    with pytest.raises(DomainError) as caught:
        store.get_request(RequestId("nope"))
    assert caught.value.reason is Reason.CONSENT_REQUEST_NOT_FOUND


def test_request_conflicts(store: ConsentStore, make_request: MakeRequest) -> None:
    store.add_request(make_request(request_key="k-1"))
    for duplicate in (
        make_request(request_key="k-2"),  # same id
        make_request(id=RequestId("req-2"), request_key="k-1"),  # same bank, same key
    ):
        with pytest.raises(DomainError) as caught:
            store.add_request(duplicate)
        assert caught.value.reason is Reason.REQUEST_ID_CONFLICT
    # Another bank may use the same key, and "no key" never conflicts.
    store.add_request(make_request(id=RequestId("req-3"), grantee="bank-b", request_key="k-1"))
    store.add_request(make_request(id=RequestId("req-4")))
    store.add_request(make_request(id=RequestId("req-5")))
    assert store.get_request(RequestId("req-0001")).request_key == "k-1"


def test_update_request_is_optimistic(
    store: ConsentStore, make_request: MakeRequest, now: datetime
) -> None:
    request = make_request()
    store.add_request(request)
    approved = replace(
        request,
        state=RequestState.APPROVED,
        decided_at=now,
        consent_id=ConsentId("con-1"),
        claims=("tampered",),
    )
    store.update_request(approved, expected_state=RequestState.PENDING)
    stored = store.get_request(request.id)
    assert (stored.state, stored.decided_at, stored.consent_id) == (
        RequestState.APPROVED,
        now,
        "con-1",
    )
    assert stored.claims == request.claims  # terms never change
    rejected = replace(request, state=RequestState.REJECTED, decided_at=now)
    with pytest.raises(StaleWriteError) as caught:
        store.update_request(rejected, expected_state=RequestState.PENDING)
    assert caught.value.reason is Reason.CONSENT_REQUEST_NOT_PENDING
    assert store.get_request(request.id).state is RequestState.APPROVED
    with pytest.raises(DomainError) as missing:
        store.update_request(
            replace(request, id=RequestId("nope")), expected_state=RequestState.PENDING
        )
    assert missing.value.reason is Reason.CONSENT_REQUEST_NOT_FOUND


def test_consent_round_trip(store: ConsentStore, make_consent: MakeConsent) -> None:
    consent = make_consent(
        record=RecordSelector("income", RecordId("rec-1")),
        data_life=timedelta(hours=5, microseconds=3),
        valid_until=make_consent().valid_until + timedelta(microseconds=123),
        artefact_jws="a.b.c",
        artefact_hash="h",
    )
    store.add_consent(consent)
    assert store.get_consent(consent.id) == consent
    latest = make_consent(id=ConsentId("con-2"), request_id=RequestId("req-2"))
    store.add_consent(latest)
    assert store.get_consent(latest.id).record.latest
    with pytest.raises(DomainError) as caught:
        store.get_consent(ConsentId("nope"))
    assert caught.value.reason is Reason.CONSENT_NOT_FOUND


def test_consent_conflicts(store: ConsentStore, make_consent: MakeConsent) -> None:
    store.add_consent(make_consent())
    for duplicate in (
        make_consent(request_id=RequestId("req-9")),  # same consent id
        make_consent(id=ConsentId("con-9")),  # second consent for one request
    ):
        with pytest.raises(DomainError) as caught:
            store.add_consent(duplicate)
        assert caught.value.reason is Reason.REQUEST_ID_CONFLICT


def test_update_consent_is_optimistic(store: ConsentStore, make_consent: MakeConsent) -> None:
    consent = make_consent(max_uses=3)
    store.add_consent(consent)
    used = replace(consent, uses=1, purpose="tampered")
    store.update_consent(used, expected_state=ConsentState.ACTIVE, expected_uses=0)
    stored = store.get_consent(consent.id)
    assert (stored.uses, stored.state, stored.purpose) == (1, ConsentState.ACTIVE, "fx_purchase")
    # A racing writer that also read uses == 0 loses.
    with pytest.raises(StaleWriteError):
        store.update_consent(used, expected_state=ConsentState.ACTIVE, expected_uses=0)
    paused = replace(stored, state=ConsentState.PAUSED)
    with pytest.raises(StaleWriteError):
        store.update_consent(paused, expected_state=ConsentState.PAUSED, expected_uses=1)
    store.update_consent(paused, expected_state=ConsentState.ACTIVE, expected_uses=1)
    assert store.get_consent(consent.id).state is ConsentState.PAUSED
    with pytest.raises(DomainError) as missing:
        store.update_consent(
            replace(paused, id=ConsentId("nope")),
            expected_state=ConsentState.PAUSED,
            expected_uses=1,
        )
    assert missing.value.reason is Reason.CONSENT_NOT_FOUND


def _fill(store: ConsentStore, make_consent: MakeConsent) -> None:
    for i in range(7):
        store.add_consent(
            make_consent(
                id=ConsentId(f"con-{i:02}"),
                request_id=RequestId(f"req-{i:02}"),
                owner=OwnerId("owner-a" if i % 2 == 0 else "owner-b"),
                grantee=GranteeId("bank-a" if i < 5 else "bank-b"),
                state=ConsentState.REVOKED if i in (2, 3) else ConsentState.ACTIVE,
            )
        )


def test_use_consent_counts_only_usable_consents(
    store: ConsentStore, make_consent: MakeConsent, now: datetime
) -> None:
    store.add_consent(make_consent(max_uses=2))
    consent_id = ConsentId("con-0001")
    assert store.use_consent(consent_id, now=now) == (1, 2)
    assert store.use_consent(consent_id, now=now + timedelta(days=1)) == (2, 2)
    refusals = {
        "spent": (consent_id, now, Reason.CONSENT_EXHAUSTED),
        "not yet valid": (ConsentId("con-late"), now, Reason.CONSENT_NOT_ACTIVE),
        "expired": (ConsentId("con-old"), now + timedelta(days=31), Reason.CONSENT_EXPIRED),
        "paused": (ConsentId("con-paused"), now, Reason.CONSENT_PAUSED),
        "revoked": (ConsentId("con-revoked"), now, Reason.CONSENT_REVOKED),
        "unknown": (ConsentId("con-none"), now, Reason.CONSENT_NOT_FOUND),
    }
    others: dict[str, dict[str, Any]] = {
        "con-late": {"valid_from": now + timedelta(hours=1)},
        "con-old": {},
        "con-paused": {"state": ConsentState.PAUSED},
        "con-revoked": {"state": ConsentState.REVOKED},
    }
    for name, changes in others.items():
        request_id = RequestId(f"req-{name}")
        store.add_consent(make_consent(id=ConsentId(name), request_id=request_id, **changes))
    for case, (target, moment, reason) in refusals.items():
        with pytest.raises(DomainError) as caught:
            store.use_consent(target, now=moment)
        assert caught.value.reason is reason, case
    assert store.get_consent(consent_id).uses == 2  # refusals counted nothing
    assert store.get_consent(ConsentId("con-late")).uses == 0


def test_list_consents_filters(
    store: ConsentStore, make_consent: MakeConsent, now: datetime
) -> None:
    _fill(store, make_consent)

    def ids(**filters: object) -> list[str]:
        if "states" in filters:
            filters["now"] = now
        page = store.list_consents(**filters)  # type: ignore[arg-type]
        return [c.id for c in page.items]

    assert ids(owner=OwnerId("owner-a")) == ["con-00", "con-02", "con-04", "con-06"]
    assert ids(grantee=GranteeId("bank-b")) == ["con-05", "con-06"]
    assert ids(owner=OwnerId("owner-b"), grantee=GranteeId("bank-a")) == ["con-01", "con-03"]
    assert ids(states={ConsentState.REVOKED}) == ["con-02", "con-03"]
    assert ids(states={ConsentState.REVOKED, ConsentState.ACTIVE}, grantee="bank-b") == [
        "con-05",
        "con-06",
    ]
    assert ids(states=set()) == []
    assert ids(owner=OwnerId("nobody")) == []


def test_a_state_filter_needs_the_moment_it_reads_states_at(store: ConsentStore) -> None:
    with pytest.raises(ValueError, match="needs now"):
        store.list_consents(states={ConsentState.ACTIVE})


def test_list_consents_filters_by_the_state_it_reads_as(
    store: ConsentStore, make_consent: MakeConsent, now: datetime
) -> None:
    """Every stored state, with 0, 1 or every use spent, read before and after ``valid_until``:
    filtering by a state returns exactly the consents ``effective_state`` shows in it."""
    made: list[Consent] = []
    for state in ConsentState:
        for uses in (0, 1, 2):
            consent = make_consent(
                id=ConsentId(f"con-{state.value.lower()}-{uses}"),
                request_id=RequestId(f"req-{state.value.lower()}-{uses}"),
                state=state,
                max_uses=2,
                uses=uses,
            )
            store.add_consent(consent)
            made.append(consent)
    wanted_sets = [{state} for state in ConsentState]
    wanted_sets += [{ConsentState.ACTIVE, ConsentState.PAUSED}, set(ConsentState)]
    for moment in (now, now + timedelta(days=30), now + timedelta(days=31)):
        for wanted in wanted_sets:
            page = store.list_consents(states=wanted, now=moment, page_size=100)
            shown = sorted(c.id for c in made if effective_state(c, moment) in wanted)
            assert [c.id for c in page.items] == shown, (moment, wanted)
    spent = store.list_consents(states={ConsentState.EXHAUSTED}, now=now, page_size=100)
    assert "con-active-2" in [c.id for c in spent.items]  # stored ACTIVE, every use spent
    active = store.list_consents(states={ConsentState.ACTIVE}, now=now, page_size=100)
    assert [c.id for c in active.items] == ["con-active-0", "con-active-1"]


def test_list_consents_pages(store: ConsentStore, make_consent: MakeConsent) -> None:
    _fill(store, make_consent)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.list_consents(page_size=3, after_id=cursor)
        seen.extend(c.id for c in page.items)
        pages += 1
        if page.next_after is None:
            break
        cursor = page.next_after
    assert seen == [f"con-{i:02}" for i in range(7)]
    assert pages == 3
    exact = store.list_consents(page_size=7)
    assert (len(exact.items), exact.next_after) == (7, None)
    for bad in (0, 1001):
        with pytest.raises(DomainError) as caught:
            store.list_consents(page_size=bad)
        assert caught.value.reason is Reason.INVALID_ARGUMENT


def test_list_requests(store: ConsentStore, make_request: MakeRequest, now: datetime) -> None:
    for i in range(5):
        request = make_request(
            id=RequestId(f"req-{i}"),
            owner=OwnerId("owner-a" if i < 3 else "owner-b"),
        )
        store.add_request(request)
        if i == 1:
            store.update_request(
                replace(request, state=RequestState.REJECTED, decided_at=now),
                expected_state=RequestState.PENDING,
            )
    pending = store.list_requests(owner=OwnerId("owner-a"), states={RequestState.PENDING})
    assert [r.id for r in pending.items] == ["req-0", "req-2"]
    first = store.list_requests(grantee=GranteeId("bank-a"), page_size=2)
    assert [r.id for r in first.items] == ["req-0", "req-1"]
    assert first.next_after == "req-1"
    rest = store.list_requests(grantee=GranteeId("bank-a"), page_size=2, after_id="req-3")
    assert ([r.id for r in rest.items], rest.next_after) == (["req-4"], None)


def test_count_pending_requests(
    store: ConsentStore, make_request: MakeRequest, now: datetime
) -> None:
    cases = [  # (owner, grantee, state, expires after now)
        ("owner-a", "bank-a", RequestState.PENDING, timedelta(days=1)),
        ("owner-a", "bank-a", RequestState.PENDING, timedelta(days=7)),
        ("owner-a", "bank-a", RequestState.PENDING, timedelta(0)),  # expired just now
        ("owner-a", "bank-a", RequestState.REJECTED, timedelta(days=1)),
        ("owner-a", "bank-b", RequestState.PENDING, timedelta(days=1)),
        ("owner-b", "bank-a", RequestState.PENDING, timedelta(days=1)),
    ]
    for i, (owner, grantee, state, left) in enumerate(cases):
        store.add_request(
            make_request(
                id=RequestId(f"req-{i}"),
                owner=OwnerId(owner),
                grantee=GranteeId(grantee),
                state=state,
                expires_at=now + left,
            )
        )
    assert store.count_pending_requests(OwnerId("owner-a"), GranteeId("bank-a"), now) == 2
    assert store.count_pending_requests(OwnerId("owner-a"), GranteeId("bank-b"), now) == 1
    later = now + timedelta(days=2)
    assert store.count_pending_requests(OwnerId("owner-a"), GranteeId("bank-a"), later) == 1
    assert store.count_pending_requests(OwnerId("owner-c"), GranteeId("bank-a"), now) == 0


def test_event_feed(store: ConsentStore, now: datetime) -> None:
    appended = [
        store.append_event(_event(now, "bank-a", ConsentState.ACTIVE)),
        store.append_event(_event(now, "bank-b", RequestState.REJECTED)),
        store.append_event(_event(now + timedelta(seconds=1), "bank-a", RequestState.EXPIRED)),
        store.append_event(_event(now, "bank-a", ConsentState.EXPIRED)),
    ]
    seqs = [e.seq for e in appended]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4
    assert seqs[0] >= 1
    feed = store.events_after(GranteeId("bank-a"), 0)
    assert feed == [appended[0], appended[2], appended[3]]
    # The same text "EXPIRED" comes back as the right enum.
    assert isinstance(feed[1].state, RequestState)
    assert isinstance(feed[2].state, ConsentState)
    assert store.events_after(GranteeId("bank-a"), appended[0].seq, limit=1) == [appended[2]]
    assert store.events_after(GranteeId("bank-a"), appended[3].seq) == []
    assert store.events_after(GranteeId("bank-b"), 0) == [appended[1]]


# SQLite only: the caller owns the transaction.


def test_sqlite_store_never_commits(tmp_path: Path, make_consent: MakeConsent) -> None:
    path = tmp_path / "attestgate.consent.db"
    writer, reader = _connect(path), _connect(path)
    store, view = SqlConsentStore(writer), SqlConsentStore(reader)
    consent = make_consent()
    store.add_consent(consent)
    store.append_event(_event(consent.created_at, "bank-a", ConsentState.ACTIVE))
    assert writer.in_transaction
    assert view.list_consents().items == ()
    writer.rollback()
    assert store.list_consents().items == ()
    store.add_consent(consent)
    writer.commit()
    assert view.get_consent(consent.id) == consent
    store.update_consent(
        replace(consent, state=ConsentState.REVOKED),
        expected_state=ConsentState.ACTIVE,
        expected_uses=0,
    )
    assert view.get_consent(consent.id).state is ConsentState.ACTIVE
    writer.commit()
    assert view.get_consent(consent.id).state is ConsentState.REVOKED
    writer.close()
    reader.close()


def test_sqlite_failed_insert_keeps_the_callers_transaction(
    tmp_path: Path, make_request: MakeRequest
) -> None:
    conn = _connect(tmp_path / "attestgate.consent.db")
    store = SqlConsentStore(conn)
    conn.execute("BEGIN")
    store.add_request(make_request())
    with pytest.raises(DomainError):
        store.add_request(make_request())
    assert conn.in_transaction
    store.add_request(make_request(id=RequestId("req-2")))
    conn.commit()
    assert [r.id for r in store.list_requests().items] == ["req-0001", "req-2"]
    conn.close()


def test_sqlite_rows_keep_their_stored_format(
    tmp_path: Path, make_request: MakeRequest, make_consent: MakeConsent
) -> None:
    # Stored data must not change: flags are INTEGER 0/1, times fixed-width UTC text, durations
    # integer microseconds, claims a JSON array (databases written before stay readable).
    conn = _connect(tmp_path / "attestgate.consent.db")
    store = SqlConsentStore(conn)
    store.add_request(make_request(cross_border=True, valid_for=timedelta(days=1)))
    store.add_consent(make_consent(separate_consent=False))
    conn.commit()
    request_row = conn.execute(
        "SELECT typeof(separate_consent), separate_consent, typeof(cross_border), cross_border,"
        " claims, valid_for_us, created_at FROM consent_requests"
    ).fetchone()
    assert request_row == (
        "integer", 0, "integer", 1, '["tax_year", "covers_amount"]', 86_400_000_000,
        "2025-06-30T08:00:00.000000+00:00",
    )  # fmt: skip
    consent_row = conn.execute(
        "SELECT typeof(separate_consent), separate_consent, typeof(data_life_us) FROM consents"
    ).fetchone()
    assert consent_row == ("integer", 0, "integer")
    conn.close()
