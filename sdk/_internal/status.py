"""The rich error details of a failed call (AIP-193), read without grpcio-status.

The gateway ends a refused call with a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailer: its ``details`` are ``google.protobuf.Any`` messages packing an ``ErrorInfo`` (reason,
domain, metadata), a ``BadRequest`` (field violations) or a ``RetryInfo`` (a delay). The SDK reads
them with wire-compatible mirrors of the messages it needs (``google/rpc/status.proto`` and
``google/rpc/error_details.proto``: same full names, same field numbers, so the same Any type
URLs ``type.googleapis.com/google.rpc.ErrorInfo``...), built at import time with the protobuf
runtime alone. So a bank's install needs neither grpcio-status nor googleapis-common-protos; the
mirrors live in a private descriptor pool, so they never clash with those packages when both are
loaded (the gateway encodes with them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    message,
    message_factory,
)

__all__ = ["DETAILS_KEY", "ErrorInfo", "StatusDetails", "status_details"]

DETAILS_KEY = "grpc-status-details-bin"
"""The trailer carrying the serialized ``google.rpc.Status`` (gRPC's rich error model)."""

_F = descriptor_pb2.FieldDescriptorProto
_FieldSpec = tuple[str, int, "_F.Type.ValueType", str]
"""``(name, number, type, message type)``: scalars have no message type (``""``); a leading ``*``
marks a repeated field."""


@dataclass(frozen=True)
class ErrorInfo:
    """A ``google.rpc.ErrorInfo``: why the call failed, in the sender's ``domain``."""

    reason: str
    domain: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusDetails:
    """What the status details of a failed call say, in the order they were sent."""

    error_infos: tuple[ErrorInfo, ...] = ()
    field_violations: tuple[tuple[str, str], ...] = ()
    """``(field, description)`` of each ``google.rpc.BadRequest.FieldViolation``."""
    retry_delays: tuple[float, ...] = ()
    """Seconds of every ``google.rpc.RetryInfo.retry_delay``."""


def _message(
    parent: Any, name: str, fields: Sequence[_FieldSpec], *, map_entry: bool = False
) -> descriptor_pb2.DescriptorProto:
    proto: descriptor_pb2.DescriptorProto = parent.add(name=name)
    if map_entry:
        proto.options.map_entry = True
    for field_name, number, kind, type_name in fields:
        label = _F.LABEL_REPEATED if type_name.startswith("*") else _F.LABEL_OPTIONAL
        spec = proto.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            spec.type_name = type_name.lstrip("*")
    return proto


def _mirror_file() -> descriptor_pb2.FileDescriptorProto:
    """``google.rpc.Status``, ``ErrorInfo``, ``BadRequest`` and ``RetryInfo`` as far as the SDK
    reads them (fields it does not read are skipped when parsing, as unknown fields are)."""
    string, int32, msg = _F.TYPE_STRING, _F.TYPE_INT32, _F.TYPE_MESSAGE
    file = descriptor_pb2.FileDescriptorProto(
        name="attestgate/sdk/google_rpc_mirror.proto",
        package="google.rpc",
        syntax="proto3",
        dependency=[any_pb2.DESCRIPTOR.name, duration_pb2.DESCRIPTOR.name],
    )
    types = file.message_type
    status = [("code", 1, int32, ""), ("message", 2, string, "")]
    _message(types, "Status", [*status, ("details", 3, msg, "*.google.protobuf.Any")])
    entry = "*.google.rpc.ErrorInfo.MetadataEntry"
    info = [("reason", 1, string, ""), ("domain", 2, string, ""), ("metadata", 3, msg, entry)]
    pair = [("key", 1, string, ""), ("value", 2, string, "")]
    _message(_message(types, "ErrorInfo", info).nested_type, "MetadataEntry", pair, map_entry=True)
    _message(types, "RetryInfo", [("retry_delay", 1, msg, ".google.protobuf.Duration")])
    violation = "*.google.rpc.BadRequest.FieldViolation"
    bad = _message(types, "BadRequest", [("field_violations", 1, msg, violation)])
    texts = [("field", 1, string, ""), ("description", 2, string, "")]
    _message(bad.nested_type, "FieldViolation", texts)
    return file


def _classes() -> dict[str, type[message.Message]]:
    pool = descriptor_pool.DescriptorPool()
    for dependency in (any_pb2, duration_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dependency.DESCRIPTOR.serialized_pb))
    pool.Add(_mirror_file())
    names = ("Status", "ErrorInfo", "BadRequest", "RetryInfo")
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"google.rpc.{name}"))
        for name in names
    }


_CLASSES = _classes()


class _Packed(Protocol):
    type_url: str
    value: bytes


class _Status(Protocol):
    code: int
    message: str
    details: Sequence[_Packed]


class _ErrorInfo(Protocol):
    reason: str
    domain: str
    metadata: Mapping[str, str]


class _Violation(Protocol):
    field: str
    description: str


class _BadRequest(Protocol):
    field_violations: Sequence[_Violation]


class _RetryInfo(Protocol):
    retry_delay: duration_pb2.Duration


def _parse(name: str, data: bytes) -> Any:
    return _CLASSES[name].FromString(data)


def _trailer(error: BaseException) -> bytes | None:
    """The serialized status of a failed call (sync ``grpc.RpcError`` or ``grpc.aio.AioRpcError``,
    both have ``trailing_metadata()`` of ``(key, value)`` pairs), or ``None``."""
    trailing = getattr(error, "trailing_metadata", None)
    pairs: Iterable[tuple[str, str | bytes]] | None = trailing() if callable(trailing) else None
    for key, value in pairs or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def _status(error: BaseException) -> _Status | None:
    """The ``google.rpc.Status`` of ``error``; ``None`` without one, or when it contradicts the
    call's status line (as ``grpc_status.rpc_status.from_call`` refuses it) or does not parse."""
    raw = _trailer(error)
    if raw is None:
        return None
    try:
        status = cast(_Status, _parse("Status", raw))
    except message.DecodeError:
        return None
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    line_code = code().value[0] if callable(code) else None
    line_message = details() if callable(details) else None
    if status.code != line_code or status.message != line_message:
        return None
    return status


def status_details(error: BaseException) -> StatusDetails:
    """The ErrorInfo, BadRequest and RetryInfo details of a failed call (empty if it has none)."""
    status = _status(error)
    infos: list[ErrorInfo] = []
    violations: list[tuple[str, str]] = []
    delays: list[float] = []
    for packed in status.details if status is not None else ():
        kind = packed.type_url.rpartition("/")[2]  # google.protobuf.Any.Is: the last segment
        try:
            if kind == "google.rpc.ErrorInfo":
                info = cast(_ErrorInfo, _parse("ErrorInfo", packed.value))
                infos.append(ErrorInfo(info.reason, info.domain, dict(info.metadata)))
            elif kind == "google.rpc.BadRequest":
                bad = cast(_BadRequest, _parse("BadRequest", packed.value))
                violations.extend((v.field, v.description) for v in bad.field_violations)
            elif kind == "google.rpc.RetryInfo":
                retry = cast(_RetryInfo, _parse("RetryInfo", packed.value))
                delays.append(retry.retry_delay.ToTimedelta().total_seconds())
        except message.DecodeError:
            continue  # a detail that does not parse says nothing
    return StatusDetails(tuple(infos), tuple(violations), tuple(delays))
