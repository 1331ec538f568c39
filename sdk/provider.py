"""``ProviderClient``: a data source (tax bureau, warehouse, IP office, registry) uploads records.

Uploads are signed with the provider's own key (``sdk._internal.uploads``); the ``kid`` is the
provider id, which must equal the ``sub`` of the provider's bearer token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import grpc

from attestgate.sdk._internal import convert
from attestgate.sdk._internal.base import DEFAULT_TIMEOUT, ClientBase
from attestgate.sdk._internal.channel import TokenSource
from attestgate.sdk._internal.uploads import SigningKey, UploadSigner
from attestgate.sdk.retry import RetryPolicy
from attestgate.sdk.tls import TlsConfig
from attestgate.sdk.types import ClaimValue, ErasureReceipt, FxRatesReceipt, RecordReceipt
from attestgate.v1 import record_pb2_grpc

__all__ = ["ProviderClient", "SigningKey"]


class ProviderClient(ClientBase):
    """Upload signed records and FX rate tables; erase a subject's data.

    ``token`` is a bearer token with role ``provider``; ``signing_key`` the private key whose
    public half the operator registered; ``provider_id`` defaults to the token's ``sub``.
    ``clock`` (for tests) supplies the ``iat`` of uploads.
    """

    def __init__(
        self,
        target: str | None = None,
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
        channel: grpc.Channel | None = None,
    ) -> None:
        self._uploads = UploadSigner(
            token=token, signing_key=signing_key, provider_id=provider_id, clock=clock
        )
        super().__init__(
            target,
            token=token,
            tls=tls,
            insecure=insecure,
            timeout=timeout,
            options=options,
            retry=retry,
            channel=channel,
        )
        self._stub = record_pb2_grpc.RecordServiceStub(self._channel)

    @property
    def provider_id(self) -> str:
        """The provider id: the ``kid`` of every upload."""
        return self._uploads.provider_id

    def put_record(
        self, *, domain: str, subject: str, record_id: str, fields: Mapping[str, ClaimValue]
    ) -> RecordReceipt:
        """Store a new version of a record (amounts as integers in minor units, dates as
        ``datetime.date``). The gateway validates it against the domain's catalog."""
        request = self._uploads.record_request(
            domain=domain, subject=subject, record_id=record_id, fields=fields
        )
        return convert.record_receipt(self._unary(self._stub.PutRecord, request))

    def put_fx_rates(
        self,
        *,
        table_id: str,
        rates: Mapping[str, str | Decimal],
        base: str = "CNY",
        effective_at: datetime | None = None,
    ) -> FxRatesReceipt:
        """Upload an FX rate table: units of ``base`` per one unit of each currency, as decimal
        text or ``Decimal`` (never float). ``effective_at`` defaults to now; one before the
        newest table's is refused (``FX_TABLE_OUT_OF_ORDER``). Needs the gateway's FX role."""
        request = self._uploads.rates_request(
            table_id=table_id, rates=rates, base=base, effective_at=effective_at
        )
        return convert.fx_receipt(self._unary(self._stub.PutFxRates, request))

    def erase_subject(self, subject: str) -> ErasureReceipt:
        """Crypto-shred ``subject``'s records of this provider's domains (those whose
        ``provider_role`` it holds; other domains stay); later reads and uploads there fail with
        ``DataErased``."""
        request = self._uploads.erase_request(subject)
        return convert.erasure_receipt(self._unary(self._stub.EraseSubject, request))
