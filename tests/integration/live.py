"""A real gateway (``attestgate.gateway.testing``: ``build_gateway``, the real services on SQLite)
on 127.0.0.1:0 with TLS from its dev CA, and SDK clients for it.

Test modules define their own fixture around ``start_live`` (fixtures in a non-root conftest
cannot be shared through ``pytest_plugins``). Checkpoints are signed every 20 ms so that tests
wait briefly for one; the gateway's clock is the test's ``FixedClock``, also given to the clients
that need "now" (key-binding JWTs, offline verification, upload ``iat``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.testing import LocalGateway, start_local_gateway
from attestgate.protocol.jose import json_object
from attestgate.sdk import (
    BankClient,
    Checkpoint,
    RegulatorClient,
)
from attestgate.sdk.types import ClaimValue, ConsentEvent
from attestgate.v1 import common_pb2
from tests.integration.conftest import TEST_CONFIG

CHECKPOINT_EVERY = timedelta(milliseconds=20)

USD_RATE = "7.1234"
FX_BOUNDS: dict[str, ClaimValue] = {"amount": 10**14, "currency": "USD"}
"""Bounds of an income / fx_purchase request (the shipped catalog requires them): USD 1 trillion,
above every amount the tests issue with, so a test about something else is not bounded by it."""


def fx_bounds_pb() -> dict[str, common_pb2.Value]:
    """``FX_BOUNDS`` as the wire's ``map<string, Value>`` (raw gRPC requests)."""
    return {
        "amount": common_pb2.Value(int_value=10**14),
        "currency": common_pb2.Value(string_value="USD"),
    }


"""CNY per USD in the FX table every test uploads."""


LiveGateway = LocalGateway[FixedClock]
"""A started gateway with the real services, and factories for SDK clients
(``attestgate.gateway.testing``; the bank and provider clients use the gateway's clock)."""


def start_live(data_dir: Path, clock: FixedClock, **changes: Any) -> LiveGateway:
    """Build and start the real gateway in ``data_dir``."""
    changes.setdefault("checkpoint_interval", CHECKPOINT_EVERY)
    return start_local_gateway(data_dir, clock=clock, **(TEST_CONFIG | changes))


def start_on(backend: str, pg_url: str | None, data_dir: Path, clock: FixedClock) -> LiveGateway:
    """``start_live`` on the data dir's SQLite file (``backend == "sqlite"``), or on ``pg_url``
    (a fresh schema, ``tests.conformance.conftest.pg_url``), migrated first."""
    if backend == "sqlite":
        return start_live(data_dir, clock)
    assert pg_url is not None
    from attestgate.gateway.ops.cli import main  # noqa: PLC0415 - the operator's step, as documented

    assert main(["db", "migrate", "--db", pg_url, "--data-dir", str(data_dir)]) == 0
    return start_live(data_dir, clock, db=pg_url)


def live_gateway(tmp_path: Path, clock: FixedClock, **changes: Any) -> Iterator[LiveGateway]:
    """Body of a module's fixture: start, yield, stop."""
    live = start_live(tmp_path / "gw", clock, **changes)
    try:
        yield live
    finally:
        live.close()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds (True) or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_checkpoint(regulator: RegulatorClient, size: int, timeout: float = 5.0) -> Checkpoint:
    """Poll until a verified checkpoint covers at least ``size`` leaves."""
    deadline = time.monotonic() + timeout
    while True:
        checkpoint = regulator.checkpoint()
        if checkpoint.size >= size or time.monotonic() > deadline:
            return checkpoint
        time.sleep(0.01)


def read_events(
    bank: BankClient, cursor: str | None, until: Callable[[ConsentEvent], bool]
) -> list[ConsentEvent]:
    """Events from ``cursor`` up to and including the first one matching ``until``."""
    stream = bank.watch_consent_events(cursor, timeout=10)
    seen: list[ConsentEvent] = []
    try:
        for event in stream:
            seen.append(event)
            if until(event):
                return seen
    finally:
        stream.close()
    raise AssertionError("the stream ended before the expected event")


# --- the audit log, read raw ----------------------------------------------------------------------

ASSET_TYPES = {
    "record.put",
    "record.transferred",
    "attestation.redeemed",
    "pledge.released",
    "record.erased",
}
"""The events of an asset's history (GetAssetHistory)."""


def leaves(gw: LiveGateway) -> list[bytes]:
    """Every leaf of the log, straight from the database (not through the gateway)."""
    rows = gw.parts.storage.read().execute("SELECT data FROM audit_leaves ORDER BY idx").fetchall()
    return [bytes(r[0]) for r in rows]


def log_history(all_leaves: list[bytes], size: int, domain: str, asset_id: str) -> list[int]:
    """The indices of an asset's events among the first ``size`` raw leaves: the expectation."""
    found = []
    erased_holder = None
    for index, leaf in enumerate(all_leaves[:size]):
        event: dict[str, Any] = json_object(leaf, max_depth=8)
        objects = event["objects"]
        if event["decision"] != "allow" or event["type"] not in ASSET_TYPES:
            continue
        if objects.get("record_id") == asset_id and objects.get("domain") == domain:
            found.append(index)
            if event["type"] in {"record.put", "record.transferred"}:
                erased_holder = event["subject"]
        elif event["type"] == "record.erased" and event["subject"] == erased_holder:
            assert domain in objects["domains"].split(",")
            found.append(index)
    return found


# --- records of the four domains -----------------------------------------------------------------

INCOME_FIELDS: dict[str, Any] = {
    "tax_year": 2025,
    "gross_income": 80_000_000,
    "after_tax_income": 61_234_500,  # CNY 612,345.00 in fen
    "tax_paid": 18_765_500,
    "employer_name": "ACME Shenzhen",
    "taxpayer_id": "91440300TAX0001",
}

WAREHOUSE_FIELDS: dict[str, Any] = {
    "receipt_id": "WR-2026-0001",
    "commodity": "copper cathode",
    "quantity": 250,
    "unit": "t",
    "warehouse": "Qianhai Bonded Warehouse 3",
    "status": "ACTIVE",
    "holder": "acme-trading",
}


def patent_fields(owner: str) -> dict[str, Any]:
    """A valid patent owned by ``owner``."""
    return {
        "patent_no": "ZL202410000001.1",
        "title": "Low-loss optical coupler",
        "status": "VALID",
        "owner": owner,
        "expiry_date": date(2044, 3, 1),
    }


BUSINESS_FIELDS: dict[str, Any] = {
    "uscc": "91440300MA5XXXXXX1",
    "name": "Shenzhen Example Co., Ltd.",
    "status": "CLOSURE",
    "closure_start": date(2025, 6, 1),
    "closure_end": date(2027, 6, 1),
    "legal_rep_id": "440300199001011234",
}
