"""The events of one unit of work are consecutive leaves in causal order and carry the unit's time
(issue 16 item 6): an issue that uses a consent's last use logs ``attestation.issued`` and then
``consent.exhausted``, both at the time of the issue, even when the clock moves while the unit
runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import RegulatorClient
from tests.integration import live


class TickingClock(FixedClock):
    """Every reading is 1 ms after the previous one: a unit of work that read the clock twice for
    its events would stamp them apart."""

    def now(self) -> datetime:
        return self.advance(timedelta(milliseconds=1))


def logged_events(regulator: RegulatorClient, until: str, timeout: float = 10) -> list[Any]:
    """The log's entries once a checkpoint covers an event of type ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        checkpoint = regulator.checkpoint()
        entries = list(regulator.entries(0, checkpoint.size))
        if any(e.event["type"] == until for e in entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def test_issue_then_exhaustion_in_order_at_the_units_time(tmp_path: Path) -> None:
    clock = TickingClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    with live.start_live(tmp_path / "gw", clock) as gw:
        provider = gw.provider("tax-bureau")
        provider.put_record(
            domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
        )
        provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})
        bank = gw.bank("bank-a")
        request = bank.request_consent(
            owner="alice",
            domain="income",
            purpose="fx_purchase",
            bounds=live.FX_BOUNDS,
            claims=["tax_year", "covers_amount"],
            record_id="inc-2025",
            max_uses=1,
        )
        consent = gw.owner("alice").approve(request.id)
        attestation = bank.issue(consent.id, params={"amount": 5_000_000, "currency": "USD"})

        entries = logged_events(gw.regulator(), "consent.exhausted")
    types = [e.event["type"] for e in entries]
    assert types.count("consent.exhausted") == 1, types
    exhausted = types.index("consent.exhausted")
    issued = entries[exhausted - 1].event
    assert issued["type"] == "attestation.issued", types  # the use first, then its consequence
    assert issued["objects"]["attestation_jti"] == attestation.jti
    assert issued["objects"]["consent_id"] == entries[exhausted].event["objects"]["consent_id"]
    assert issued["time"] == entries[exhausted].event["time"]  # one unit of work, one time
