"""The use cases without a server: ``attestgate.gateway.testing.local_core`` (a temporary SQLite
file, the real keys, catalog, vault and audit writer; no gRPC), callers, and signed uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.testing import local_core, register_provider
from attestgate.gateway.usecases.context import Caller, Core
from attestgate.sdk._internal.uploads import UploadSigner
from tests.integration.live import INCOME_FIELDS

BANK = Caller("bank-a", "bank")
ALICE = Caller("alice", "owner")
TAX = Caller("tax-bureau", "provider")

INCOME: dict[str, Any] = INCOME_FIELDS  # after-tax income CNY 612,345.00 (in fen)


@pytest.fixture
def core(tmp_path: Path, clock: FixedClock) -> Iterator[Core]:
    with local_core(tmp_path / "data", clock=clock) as opened:
        yield opened


def log_size(core: Core) -> int:
    """Leaves in the audit log (every change and every audited refusal adds some)."""
    return core.log.size(core.storage.read())


def signer(core: Core, caller: Caller, roles: tuple[str, ...], clock: FixedClock) -> UploadSigner:
    """Register a fresh P-256 key for ``caller`` with ``roles``; the signer of its uploads (the
    SDK's, as ``ProviderClient`` uses it)."""
    key = register_provider(core.config.data_dir, caller.subject, roles)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return UploadSigner(token="", signing_key=key, provider_id=caller.subject, clock=clock.now)


def signed_record(uploads: UploadSigner, record_id: str = "inc-2025", **fields: Any) -> str:
    """A signed income record of ``alice`` (``fields`` override ``INCOME``)."""
    request = uploads.record_request(
        domain="income", subject="alice", record_id=record_id, fields=INCOME | fields
    )
    return request.signed_record
