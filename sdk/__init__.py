"""The attestgate SDK: what banks, data owners, providers and regulators import.

::

    from attestgate import BankClient, TlsConfig

    with BankClient("gateway.example:8443", token=token, tls=TlsConfig(ca_file=ca)) as bank:
        request = bank.request_consent(owner="alice", domain="income", purpose="fx_purchase",
                                       claims=["tax_year", "covers_amount"],
                                       bounds={"amount": 5_000_000, "currency": "USD"})

Clients: ``OwnerClient``, ``ProviderClient``, ``BankClient``, ``RegulatorClient`` (plus
``LogMonitor``, ``export_receipt``, ``verify_receipt``, ``verify_consent_receipt`` for an
owner's consent receipt), and their ``asyncio`` twins
``AsyncOwnerClient``, ``AsyncProviderClient``, ``AsyncBankClient``, ``AsyncRegulatorClient``
(``attestgate.sdk.aio``); ``HolderKey`` keeps a bank's holder key across processes
(``HolderKeySigner``: one in an HSM). Retries of idempotent calls follow
``attestgate.sdk.retry``. Results are the frozen dataclasses of ``attestgate.sdk.types``; every
failure is an ``attestgate.errors.AttestgateError``. The same names are re-exported by
``attestgate`` itself. ``__all__`` is pinned by ``tests/unit/sdk/test_sdk_public_api.py``.

Names are imported lazily (PEP 562) so that ``import attestgate.sdk.reasons`` (the public
re-export of the kernel's ``attestgate.protocol.reasons``) does not pull in grpc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attestgate.protocol.cosignature import WitnessPolicy
    from attestgate.sdk.aio import (
        AsyncBankClient,
        AsyncOwnerClient,
        AsyncProviderClient,
        AsyncRegulatorClient,
    )
    from attestgate.sdk.bank import BankClient
    from attestgate.sdk.consent_receipt import ConsentReceipt, verify_consent_receipt
    from attestgate.sdk.errors import AttestgateError
    from attestgate.sdk.holder_key import HolderKey, HolderKeySigner
    from attestgate.sdk.log_errors import LogVerificationError, SplitViewError, WitnessPolicyError
    from attestgate.sdk.owner import OwnerClient
    from attestgate.sdk.provider import ProviderClient
    from attestgate.sdk.regulator import LogMonitor, RegulatorClient, export_receipt, verify_receipt
    from attestgate.sdk.tls import TlsConfig
    from attestgate.sdk.types import (
        ActivityEntry,
        AssetEvent,
        Attestation,
        AttestationState,
        Checkpoint,
        Consent,
        ConsentEvent,
        ConsentId,
        ConsentRequest,
        ConsentRequestId,
        ConsentRequestState,
        ConsentState,
        ConsistencyProof,
        ErasureReceipt,
        FxRatesReceipt,
        InclusionProof,
        Jti,
        LogEntry,
        RecordReceipt,
        Redemption,
        Release,
        Withheld,
    )

_TYPES = (
    "ActivityEntry",
    "AssetEvent",
    "Attestation",
    "AttestationState",
    "Checkpoint",
    "Consent",
    "ConsentEvent",
    "ConsentId",
    "ConsentRequest",
    "ConsentRequestId",
    "ConsentRequestState",
    "ConsentState",
    "ConsistencyProof",
    "ErasureReceipt",
    "FxRatesReceipt",
    "InclusionProof",
    "Jti",
    "LogEntry",
    "RecordReceipt",
    "Redemption",
    "Release",
    "Withheld",
)

_HOMES: dict[str, str] = {
    "AsyncBankClient": "attestgate.sdk.aio",
    "AsyncOwnerClient": "attestgate.sdk.aio",
    "AsyncProviderClient": "attestgate.sdk.aio",
    "AsyncRegulatorClient": "attestgate.sdk.aio",
    "AttestgateError": "attestgate.sdk.errors",
    "BankClient": "attestgate.sdk.bank",
    "ConsentReceipt": "attestgate.sdk.consent_receipt",
    "HolderKey": "attestgate.sdk.holder_key",
    "HolderKeySigner": "attestgate.sdk.holder_key",
    "LogMonitor": "attestgate.sdk.regulator",
    "LogVerificationError": "attestgate.sdk.log_errors",
    "OwnerClient": "attestgate.sdk.owner",
    "ProviderClient": "attestgate.sdk.provider",
    "RegulatorClient": "attestgate.sdk.regulator",
    "SplitViewError": "attestgate.sdk.log_errors",
    "WitnessPolicy": "attestgate.protocol.cosignature",
    "WitnessPolicyError": "attestgate.sdk.log_errors",
    "TlsConfig": "attestgate.sdk.tls",
    "export_receipt": "attestgate.sdk.regulator",
    "verify_consent_receipt": "attestgate.sdk.consent_receipt",
    "verify_receipt": "attestgate.sdk.regulator",
    **dict.fromkeys(_TYPES, "attestgate.sdk.types"),
}

__all__ = [
    "ActivityEntry",
    "AssetEvent",
    "AsyncBankClient",
    "AsyncOwnerClient",
    "AsyncProviderClient",
    "AsyncRegulatorClient",
    "Attestation",
    "AttestationState",
    "AttestgateError",
    "BankClient",
    "Checkpoint",
    "Consent",
    "ConsentEvent",
    "ConsentId",
    "ConsentReceipt",
    "ConsentRequest",
    "ConsentRequestId",
    "ConsentRequestState",
    "ConsentState",
    "ConsistencyProof",
    "ErasureReceipt",
    "FxRatesReceipt",
    "HolderKey",
    "HolderKeySigner",
    "InclusionProof",
    "Jti",
    "LogEntry",
    "LogMonitor",
    "LogVerificationError",
    "OwnerClient",
    "ProviderClient",
    "RecordReceipt",
    "Redemption",
    "RegulatorClient",
    "Release",
    "SplitViewError",
    "TlsConfig",
    "Withheld",
    "WitnessPolicy",
    "WitnessPolicyError",
    "export_receipt",
    "verify_consent_receipt",
    "verify_receipt",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'attestgate.sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
