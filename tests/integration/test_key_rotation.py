"""`attestgate keys rotate [--kek]` next to a running gateway: effective at once, audited."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from tests.integration import live
from tests.integration.live import LiveGateway


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


def _ciphertexts(gw: LiveGateway) -> list[bytes]:
    conn = sqlite3.connect(gw.config.data_dir / "attestgate.db")
    try:
        return [bytes(r[0]) for r in conn.execute("SELECT ciphertext FROM records ORDER BY 1")]
    finally:
        conn.close()


def _events(gw: LiveGateway, kind: str) -> list[Mapping[str, Any]]:
    regulator = gw.regulator()
    size = live.wait_for_checkpoint(regulator, 1).size
    entries = regulator.entries(0, size)
    return [e.event for e in entries if e.event["type"] == kind]


def test_kek_rotation_rewraps_without_reencrypting(gw: LiveGateway) -> None:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="alice-2025", fields=live.INCOME_FIELDS
    )
    before = _ciphertexts(gw)
    assert main(["keys", "rotate", "--kek", "--data-dir", str(gw.config.data_dir)]) == 0
    assert _ciphertexts(gw) == before  # records untouched
    index = json.loads((gw.config.data_dir / "keys" / "kek.json").read_text())
    conn = sqlite3.connect(gw.config.data_dir / "attestgate.db")
    kek_ids = {r[0] for r in conn.execute("SELECT kek_id FROM subject_keys")}
    conn.close()
    assert kek_ids == {index["current"]}  # every data key wrapped by the new KEK
    # The running gateway still reads the record (it picked up the new KEK) and uses the new one.
    bank, owner = gw.bank("bank-a"), gw.owner("alice")
    request = bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
    )
    attestation = bank.issue(owner.approve(request.id).id)
    assert attestation.claims["tax_year"] == live.INCOME_FIELDS["tax_year"]
    provider.put_record(
        domain="income", subject="bob", record_id="bob-2025", fields=live.INCOME_FIELDS
    )
    rotated = _events(gw, "key.rotated")
    assert [e["objects"]["key"] for e in rotated] == ["kek"]


def test_signing_key_rotation_is_audited(gw: LiveGateway) -> None:
    assert main(["keys", "rotate", "--data-dir", str(gw.config.data_dir)]) == 0
    rotated = _events(gw, "key.rotated")
    assert [e["objects"]["key"] for e in rotated] == ["attestation"]
    jwks = gw.bank("bank-a").issuer_keys()
    assert len(jwks["keys"]) == 2  # the old key keeps verifying during the overlap
