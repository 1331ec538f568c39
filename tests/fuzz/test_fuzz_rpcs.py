"""Bad input against every RPC under every role, on one live gateway (issue 9, "Bad input").

Random messages, random bytes, byte-mutated and field-mutated valid requests: the gateway never
answers ``UNKNOWN`` or ``INTERNAL``, and a refused call changes no state; its only trace is a
``deny`` event in the audit log, and malformed input leaves not even that (``harness.Harness``).
Every string, repeated and map field has a bound: an oversized one is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.roles import METHOD_ROLES, PUBLIC_METHODS
from tests.fuzz import strategies
from tests.fuzz.harness import ROLES, RPCS, UNARY_RPCS, Harness, Rpc, build_world

pytestmark = pytest.mark.slow

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
OUTPUT_ONLY = frozenset(
    {"name", "grantee", "state", "create_time", "expire_time", "decide_time", "consent"}
)
"""ConsentRequest fields a client may set but the gateway ignores (AIP-203 output only)."""
OVERSIZED = "x" * 300_000
"""Longer than any string bound (the largest, a signed upload, is 256 KiB)."""


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One gateway for the whole module, with the world of ``harness.build_world``."""
    clock = FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    made = build_world(tmp_path_factory.mktemp("fuzz") / "gw", clock)
    try:
        yield made
    finally:
        made.close()
        made.gw.close()


def _names(harness: Harness) -> tuple[str, ...]:
    """Strings naming real objects, so random requests sometimes hit them."""
    found: list[str] = []
    for seed in harness.seeds.values():
        for field in seed.DESCRIPTOR.fields:
            value = getattr(seed, field.name)
            if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated and value:
                found.append(value if len(value) < 200 else value[:200])
    return tuple(found)


def _allowed_role(rpc: Rpc) -> str:
    """A role of ``ROLES`` that may call ``rpc``."""
    if rpc.path in PUBLIC_METHODS:
        return "none"
    allowed = {str(r) for r in METHOD_ROLES[rpc.path]}
    return next(r for r in ROLES if r in allowed)


_UNARY = st.sampled_from(UNARY_RPCS)
_ROLE = st.sampled_from(ROLES)


def _role_for(rpc: Rpc) -> st.SearchStrategy[str]:
    """Half the time a role allowed to call ``rpc`` (past authorization), else any role."""
    return st.one_of(st.just(_allowed_role(rpc)), _ROLE)


@settings(FUZZ, max_examples=250)
@given(data=st.data(), rpc=_UNARY)
def test_random_messages(harness: Harness, data: st.DataObject, rpc: Rpc) -> None:
    role = data.draw(_role_for(rpc))
    extra = _names(harness)
    message = data.draw(strategies.messages(rpc.request_type.DESCRIPTOR, extra))
    harness.call(rpc, role, message)


@settings(FUZZ, max_examples=120)
@given(data=st.data(), rpc=_UNARY, raw=st.binary(max_size=200))
def test_random_bytes(harness: Harness, data: st.DataObject, rpc: Rpc, raw: bytes) -> None:
    role = data.draw(_role_for(rpc))
    harness.call(rpc, role, raw)  # sent as they are: most do not even parse
    try:
        parsed = rpc.request_type.FromString(raw)
    except DecodeError:
        return
    harness.call(rpc, role, parsed)  # what parses, re-serialized (unknown fields kept)


@settings(FUZZ, max_examples=250)
@given(data=st.data(), rpc=_UNARY)
def test_byte_mutations_of_valid_requests(harness: Harness, data: st.DataObject, rpc: Rpc) -> None:
    role = data.draw(_role_for(rpc))
    raw = harness.seeds[rpc.name].SerializeToString()
    harness.call(rpc, role, data.draw(strategies.byte_mutations(raw)))


@settings(FUZZ, max_examples=250)
@given(data=st.data(), rpc=_UNARY)
def test_field_mutations_of_valid_requests(harness: Harness, data: st.DataObject, rpc: Rpc) -> None:
    role = data.draw(_role_for(rpc))
    mutated = data.draw(strategies.field_mutations(harness.seeds[rpc.name], _names(harness)))
    harness.call(rpc, role, mutated)


