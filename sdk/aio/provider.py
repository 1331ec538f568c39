"""``AsyncProviderClient``: ``sdk.ProviderClient`` for ``asyncio`` (same methods, awaited).

Uploads are signed exactly as the sync client signs them (JWS compact, ES256 or EdDSA, ``kid``
the provider id); each call carries a fresh ``request_id`` (AIP-155), which also makes it safe
to retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jwt
from attestgate.v1 import record_pb2, record_pb2_grpc

from sdk._internal import convert
from sdk.aio._base import DEFAULT_TIMEOUT, AsyncClientBase, TokenSource
from sdk.provider import SigningKey, _algorithm, _field, _rate, _token_subject
from sdk.retry import RetryPolicy
from sdk.tls import TlsConfig
from sdk.types import ClaimValue, ErasureReceipt, FxRatesReceipt, RecordReceipt

__all__ = ["AsyncProviderClient"]


class AsyncProviderClient(AsyncClientBase):
    """Upload signed records and FX rate tables; erase a subject's data.

    The parameters are ``sdk.ProviderClient``'s; ``retry`` replaces the default retry policy.
    """

    def __init__(
        self,
        target: str,
        *,
        token: TokenSource,
        signing_key: SigningKey,
        provider_id: str | None = None,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        options: Sequence[tuple[str, Any]] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self._algorithm = _algorithm(signing_key)
        self._provider_id = provider_id or _token_subject(token)
        super().__init__(
            target,
            token=token,
            tls=tls,
            insecure=insecure,
            timeout=timeout,
            options=options,
            retry=retry,
        )
        self._key = signing_key
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stub = record_pb2_grpc.RecordServiceStub(self._channel)

    @property
    def provider_id(self) -> str:
        """The provider id: the ``kid`` of every upload."""
        return self._provider_id

    def _sign(self, payload: Mapping[str, Any]) -> str:
        return jwt.encode(
            dict(payload), self._key, algorithm=self._algorithm, headers={"kid": self._provider_id}
        )

    async def put_record(
        self, *, domain: str, subject: str, record_id: str, fields: Mapping[str, ClaimValue]
    ) -> RecordReceipt:
        """Store a new version of a record (amounts in minor units, dates as ``datetime.date``)."""
        payload = {
            "domain": domain,
            "subject": subject,
            "record_id": record_id,
            "fields": {name: _field(name, value) for name, value in fields.items()},
            "iat": int(self._clock().timestamp()),
        }
        request = record_pb2.PutRecordRequest(
            signed_record=self._sign(payload), request_id=str(uuid.uuid4())
        )
        return convert.record_receipt(await self._unary(self._stub.PutRecord, request))

    async def put_fx_rates(
        self,
        *,
        table_id: str,
        rates: Mapping[str, str | Decimal],
        base: str = "CNY",
        effective_at: datetime | None = None,
    ) -> FxRatesReceipt:
        """Upload an FX rate table: units of ``base`` per one unit of each currency."""
        moment = effective_at or self._clock()
        if moment.tzinfo is None:
            raise ValueError("effective_at must be an aware datetime")
        payload = {
            "table_id": table_id,
            "base": base,
            "rates": {currency: _rate(currency, rate) for currency, rate in rates.items()},
            "effective_at": moment.astimezone(UTC).isoformat(),
            "iat": int(self._clock().timestamp()),
        }
        request = record_pb2.PutFxRatesRequest(
            signed_rates=self._sign(payload), request_id=str(uuid.uuid4())
        )
        return convert.fx_receipt(await self._unary(self._stub.PutFxRates, request))

    async def erase_subject(self, subject: str) -> ErasureReceipt:
        """Crypto-shred every record of ``subject``; later reads fail with ``DataErased``."""
        request = record_pb2.EraseSubjectRequest(subject=subject, request_id=str(uuid.uuid4()))
        return convert.erasure_receipt(await self._unary(self._stub.EraseSubject, request))
