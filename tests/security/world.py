"""What the attack tests share: a live gateway with an income record, an FX table and a consent of
owner ``alice`` for bank ``bank-a``; raw stubs; a snapshot of state; the audit log's events.

Each attack test asserts three things: the attack is refused with its stable reason, no state
changed (``Snapshot``), and, where the attempt was well formed, the refusal is in the audit log
(``deny`` events) so owners and regulators see it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import grpc

from attestgate.sdk import Attestation, BankClient, Consent
from attestgate.sdk.types import ClaimValue
from attestgate.v1 import attestation_pb2_grpc, consent_pb2_grpc, record_pb2_grpc
from tests.fuzz.harness import STATE_TABLES
from tests.integration import live
from tests.integration.live import LiveGateway

FX: dict[str, ClaimValue] = {"amount": 1_000_000, "currency": "USD"}  # USD 10,000.00


@dataclass
class World:
    """The gateway and the objects every attack aims at."""

    gw: LiveGateway
    bank: BankClient
    consent: Consent

    def issue(self) -> Attestation:
        """A fresh attestation for ``bank-a`` under a fresh consent of ``alice``."""
        request = self.bank.request_consent(
            owner="alice",
            domain="income",
            purpose="fx_purchase",
            bounds=live.FX_BOUNDS,
            claims=["tax_year", "covers_amount"],
            record_id="inc-2025",
        )
        consent = self.gw.owner("alice").approve(request.id)
        return self.bank.issue(consent.id, params=FX)

    def metadata(self, role: str, sub: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with a valid dev token."""
        return (("authorization", f"Bearer {self.gw.token(role, sub)}"),)

    def channel(self) -> grpc.Channel:
        """A raw TLS channel (no SDK retries or error mapping)."""
        assert self.gw.tls.ca_file is not None
        credentials = grpc.ssl_channel_credentials(self.gw.tls.ca_file.read_bytes())
        return grpc.secure_channel(self.gw.target, credentials)

    def stubs(self, channel: grpc.Channel) -> tuple[Any, Any, Any]:
        """(consent, attestation, record) stubs on ``channel``."""
        return (
            consent_pb2_grpc.ConsentServiceStub(channel),
            attestation_pb2_grpc.AttestationServiceStub(channel),
            record_pb2_grpc.RecordServiceStub(channel),
        )

    def snapshot(self) -> str:
        """A digest of every state table (not the audit log)."""
        conn = self.gw.parts.storage.read()
        digest = hashlib.sha256()
        for table in STATE_TABLES:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            digest.update(repr(sorted(repr(tuple(r)) for r in rows)).encode())
        return digest.hexdigest()

    def log_size(self) -> int:
        """Leaves in the audit log."""
        conn = self.gw.parts.storage.read()
        (size,) = conn.execute("SELECT COUNT(*) FROM audit_leaves").fetchone()
        return int(size)

    def events_since(self, size: int) -> list[dict[str, Any]]:
        """The audit events appended at or after index ``size``."""
        rows = (
            self.gw.parts.storage.read()
            .execute("SELECT data FROM audit_leaves WHERE idx >= ? ORDER BY idx", (size,))
            .fetchall()
        )
        return [json.loads(bytes(r[0])) for r in rows]


def build(gw: LiveGateway) -> World:
    """Put the record, the FX table and one ACTIVE consent into ``gw``."""
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-1", rates={"USD": live.USD_RATE})
    bank = gw.bank("bank-a")
    request = bank.request_consent(
        owner="alice",
        domain="income",
        purpose="fx_purchase",
        bounds=live.FX_BOUNDS,
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
    )
    return World(gw, bank, gw.owner("alice").approve(request.id))


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a refused raw call."""
    from tests.integration.test_foundation import error_info  # noqa: PLC0415

    return error_info(error)[1]