@settings(FUZZ, max_examples=20)
@given(data=st.data(), rpc=st.sampled_from([r for r in RPCS if r.streaming]), role=_ROLE)
def test_random_stream_requests(harness: Harness, data: st.DataObject, rpc: Rpc, role: str) -> None:
    harness.call(rpc, role, data.draw(strategies.messages(rpc.request_type.DESCRIPTOR)))


def _string_fields(message: Message, prefix: str = "") -> Iterator[tuple[str, Message, str]]:
    """(path, owning message, field name) of every string field, one level of nesting deep."""
    for field in message.DESCRIPTOR.fields:
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            yield path, message, field.name
        elif (
            field.message_type is not None
            and not field.is_repeated
            and not prefix
            and field.message_type.full_name.startswith("attestgate.")
        ):
            yield from _string_fields(getattr(message, field.name), path + ".")


@pytest.mark.parametrize("rpc", UNARY_RPCS, ids=lambda r: r.name)
def test_every_string_field_is_bounded(harness: Harness, rpc: Rpc) -> None:
    role = _allowed_role(rpc)
    for path, _, _ in _string_fields(harness.seeds[rpc.name]):
        message = type(harness.seeds[rpc.name])()
        message.CopyFrom(harness.seeds[rpc.name])
        owner, name = next((o, n) for p, o, n in _string_fields(message) if p == path)
        if owner.DESCRIPTOR.fields_by_name[name].is_repeated:
            getattr(owner, name)[:] = [OVERSIZED]
        else:
            setattr(owner, name, OVERSIZED)
        outcome = harness.call(rpc, role, message)
        if path.rpartition(".")[2] in OUTPUT_ONLY and "." in path:
            continue  # ignored by the gateway, so the call may succeed
        assert outcome.code != "OK", f"{rpc.name}.{path}: an oversized value was accepted"


@pytest.mark.parametrize(
    ("rpc_name", "field"),
    [
        ("CreateConsentRequest", "consent_request.claims"),
        ("ApproveConsentRequest", "claims"),
        ("IssueAttestation", "claims"),
        ("IssueAttestation", "params"),
    ],
)
def test_every_repeated_and_map_field_is_bounded(
    harness: Harness, rpc_name: str, field: str
) -> None:
    rpc = next(r for r in UNARY_RPCS if r.name == rpc_name)
    message = type(harness.seeds[rpc_name])()
    message.CopyFrom(harness.seeds[rpc_name])
    owner: Message = message
    if "." in field:
        parent, _, field = field.partition(".")
        owner = getattr(message, parent)
    target = getattr(owner, field)
    if field == "params":
        for n in range(100):
            target[f"p{n}"].int_value = n
    else:
        target[:] = ["tax_year"] * 100
    outcome = harness.call(rpc, _allowed_role(rpc), message)
    assert (outcome.code, outcome.reason) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT"), outcome
    assert outcome.violations == 1


def test_a_message_over_the_size_limit_is_refused_with_a_reason(harness: Harness) -> None:
    limit = harness.gw.config.max_message_bytes
    rpc = next(r for r in UNARY_RPCS if r.name == "PutRecord")
    payload = b"\x0a" + _varint(limit + 10) + b"x" * (limit + 10)  # field 1, a long string
    outcome = harness.call(rpc, "provider", payload)
    assert (outcome.code, outcome.reason) == ("RESOURCE_EXHAUSTED", "MESSAGE_TOO_LARGE")
    huge = b"\x0a" + _varint(2 * limit + 10) + b"x" * (2 * limit + 10)
    assert harness.call(rpc, "provider", huge).code == "RESOURCE_EXHAUSTED"  # refused unread


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.name)
def test_every_rpc_under_every_role(harness: Harness, rpc: Rpc) -> None:
    """Last: the seeds change the world (approve, revoke, erase ...)."""
    for role in ROLES:
        harness.call(rpc, role, rpc.request_type())
        harness.call(rpc, role, harness.seeds[rpc.name])
