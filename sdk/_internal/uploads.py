"""Signed provider uploads, built once for the sync and the async ``ProviderClient``.

Every upload is a JWS compact signed with the provider's own key, the one the operator registered
with ``attestgate providers add``: ES256 for an EC P-256 key, EdDSA for an Ed25519 key (RFC 7518
§3.4, RFC 8037 §3.1). The ``kid`` header is the provider id. Each request carries a fresh
``request_id`` (AIP-155), so resending the same message is answered, not applied twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.protocol.jose import JoseError, json_object, parse_compact_jws, sign_jws
from attestgate.sdk._internal.channel import TokenSource
from attestgate.sdk.types import ClaimValue
from attestgate.v1 import record_pb2

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
"""A provider signing key: EC P-256 (ES256) or Ed25519 (EdDSA)."""


_MAX_CLAIMS_DEPTH = 16


def _algorithm(key: SigningKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise TypeError("signing_key must be an EC P-256 or Ed25519 private key")


def _token_subject(token: TokenSource) -> str:
    """The ``sub`` of a JWT, read **without verification**: only to name our own uploads."""
    text = token() if callable(token) else token
    try:
        claims = json_object(parse_compact_jws(text).payload, max_depth=_MAX_CLAIMS_DEPTH)
    except JoseError:
        raise ValueError("token is not a JWT; pass provider_id explicitly") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ValueError("token has no sub; pass provider_id explicitly")
    return sub


def _field(name: str, value: ClaimValue) -> str | int | bool:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        raise TypeError(f"field {name!r}: use a datetime.date, not a datetime")
    if isinstance(value, date):
        return value.isoformat()  # the catalog's date type is ISO 8601 YYYY-MM-DD
    raise TypeError(f"field {name!r}: unsupported type {type(value).__name__}")


def _rate(currency: str, rate: str | Decimal) -> str:
    try:
        value = Decimal(rate)
    except (InvalidOperation, TypeError):
        raise ValueError(f"rate for {currency!r} is not a decimal") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"rate for {currency!r} must be a positive finite decimal")
    return format(value, "f")  # plain notation: "7.1234", never "7.1234E+0"


class UploadSigner:
    """Builds the signed requests of one provider (key, id, clock)."""

    def __init__(
        self,
        *,
        token: TokenSource,
        signing_key: SigningKey,
        provider_id: str | None,
        clock: Callable[[], datetime] | None,
    ) -> None:
        self._algorithm = _algorithm(signing_key)
        self.provider_id = provider_id or _token_subject(token)
        self._key = signing_key
        self._clock = clock or (lambda: datetime.now(UTC))

    def _sign(self, payload: Mapping[str, Any]) -> str:
        header = {"alg": self._algorithm, "kid": self.provider_id, "typ": "JWT"}
        return sign_jws(header, payload, self._key)

    def record_request(
        self, *, domain: str, subject: str, record_id: str, fields: Mapping[str, ClaimValue]
    ) -> record_pb2.PutRecordRequest:
        """A signed PutRecord request."""
        payload = {
            "domain": domain,
            "subject": subject,
            "record_id": record_id,
            "fields": {name: _field(name, value) for name, value in fields.items()},
            "iat": int(self._clock().timestamp()),
        }
        return record_pb2.PutRecordRequest(
            signed_record=self._sign(payload), request_id=str(uuid.uuid4())
        )

    def rates_request(
        self,
        *,
        table_id: str,
        rates: Mapping[str, str | Decimal],
        base: str,
        effective_at: datetime | None,
    ) -> record_pb2.PutFxRatesRequest:
        """A signed PutFxRates request (``effective_at`` defaults to now)."""
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
        return record_pb2.PutFxRatesRequest(
            signed_rates=self._sign(payload), request_id=str(uuid.uuid4())
        )

    @staticmethod
    def erase_request(subject: str) -> record_pb2.EraseSubjectRequest:
        """An EraseSubject request."""
        return record_pb2.EraseSubjectRequest(subject=subject, request_id=str(uuid.uuid4()))
