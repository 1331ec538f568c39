"""The use cases without a server, each constructed here from the collaborators it takes:
``attestgate.gateway.testing.local_core`` gives them (a temporary SQLite file, the real keys,
catalog, vault and audit writer; no gRPC); callers and signed uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.signals import ChangeSignal
from attestgate.gateway.testing import local_core, register_provider
from attestgate.gateway.usecases.attestations.manager import AttestationManager
from attestgate.gateway.usecases.attestations.redeem import Redeemer
from attestgate.gateway.usecases.attestations.refusals import RefusalAudit
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import ConsentManager
from attestgate.gateway.usecases.records import RecordManager
from attestgate.sdk._internal.uploads import UploadSigner
from tests.integration.live import INCOME_FIELDS

BANK = Caller("bank-a", "bank")
ALICE = Caller("alice", "owner")
TAX = Caller("tax-bureau", "provider")

INCOME: dict[str, Any] = INCOME_FIELDS  # after-tax income CNY 612,345.00 (in fen)


@pytest.fixture
def parts(tmp_path: Path, clock: FixedClock) -> Iterator[GatewayParts]:
    with local_core(tmp_path / "data", clock=clock) as opened:
        yield opened


@pytest.fixture
def consents(parts: GatewayParts) -> ConsentManager:
    return ConsentManager(
        storage=parts.storage,
        clock=parts.clock,
        catalog=parts.catalog,
        keyring=parts.keyring,
        trail=parts.trail,
        refusal_budget=parts.refusal_budget,
        consent_changes=ChangeSignal(),
        max_pending_requests=parts.config.max_pending_requests,
    )


@pytest.fixture
def records(parts: GatewayParts) -> RecordManager:
    return RecordManager(
        storage=parts.storage,
        clock=parts.clock,
        catalog=parts.catalog,
        vault=parts.vault,
        trail=parts.trail,
        providers=parts.providers,
        fx_rates_role=parts.config.fx_rates_role,
        token_leeway=parts.config.token_leeway,
        data_dir=parts.config.data_dir,
    )


@pytest.fixture
def attestations(parts: GatewayParts) -> AttestationManager:
    refusals = RefusalAudit(
        storage=parts.storage,
        clock=parts.clock,
        trail=parts.trail,
        refusal_budget=parts.refusal_budget,
    )
    redeemer = Redeemer(
        storage=parts.storage,
        clock=parts.clock,
        catalog=parts.catalog,
        vault=parts.vault,
        keyring=parts.keyring,
        trail=parts.trail,
        refusals=refusals,
        issuer=parts.config.gateway_id,
    )
    return AttestationManager(
        storage=parts.storage,
        clock=parts.clock,
        catalog=parts.catalog,
        vault=parts.vault,
        keyring=parts.keyring,
        trail=parts.trail,
        refusals=refusals,
        redeemer=redeemer,
        issuer=parts.config.gateway_id,
        attestation_ttl=parts.config.attestation_ttl,
    )


def log_size(parts: GatewayParts) -> int:
    """Leaves in the audit log (every change and every audited refusal adds some)."""
    return parts.log.size(parts.storage.read())


def signer(
    parts: GatewayParts, caller: Caller, roles: tuple[str, ...], clock: FixedClock
) -> UploadSigner:
    """Register a fresh P-256 key for ``caller`` with ``roles``; the signer of its uploads (the
    SDK's, as ``ProviderClient`` uses it)."""
    key = register_provider(parts.config.data_dir, caller.subject, roles)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return UploadSigner(token="", signing_key=key, provider_id=caller.subject, clock=clock.now)


def signed_record(uploads: UploadSigner, record_id: str = "inc-2025", **fields: Any) -> str:
    """A signed income record of ``alice`` (``fields`` override ``INCOME``)."""
    request = uploads.record_request(
        domain="income", subject="alice", record_id=record_id, fields=INCOME | fields
    )
    return request.signed_record
