"""One live gateway with a small world in it, and the checks every fuzzed call must pass.

The world: an income record and an FX table (provider ``tax``), an ACTIVE consent and a PENDING
request of owner ``alice`` for bank ``bank-1``, and an ISSUED attestation. ``SEEDS`` holds one
valid request per RPC about those objects; the fuzzers send them as they are, mutated, or replaced
by random messages and bytes, under every role (and none).

After each call (``Harness.call``): the status is never ``UNKNOWN`` or ``INTERNAL``; a refused
call changed no state table (consents, requests, records, attestations, capacity, ...); the audit
log grew only by refusal (``deny``) events, and not at all for malformed input
(``INVALID_ARGUMENT``: bad input never changes state, not even the log).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.jose import public_jwk
from attestgate.sdk import BankClient, ProviderClient
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce, unverified_jti
from attestgate.v1 import (
    attestation_pb2,
    audit_pb2,
    common_pb2,
    consent_pb2,
    record_pb2,
)
from tests.integration import live
from tests.integration.live import LiveGateway

STATE_TABLES = (
    "consent_requests",
    "consents",
    "consent_events",
    "subject_keys",
    "records",
    "domain_erasures",
    "attestations",
    "capacity",
    "idempotency",
    "fx_rates",
    "evaluation_budgets",
    "derived_keys",
)
"""Every table but the audit log's own (leaves, nodes, checkpoints, activity index)."""

STREAM_TIMEOUT = 0.3
UNARY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Rpc:
    """One method of the four services."""

    service: str
    name: str
    request_type: type[Message]
    streaming: bool

    @property
    def path(self) -> str:
        """``/attestgate.v1.Service/Method``."""
        return f"/{self.service}/{self.name}"


