"""Wire <-> domain helpers shared by the servicers: times, values, page tokens, names.

Every string, repeated and map field of a request is bounded here or in its use case, so that
oversized input is refused as INVALID_ARGUMENT with a field violation before it costs anything
or reaches storage or the audit log (bad input never changes state, DESIGN.md "Errors").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from attestgate.gateway.common.cursors import parse_cursor
from attestgate.gateway.transport.interceptors import current_principal
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.idempotency import IdempotencyKey
from attestgate.protocol.encoding import EncodingError, b64url_decode, b64url_encode
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument
from attestgate.v1 import common_pb2

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_STRING = 4096
MAX_NAME = 128
"""Longest id in a resource name and longest catalog name (domain, purpose, claim)."""
MAX_NAMES = 64
"""Most entries in a repeated list of claim names."""
MAX_PARAMS = 32
"""Most predicate parameters in one request."""
MAX_PAGE_TOKEN = 512


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


def bounded_name(field: str, value: str) -> str:
    """A catalog name (domain, purpose, claim) of at most ``MAX_NAME`` printable characters;
    empty stays empty (the use case says whether it is required)."""
    if len(value) > MAX_NAME or not value.isprintable():
        raise invalid_argument(FieldViolation(field, f"at most {MAX_NAME} printable characters"))
    return value


def claim_names(field: str, values: Sequence[str]) -> tuple[str, ...]:
    """A repeated list of claim names: at most ``MAX_NAMES``, each a ``bounded_name``."""
    if len(values) > MAX_NAMES:
        raise invalid_argument(FieldViolation(field, f"at most {MAX_NAMES} entries"))
    return tuple(bounded_name(f"{field}[{i}]", v) for i, v in enumerate(values))


def from_values(field: str, values: Mapping[str, common_pb2.Value]) -> dict[str, object]:
    """Wire Values as plain Python values (dates stay ISO text); an empty Value is refused."""
    if len(values) > MAX_PARAMS:
        raise invalid_argument(FieldViolation(field, f"at most {MAX_PARAMS} entries"))
    out: dict[str, object] = {}
    for name, value in values.items():
        bounded_name(f"{field} key", name)
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
    return b64url_encode(b"v1:" + after.encode())


def decode_page_token(token: str) -> str | None:
    """The cursor inside a page token; a forged or foreign token is INVALID_PAGE_TOKEN."""
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN:
        raise DomainError(
            Reason.INVALID_PAGE_TOKEN,
            "page_token is not one this server issued",
            violations=[FieldViolation("page_token", "too long")],
        )
    try:
        raw = b64url_decode(token)
    except EncodingError:
        raw = b""
    if not raw.startswith(b"v1:"):
        raise DomainError(
            Reason.INVALID_PAGE_TOKEN,
            "page_token is not one this server issued",
            violations=[FieldViolation("page_token", "invalid")],
        )
    return raw[3:].decode(errors="replace")


def decode_page_position(token: str) -> int | None:
    """The log or feed position inside a page token of a numbered listing (None: first page)."""
    after = decode_page_token(token)
    if after is None:
        return None
    return parse_cursor(after, field="page_token", reason=Reason.INVALID_PAGE_TOKEN)


def parse_name(field: str, name: str, collection: str) -> str:
    """The id in a resource name ``{collection}/{id}`` (AIP-122)."""
    prefix = collection + "/"
    resource_id = name[len(prefix) :]
    if (
        not name.startswith(prefix)
        or not resource_id
        or "/" in resource_id
        or len(resource_id) > MAX_NAME
        or not resource_id.isprintable()
    ):
        raise invalid_argument(
            FieldViolation(field, f"must look like {collection}/{{id}}, id at most {MAX_NAME}")
        )
    return resource_id


def idempotency_key(method: str, request_id: str, message: Any) -> IdempotencyKey | None:
    """The caller-scoped idempotency key of a create call (``method`` is the full method name)."""
    who = caller()
    return IdempotencyKey.of(
        method=method,
        caller=f"{who.role}:{who.subject}",
        request_id=request_id,
        request=message.SerializeToString(deterministic=True),
    )
