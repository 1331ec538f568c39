"""The attestgate SDK for ``asyncio`` (``grpc.aio``): the same four clients, awaited.

::

    from attestgate.sdk import AsyncBankClient, TlsConfig

    async with AsyncBankClient(target, token=token, tls=TlsConfig(ca_file=ca)) as bank:
        attestation = await bank.issue(consent_id, params={"amount": 5_000_000, "currency": "USD"})

Each async client has the methods of its sync twin with the same parameters (a test compares
them); methods doing I/O are coroutines, streams are async generators. Deadlines, retries
(``sdk.retry``), TLS (``sdk.TlsConfig``) and errors (``sdk.errors``) behave as in the sync SDK.
"""

from __future__ import annotations

from attestgate.sdk.aio.bank import AsyncBankClient
from attestgate.sdk.aio.owner import AsyncOwnerClient
from attestgate.sdk.aio.provider import AsyncProviderClient
from attestgate.sdk.aio.regulator import AsyncRegulatorClient

__all__ = ["AsyncBankClient", "AsyncOwnerClient", "AsyncProviderClient", "AsyncRegulatorClient"]
