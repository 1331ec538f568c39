"""Wire <-> domain helpers shared by the servicers: times, values, page tokens, names."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from attestgate.v1 import common_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.context import Caller
from gateway.idempotency import IdempotencyKey
from gateway.interceptors import current_principal
from sdk.reasons import DomainError, FieldViolation, Reason, invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_STRING = 4096


def caller() -> Caller:
    """The authenticated caller of the current RPC."""
    principal = current_principal()
    return Caller(subject=str(principal.subject), role=principal.role.value)


def timestamp(moment: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp (None stays None)."""
    if moment is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def duration(delta: timedelta) -> Duration:
    """A protobuf Duration."""
    out = Duration()
    out.FromTimedelta(delta)
    return out


def optional_duration(field: str, value: Duration, present: bool) -> timedelta | None:
    """A Duration field if set; negative or absurd values are INVALID_ARGUMENT."""
    if not present:
        return None
    if value.seconds < 0 or value.nanos < 0 or value.seconds > 10 * 365 * 86400:
        raise invalid_argument(FieldViolation(field, "must be between 0 and 10 years"))
    return value.ToTimedelta()


def to_value(raw: object) -> common_pb2.Value:
    """A domain value (str, int, bool, date) as a wire Value."""
    if isinstance(raw, bool):
        return common_pb2.Value(bool_value=raw)
    if isinstance(raw, int):
        return common_pb2.Value(int_value=raw)
    if isinstance(raw, date):
        return common_pb2.Value(date_value=raw.isoformat())
    return common_pb2.Value(string_value=str(raw))


def from_values(field: str, values: Mapping[str, common_pb2.Value]) -> dict[str, object]:
    """Wire Values as plain Python values (dates stay ISO text); an empty Value is refused."""
    out: dict[str, object] = {}
    for name, value in values.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise invalid_argument(FieldViolation(f"{field}.{name}", "value is empty"))
        raw = getattr(value, kind)
        if isinstance(raw, str) and len(raw) > MAX_STRING:
            raise invalid_argument(FieldViolation(f"{field}.{name}", "value is too long"))
        out[name] = raw
    return out


def page_size(requested: int) -> int:
    """AIP-158: 0 means the default; negative is INVALID_ARGUMENT; large values are capped."""
    if requested < 0:
        raise invalid_argument(FieldViolation("page_size", "must not be negative"))
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(after: str | None) -> str:
    """An opaque page token for a cursor ("" when there is no next page)."""
    if after is None:
        return ""
    return base64.urlsafe_b64encode(b"v1:" + after.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str | None:
    """The cursor inside a page token; a forged or foreign token is INVALID_PAGE_TOKEN."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"v1:"):
        raise DomainError(
            Reason.INVALID_PAGE_TOKEN,
            "page_token is not one this server issued",
            violations=[FieldViolation("page_token", "invalid")],
        )
    return raw[3:].decode(errors="replace")


def parse_name(field: str, name: str, collection: str) -> str:
    """The id in a resource name ``{collection}/{id}`` (AIP-122)."""
    prefix = collection + "/"
    if not name.startswith(prefix) or len(name) <= len(prefix) or "/" in name[len(prefix) :]:
        raise invalid_argument(FieldViolation(field, f"must look like {collection}/{{id}}"))
    return name[len(prefix) :]


def idempotency_key(method: str, request_id: str, message: Any) -> IdempotencyKey | None:
    """The caller-scoped idempotency key of a create call (``method`` is the full method name)."""
    who = caller()
    return IdempotencyKey.of(
        method=method,
        caller=f"{who.role}:{who.subject}",
        request_id=request_id,
        request=message.SerializeToString(deterministic=True),
    )
