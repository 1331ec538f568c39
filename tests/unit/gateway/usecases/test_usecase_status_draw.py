"""AttestationStatus.draw without a server, on SQLite and PostgreSQL: every entry of a list is
handed out once (the last free ones too, which random draws alone rarely hit), then the next list
opens; a drawn entry taken meanwhile is refused at claim and the next draw finds another; the
list drawn from is remembered between draws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.persistence import status_store
from attestgate.gateway.testing import local_core
from attestgate.gateway.usecases.status import (
    LIST_SIZE_UNIT,
    AttestationStatus,
    Slot,
    SlotTakenError,
)
from tests.conformance.conftest import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_parts(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[GatewayParts]:
    changes = {}
    if request.param == "postgresql":
        from attestgate.gateway.ops.cli import main  # noqa: PLC0415 - the operator's step

        url = request.getfixturevalue("pg_url")
        assert main(["db", "migrate", "--db", url, "--data-dir", str(tmp_path / "data")]) == 0
        changes["db"] = url
    with local_core(tmp_path / "data", clock=clock, **changes) as opened:
        yield opened


def _status(parts: GatewayParts) -> AttestationStatus:
    return AttestationStatus(
        storage=parts.storage,
        clock=parts.clock,
        trail=parts.trail,
        issuer="https://gw.example",
        list_size=LIST_SIZE_UNIT,
    )


def _claim(parts: GatewayParts, status: AttestationStatus, slot: Slot, jti: str) -> None:
    parts.storage.write(lambda tx: status.claim(tx, slot, jti=jti, consent_id="c-1"))


@pytest.mark.timeout(120)
def test_every_entry_is_handed_out_once_then_a_new_list_opens(backend_parts: GatewayParts) -> None:
    status = _status(backend_parts)
    slots = []
    for n in range(LIST_SIZE_UNIT + 3):
        slot = status.draw()
        _claim(backend_parts, status, slot, f"jti-{n}")
        slots.append(slot)
    first = slots[:LIST_SIZE_UNIT]
    assert {s.list_id for s in first} == {1}
    assert sorted(s.idx for s in first) == list(range(LIST_SIZE_UNIT))  # each exactly once
    assert {s.list_id for s in slots[LIST_SIZE_UNIT:]} == {2}
    assert slots[-1].uri == "https://gw.example/status-lists/2"
    conn = backend_parts.storage.read()
    assert status_store.first_free(conn, 1, 0, LIST_SIZE_UNIT) is None  # list 1 is full


@pytest.mark.timeout(60)
def test_an_entry_taken_since_the_draw_is_refused_and_the_next_draw_finds_another(
    backend_parts: GatewayParts,
) -> None:
    status = _status(backend_parts)
    drawn = status.draw()
    _claim(backend_parts, status, drawn, "jti-first")
    with pytest.raises(SlotTakenError):
        _claim(backend_parts, status, drawn, "jti-second")  # a concurrent issue won it
    again = status.draw()
    assert (again.list_id, again.idx) != (drawn.list_id, drawn.idx)
    _claim(backend_parts, status, again, "jti-second")


def test_first_free_finds_gaps_from_a_start(backend_parts: GatewayParts) -> None:
    status = _status(backend_parts)
    first = status.draw()  # opens list 1
    taken = [0, 1, 2, 5, 6, LIST_SIZE_UNIT - 1]
    for n, idx in enumerate(taken):
        _claim(backend_parts, status, Slot(first.list_id, idx, first.uri), f"jti-{n}")
    conn = backend_parts.storage.read()
    size = LIST_SIZE_UNIT

    def free(start: int) -> int | None:
        return status_store.first_free(conn, first.list_id, start, size)

    assert free(0) == 3
    assert free(4) == 4
    assert free(5) == 7
    assert free(size - 1) is None  # the last index is taken and nothing follows it
    assert free(size - 2) == size - 2