def _rpcs() -> tuple[Rpc, ...]:
    found = []
    for module in (consent_pb2, attestation_pb2, record_pb2, audit_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                request_type = getattr(module, method.input_type.name)
                found.append(
                    Rpc(service.full_name, method.name, request_type, method.server_streaming)
                )
    return tuple(found)


RPCS = _rpcs()
UNARY_RPCS = tuple(r for r in RPCS if not r.streaming)
ROLES = ("owner", "other-owner", "bank", "other-bank", "provider", "regulator", "operator", "none")


@dataclass(frozen=True)
class Outcome:
    """How a call ended: status code name, ErrorInfo reason, field violations."""

    code: str
    reason: str = ""
    violations: int = 0


@dataclass(frozen=True)
class State:
    """A digest of every state table and the audit log's size."""

    tables: str
    log_size: int


class Harness:
    """The live gateway, a channel to it, tokens per role and the valid seed requests."""

    def __init__(
        self, gw: LiveGateway, seeds: dict[str, Message], provider_key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.gw = gw
        self.seeds = seeds
        self.provider_key = provider_key
        ca_file = gw.tls.ca_file
        assert ca_file is not None
        self.channel = grpc.secure_channel(
            gw.target, grpc.ssl_channel_credentials(ca_file.read_bytes())
        )
        subjects = {
            "owner": ("owner", "alice"),
            "other-owner": ("owner", "mallory"),
            "bank": ("bank", "bank-1"),
            "other-bank": ("bank", "bank-2"),
            "provider": ("provider", "tax"),
            "regulator": ("regulator", "csrc"),
            "operator": ("operator", "ops"),
        }
        self.metadata: dict[str, tuple[tuple[str, str], ...]] = {
            name: (("authorization", f"Bearer {gw.token(role, sub)}"),)
            for name, (role, sub) in subjects.items()
        }
        self.metadata["none"] = ()

    def close(self) -> None:
        """Close the channel (the gateway is closed by its owner)."""
        self.channel.close()

    # -- observing state -----------------------------------------------------------------------

    def state(self) -> State:
        """What a refused call must leave as it was."""
        conn = self.gw.parts.storage.read()
        digest = hashlib.sha256()
        for table in STATE_TABLES:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            digest.update(table.encode())
            digest.update(repr(sorted(repr(tuple(r)) for r in rows)).encode())
        (size,) = conn.execute("SELECT COUNT(*) FROM audit_leaves").fetchone()
        return State(digest.hexdigest(), int(size))

    def decisions_since(self, size: int) -> list[str]:
        """The ``decision`` of every audit event appended at or after index ``size``."""
        conn = self.gw.parts.storage.read()
        rows = conn.execute(
            "SELECT data FROM audit_leaves WHERE idx >= ? ORDER BY idx", (size,)
        ).fetchall()
        return [str(json.loads(bytes(r[0]))["decision"]) for r in rows]

    # -- calling -------------------------------------------------------------------------------

    def send(self, rpc: Rpc, role: str, payload: Message | bytes) -> Outcome:
        """Send ``payload`` (a message, or raw bytes that may not parse) as ``role``."""
        raw = payload if isinstance(payload, bytes) else payload.SerializeToString()
        metadata = self.metadata[role]
        try:
            if rpc.streaming:
                stream: grpc.UnaryStreamMultiCallable[bytes, bytes]
                stream = self.channel.unary_stream(rpc.path)
                call = stream(raw, metadata=metadata, timeout=STREAM_TIMEOUT)
                for _ in call:
                    call.cancel()  # one message is enough: the stream works
                    break
            else:
                unary: grpc.UnaryUnaryMultiCallable[bytes, bytes]
                unary = self.channel.unary_unary(rpc.path)
                unary(raw, metadata=metadata, timeout=UNARY_TIMEOUT)
        except grpc.RpcError as error:
            return _outcome(error)
        return Outcome("OK")

    def call(self, rpc: Rpc, role: str, payload: Message | bytes) -> Outcome:
        """``send`` and check the invariants of the module docstring; returns the outcome."""
        before = self.state()
        outcome = self.send(rpc, role, payload)
        assert outcome.code not in ("UNKNOWN", "INTERNAL"), (rpc.name, role, outcome)
        if outcome.code in ("OK", "CANCELLED"):
            return outcome
        if outcome.code == "DEADLINE_EXCEEDED":
            assert rpc.streaming, (rpc.name, role, "a unary call timed out")
        after = self.state()
        assert after.tables == before.tables, (rpc.name, role, outcome, "state changed")
        added = self.decisions_since(before.log_size)
        if outcome.reason == "INVALID_ARGUMENT" or outcome.violations:
            assert added == [], (rpc.name, role, outcome, "malformed input was audited")
        assert set(added) <= {"deny"}, (rpc.name, role, outcome, added)
        return outcome


def _outcome(error: grpc.RpcError) -> Outcome:
    code = error.code().name
    if code == "CANCELLED":
        return Outcome(code)
    status = rpc_status.from_call(error)
    reason, violations = "", 0
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = len(bad.field_violations)
    return Outcome(code, reason, violations)


# -- the world -----------------------------------------------------------------------------------


def build_world(data_dir: Path, clock: FixedClock) -> Harness:
    """Start the gateway, put the objects of the module docstring in it, return the harness."""
    gw = live.start_live(data_dir, clock, max_workers=8)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ProviderRegistry(gw.config.data_dir).add(
        "tax", pem, roles=("tax_bureau", "fx_authority"), replace=True
    )
    provider = ProviderClient(
        gw.target, token=gw.token("provider", "tax"), signing_key=key, tls=gw.tls,
        clock=gw.clock.now,
    )  # fmt: skip
    gw.clients.append(provider)
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-1", rates={"USD": live.USD_RATE})
    bank = gw.bank("bank-1")
    active = gw.owner("alice").approve(_income_request(bank).id)
    pending = _income_request(bank)
    attestation = bank.issue(active.id, params={"amount": 1_000_000, "currency": "USD"})
    redeemable = bank.issue(
        gw.owner("alice").approve(_income_request(bank).id).id,
        params={"amount": 1_000, "currency": "USD"},
    )
    seeds = _seeds(gw, bank, key, active.id, pending.id, attestation.jti, redeemable.token)
    return Harness(gw, seeds, key)


def _income_request(bank: BankClient) -> Any:
    return bank.request_consent(
        owner="alice",
        domain="income",
        purpose="fx_purchase",
        bounds=live.FX_BOUNDS,
        claims=["tax_year", "covers_amount"],
        record_id="inc-2025",
    )


def _seeds(
    gw: LiveGateway,
    bank: BankClient,
    key: ec.EllipticCurvePrivateKey,
    consent: str,
    request: str,
    jti: str,
    token: str,
) -> dict[str, Message]:
    presentation = create_presentation(
        token,
        holder_key=bank.holder_key,
        audience=gw.config.gateway_id,
        nonce=redemption_nonce(str(unverified_jti(token)), "tx-1"),
        now=gw.clock.now(),
    )
    upload = {"domain": "income", "subject": "bob", "record_id": "inc-bob",
              "fields": live.INCOME_FIELDS}  # fmt: skip
    signed_record = sign_upload(key, upload)
    signed_rates = sign_upload(key, {"table_id": "pboc-2", "base": "CNY", "rates": {"USD": "7.2"}})
    usd = {
        "amount": common_pb2.Value(int_value=1_000),
        "currency": common_pb2.Value(string_value="USD"),
    }
    builders: dict[str, Callable[[], Message]] = {
        "CreateConsentRequest": lambda: consent_pb2.CreateConsentRequestRequest(
            consent_request=consent_pb2.ConsentRequest(
                owner="alice",
                domain="income",
                purpose="fx_purchase",
                bounds=live.fx_bounds_pb(),
                claims=["tax_year", "covers_amount"],
                record_id="inc-2025",
            ),
        ),
        "ListConsentRequests": lambda: consent_pb2.ListConsentRequestsRequest(page_size=5),
        "ApproveConsentRequest": lambda: consent_pb2.ApproveConsentRequestRequest(
            name=f"consentRequests/{request}", claims=["tax_year"]
        ),
        "RejectConsentRequest": lambda: consent_pb2.RejectConsentRequestRequest(
            name=f"consentRequests/{request}"
        ),
        "GetConsent": lambda: consent_pb2.GetConsentRequest(name=f"consents/{consent}"),
        "ListConsents": lambda: consent_pb2.ListConsentsRequest(page_size=5),
        "PauseConsent": lambda: consent_pb2.PauseConsentRequest(name=f"consents/{consent}"),
        "ResumeConsent": lambda: consent_pb2.ResumeConsentRequest(name=f"consents/{consent}"),
        "RevokeConsent": lambda: consent_pb2.RevokeConsentRequest(name=f"consents/{consent}"),
        "WatchConsentEvents": lambda: consent_pb2.WatchConsentEventsRequest(cursor="0"),
        "ListActivity": lambda: consent_pb2.ListActivityRequest(page_size=5),
        "IssueAttestation": lambda: attestation_pb2.IssueAttestationRequest(
            consent=f"consents/{consent}",
            params=usd,
            holder_jwk=json.dumps(public_jwk(bank.holder_key.public_key())),
        ),
        "RedeemAttestation": lambda: attestation_pb2.RedeemAttestationRequest(
            presentation=presentation, transaction_ref="tx-1"
        ),
        "GetAttestation": lambda: attestation_pb2.GetAttestationRequest(name=f"attestations/{jti}"),
        "ReleaseRedemption": lambda: attestation_pb2.ReleaseRedemptionRequest(
            attestation=f"attestations/{jti}", reason="REPAID"
        ),
        "GetIssuerKeys": attestation_pb2.GetIssuerKeysRequest,
        "PutRecord": lambda: record_pb2.PutRecordRequest(signed_record=signed_record),
        "PutFxRates": lambda: record_pb2.PutFxRatesRequest(signed_rates=signed_rates),
        "EraseSubject": lambda: record_pb2.EraseSubjectRequest(subject="nobody"),
        "GetAssetHistory": lambda: record_pb2.GetAssetHistoryRequest(
            domain="warehouse_receipt", asset_id="WR-1"
        ),
        "GetCheckpoint": audit_pb2.GetCheckpointRequest,
        "ListEntries": lambda: audit_pb2.ListEntriesRequest(start=0, end=3),
        "GetInclusionProof": lambda: audit_pb2.GetInclusionProofRequest(leaf_index=0, tree_size=2),
        "GetConsistencyProof": lambda: audit_pb2.GetConsistencyProofRequest(old_size=1, new_size=2),
        "WatchCheckpoints": audit_pb2.WatchCheckpointsRequest,
    }
    assert set(builders) == {r.name for r in RPCS}, "a new RPC needs a seed request"
    return {name: build() for name, build in builders.items()}


def sign_upload(key: ec.EllipticCurvePrivateKey, payload: dict[str, Any]) -> str:
    """A provider upload (record or FX table) signed as provider ``tax``."""
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": "tax"})
