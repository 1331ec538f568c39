"""Oversized and deeply nested JSON in what clients sign or send: provider uploads (records, FX
tables: payload and JWS header) and the holder JWK of IssueAttestation. Each is refused as bad
input (INVALID_ARGUMENT family, never INTERNAL), changes nothing and is not even audited; the
parsers never recurse without bound."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.jose import public_jwk
from attestgate.v1 import attestation_pb2, common_pb2, record_pb2
from tests.integration import live
from tests.security.world import World, reason_of

DEEP = 5000
"""Nesting depth past every JSON parser's recursion limit."""


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _record(**fields: Any) -> dict[str, Any]:
    return {"domain": "income", "subject": "alice", "record_id": "inc-big",
            "fields": {**live.INCOME_FIELDS, **fields}}  # fmt: skip


def _deep_header_jws(key: ec.EllipticCurvePrivateKey, payload: dict[str, Any]) -> str:
    good = jwt.encode(payload, key, algorithm="ES256", headers={"kid": "uploader"})
    _, body, signature = good.split(".")
    header = '{"alg":"ES256","kid":"uploader","x":' + "[" * DEEP + "]" * DEEP + "}"
    return f"{base64.urlsafe_b64encode(header.encode()).decode().rstrip('=')}.{body}.{signature}"


UPLOADS: dict[str, Callable[[ec.EllipticCurvePrivateKey], tuple[str, str]]] = {
    "deeply nested field": lambda k: ("record", _sign(k, _record(tax_year=_deep(DEEP)))),
    "huge string field": lambda k: ("record", _sign(k, _record(employer_name="x" * 200_000))),
    "ten thousand unknown fields": lambda k: (
        "record", _sign(k, _record(**{f"f{n}": n for n in range(10_000)})),
    ),
    "payload over the size limit": lambda k: ("record", _sign(k, _record(pad="y" * 300_000))),
    "deeply nested JWS header": lambda k: ("record", _deep_header_jws(k, _record())),
    "deeply nested payload": lambda k: ("record", _sign(k, {"x": _deep(DEEP)})),
    "ten thousand currencies": lambda k: (
        "rates", _sign(k, {"table_id": "t1", "rates": {f"C{n:05}": "1.0" for n in range(10_000)}}),
    ),
    "nested rate values": lambda k: (
        "rates", _sign(k, {"table_id": "t2", "rates": {"USD": _deep(DEEP)}}),
    ),
}  # fmt: skip


def _sign(key: ec.EllipticCurvePrivateKey, payload: dict[str, Any]) -> str:
    # json.dumps would refuse DEEP nesting; write the nested part by hand.
    text = json.dumps(payload, default=str) if _depth_ok(payload) else _nested_text(payload)
    return jwt.api_jws.encode(text.encode(), key, algorithm="ES256", headers={"kid": "uploader"})


def _depth_ok(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth_ok(v, depth + 1) for v in value)
    return True


def _nested_text(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and not _depth_ok(value):
        return "[" * DEEP + "1" + "]" * DEEP
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}:{_nested_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    return json.dumps(value, default=str)


@pytest.mark.parametrize("upload", sorted(UPLOADS))
def test_uploads_with_monstrous_json_are_bad_input(world: World, upload: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ProviderRegistry(world.gw.config.data_dir).add("uploader", pem, roles=world.gw.every_role)
    kind, signed = UPLOADS[upload](key)
    before, size = world.snapshot(), world.log_size()
    with world.channel() as channel:
        _, _, records = world.stubs(channel)
        metadata = world.metadata("provider", "uploader")
        request: Any = (
            record_pb2.PutRecordRequest(signed_record=signed)
            if kind == "record"
            else record_pb2.PutFxRatesRequest(signed_rates=signed)
        )
        call = records.PutRecord if kind == "record" else records.PutFxRates
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, reason_of(caught.value)
    assert world.snapshot() == before
    assert world.log_size() == size


def _jwk_text(world: World) -> dict[str, str]:
    jwk = public_jwk(world.bank.holder_key.public_key())
    return {
        "deeply nested": '{"kty":"EC","crv":"P-256","x":' + "[" * 1000 + "]" * 1000 + "}",
        "oversized": json.dumps({**jwk, "x5c": ["A" * 1000] * 5}),
        "wrong member types": json.dumps({"kty": "EC", "crv": "P-256", "x": 1, "y": [2]}),
        "not an object": json.dumps([jwk]),
        "a private key": json.dumps({**jwk, "d": "AA"}),
    }


def test_holder_jwks_with_monstrous_json_are_bad_input(world: World) -> None:
    with world.channel() as channel:
        _, attestations, _ = world.stubs(channel)
        for name, text in _jwk_text(world).items():
            request = attestation_pb2.IssueAttestationRequest(
                consent=f"consents/{world.consent.id}",
                params={"amount": common_pb2.Value(int_value=100),
                        "currency": common_pb2.Value(string_value="USD")},
                holder_jwk=text,
            )  # fmt: skip
            before, size = world.snapshot(), world.log_size()
            with pytest.raises(grpc.RpcError) as caught:
                attestations.IssueAttestation(
                    request, metadata=world.metadata("bank", "bank-a"), timeout=10
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
            assert world.snapshot() == before, name
            assert world.log_size() == size, name
