"""Server reflection v1 (grpcurl's first choice) as well as v1alpha, on a real gateway (issue 17
item 4). The pinned grpcio-reflection ships only v1alpha stubs, so the v1 client here is a raw
``stream_stream`` call on ``/grpc.reflection.v1.ServerReflection/ServerReflectionInfo``: the
request is encoded by hand from the published ``grpc/reflection/v1/reflection.proto``
(``string list_services = 7``, ``string file_containing_symbol = 4``) and the responses are
decoded with message classes of the v1 descriptor the gateway itself serves."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from attestgate.gateway.transport.reflection import v1_file_descriptor
from attestgate.gateway.transport.server import SERVICE_NAMES
from tests.integration.conftest import RunningGateway

V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def _string_field(number: int, value: str) -> bytes:
    """One length-delimited protobuf field (values here are shorter than 128 bytes)."""
    raw = value.encode()
    assert len(raw) < 128
    return bytes([number << 3 | 2, len(raw)]) + raw


def _v1_response_class() -> type[Message]:
    descriptor = v1_file_descriptor().message_types_by_name["ServerReflectionResponse"]
    return message_factory.GetMessageClass(descriptor)


def _v1_call(channel: grpc.Channel) -> Callable[..., object]:
    response_class = _v1_response_class()
    return channel.stream_stream(
        V1_METHOD,
        request_serializer=lambda raw: raw,
        response_deserializer=response_class.FromString,
    )


def test_v1_reflection_lists_every_service(gateway: RunningGateway) -> None:
    """Without a token (the raw channel carries none), like v1alpha."""
    with gateway.raw_channel() as channel:
        call = _v1_call(channel)
        (response,) = list(call(iter([_string_field(7, "")]), timeout=5))  # type: ignore[call-overload]
    assert response.DESCRIPTOR.full_name == "grpc.reflection.v1.ServerReflectionResponse"
    names = {s.name for s in response.list_services_response.service}
    assert set(SERVICE_NAMES) <= names
    assert {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_v1_reflection_describes_the_api_and_itself(gateway: RunningGateway) -> None:
    symbols = ("attestgate.v1.AuditService", "grpc.reflection.v1.ServerReflection")
    with gateway.raw_channel() as channel:
        call = _v1_call(channel)
        requests = iter([_string_field(4, symbol) for symbol in symbols])
        responses = list(call(requests, timeout=5))  # type: ignore[call-overload]
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for response in responses:
        assert not response.HasField("error_response"), response.error_response
        for raw in response.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[proto.name] = proto
    assert "AuditService" in {s.name for s in files["attestgate/v1/audit.proto"].service}
    v1 = files["grpc/reflection/v1/reflection.proto"]
    assert v1.package == "grpc.reflection.v1"
    (method,) = v1.service[0].method
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse",
    )


def test_v1alpha_reflection_still_answers(gateway: RunningGateway) -> None:
    with gateway.raw_channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in response.list_services_response.service}
    assert {"grpc.reflection.v1.ServerReflection", *SERVICE_NAMES} <= names
