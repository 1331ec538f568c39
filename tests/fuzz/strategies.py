"""Hypothesis strategies for protobuf requests: random messages of a type, random values for one
field, and byte-level mutations of a serialized message."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
_TRICKY_TEXT = (
    "",
    " ",
    "0",
    "-1",
    "consents/",
    "consents/x/y",
    "consentRequests/../../etc/passwd",
    "attestations/" + "a" * 129,
    "../../x",
    "\u0000",
    "\u202e",
    "é" * 10,
    "eyJhbGciOiJub25lIn0.e30.",
    "~~~",
    '{"kty":"EC"}',
    "a" * 5000,
    # numbers: Unicode digits ``str.isdigit`` accepts and ``int`` refuses, past int64, signs
    "²",
    "١٢",
    "9999999999999999999",
    "9" * 23,
    "-1",
    # page tokens as the server makes them (base64url "v1:<position>") around bad positions
    *(
        base64.urlsafe_b64encode(b"v1:" + p.encode()).decode().rstrip("=")
        for p in ("²", "9999999999999999999", "9" * 23, "-1", "x")
    ),
)
_INT = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def texts(extra: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Short random text, tricky values and ``extra`` (e.g. names of real objects)."""
    return st.one_of(st.text(max_size=40), st.sampled_from(_TRICKY_TEXT + extra))


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (low, high, 0, 1, -1, 2**31, 2**63 - 1) if low <= v <= high]
    return st.one_of(st.integers(low, high), st.sampled_from(edges))


def scalar(field: Any, extra: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Values for one scalar (or enum) field."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return texts(extra)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        return _integers(-3, 40)  # proto3 enums are open: unknown numbers arrive too
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32)
    low, high = _INT[kind]
    return _integers(low, high)


@st.composite
def messages(
    draw: st.DrawFn, descriptor: Any, extra: tuple[str, ...] = (), depth: int = 0
) -> Message:
    """A message of ``descriptor``'s type with a random subset of its fields set randomly."""
    message: Message = _new(descriptor)
    for field in descriptor.fields:
        if draw(st.booleans()):
            set_field(draw, message, field, extra, depth)
    return message


def set_field(
    draw: st.DrawFn, message: Message, field: Any, extra: tuple[str, ...], depth: int
) -> None:
    """Give ``field`` of ``message`` a random value (a list / map for repeated fields)."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        _fill_map(draw, message, field, extra, depth)
        return
    if field.is_repeated:
        count = draw(st.one_of(st.integers(0, 4), st.sampled_from([65, 100])))
        target = getattr(message, field.name)
        for _ in range(count):
            if field.message_type is not None:
                target.add().CopyFrom(draw(messages(field.message_type, extra, depth + 1)))
            else:
                target.append(draw(scalar(field, extra)))
        return
    if field.message_type is not None:
        if depth < 2:
            value = draw(messages(field.message_type, extra, depth + 1))
            getattr(message, field.name).CopyFrom(value)
        return
    setattr(message, field.name, draw(scalar(field, extra)))


def _fill_map(
    draw: st.DrawFn, message: Message, field: Any, extra: tuple[str, ...], depth: int
) -> None:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    target = getattr(message, field.name)
    count = draw(st.one_of(st.integers(0, 4), st.just(40)))
    for n in range(count):
        key = draw(scalar(key_field, extra)) if n < 5 else f"k{n}"
        if value_field.message_type is not None:
            target[key].CopyFrom(draw(messages(value_field.message_type, extra, depth + 1)))
        else:
            target[key] = draw(scalar(value_field, extra))


def _new(descriptor: Any) -> Message:
    from google.protobuf import message_factory  # noqa: PLC0415

    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls()


@st.composite
def field_mutations(draw: st.DrawFn, seed: Message, extra: tuple[str, ...] = ()) -> Message:
    """``seed`` with one (top-level or nested) field replaced by a random value."""
    message: Message = type(seed)()
    message.CopyFrom(seed)
    target = message
    fields: list[Any] = list(target.DESCRIPTOR.fields)
    if not fields:
        return message
    field = draw(st.sampled_from(fields))
    nested = field.message_type
    if nested is not None and not field.is_repeated and nested.fields and draw(st.booleans()):
        target = getattr(message, field.name)
        field = draw(st.sampled_from(list(nested.fields)))
    target.ClearField(field.name)
    set_field(draw, target, field, extra, depth=1)
    return message


@st.composite
def byte_mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` with bytes flipped, inserted, deleted, truncated or duplicated."""
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "append"]))
    if not raw:
        return draw(st.binary(min_size=1, max_size=32))
    i = draw(st.integers(0, len(raw) - 1))
    if kind == "flip":
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if kind == "insert":
        return raw[:i] + draw(st.binary(min_size=1, max_size=8)) + raw[i:]
    if kind == "delete":
        return raw[:i] + raw[i + draw(st.integers(1, 8)) :]
    if kind == "truncate":
        return raw[:i]
    if kind == "duplicate":
        return raw + raw
    return raw + draw(st.binary(min_size=1, max_size=16))
