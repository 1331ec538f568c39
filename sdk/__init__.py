"""The attestgate SDK: what banks, data owners, providers and regulators import.

::

    from sdk import BankClient, TlsConfig

    with BankClient("gateway.example:8443", token=token, tls=TlsConfig(ca_file=ca)) as bank:
        request = bank.request_consent(owner="alice", domain="income", purpose="fx_purchase",
                                       claims=["tax_year", "covers_amount"])

Clients: ``OwnerClient``, ``ProviderClient``, ``BankClient``, ``RegulatorClient`` (plus
``LogMonitor``, ``export_receipt``, ``verify_receipt``), and their ``asyncio`` twins
``AsyncOwnerClient``, ``AsyncProviderClient``, ``AsyncBankClient``, ``AsyncRegulatorClient``
(``sdk.aio``). Retries of idempotent calls follow ``sdk.retry``. Results are the frozen
dataclasses of ``sdk.types``; every failure is an ``sdk.errors.AttestgateError``. ``__all__``
is pinned by ``tests/unit/sdk/test_sdk_public_api.py``.

Names are imported lazily (PEP 562) so that ``import sdk.reasons``, which the grpc-free core
packages do, does not pull in grpc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.aio import (
        AsyncBankClient,
        AsyncOwnerClient,
        AsyncProviderClient,
        AsyncRegulatorClient,
    )
    from sdk.bank import BankClient
    from sdk.errors import AttestgateError
    from sdk.log_errors import LogVerificationError, SplitViewError
    from sdk.owner import OwnerClient
    from sdk.provider import ProviderClient
    from sdk.regulator import LogMonitor, RegulatorClient, export_receipt, verify_receipt
    from sdk.tls import TlsConfig
    from sdk.types import (
        ActivityEntry,
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
        Withheld,
    )

_TYPES = (
    "ActivityEntry",
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
    "Withheld",
)

_HOMES: dict[str, str] = {
    "AsyncBankClient": "sdk.aio",
    "AsyncOwnerClient": "sdk.aio",
    "AsyncProviderClient": "sdk.aio",
    "AsyncRegulatorClient": "sdk.aio",
    "AttestgateError": "sdk.errors",
    "BankClient": "sdk.bank",
    "LogMonitor": "sdk.regulator",
    "LogVerificationError": "sdk.log_errors",
    "OwnerClient": "sdk.owner",
    "ProviderClient": "sdk.provider",
    "RegulatorClient": "sdk.regulator",
    "SplitViewError": "sdk.log_errors",
    "TlsConfig": "sdk.tls",
    "export_receipt": "sdk.regulator",
    "verify_receipt": "sdk.regulator",
    **dict.fromkeys(_TYPES, "sdk.types"),
}

__all__ = [
    "ActivityEntry",
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
    "LogMonitor",
    "LogVerificationError",
    "OwnerClient",
    "ProviderClient",
    "RecordReceipt",
    "Redemption",
    "RegulatorClient",
    "SplitViewError",
    "TlsConfig",
    "Withheld",
    "export_receipt",
    "verify_receipt",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
