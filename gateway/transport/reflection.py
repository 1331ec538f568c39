"""gRPC server reflection, ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcurl and current gRPC clients ask ``grpc.reflection.v1.ServerReflection`` first; older ones
ask ``v1alpha``. The pinned grpcio-reflection ships only the ``v1alpha`` service. The ``v1``
protocol is the same ``reflection.proto`` under a new package name (every message and field
number unchanged), so the ``v1`` service is served by the same servicer with the same wire
encoding, and its descriptor (the ``v1alpha`` file renamed to
``grpc/reflection/v1/reflection.proto``, package ``grpc.reflection.v1``) is added to the default
descriptor pool so reflection can describe itself in both versions.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["V1_FILE_NAME", "V1_SERVICE_NAME", "enable_reflection", "v1_file_descriptor"]

V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"


def _renamed(type_name: str) -> str:
    """``.grpc.reflection.v1alpha.X`` -> ``.grpc.reflection.v1.X``; other names unchanged."""
    prefix = f".{_V1ALPHA_PACKAGE}."
    return (
        f".{_V1_PACKAGE}.{type_name[len(prefix) :]}" if type_name.startswith(prefix) else type_name
    )


def _v1_file_proto() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE_NAME
    proto.package = _V1_PACKAGE
    proto.ClearField("options")  # the v1alpha java/objc names are not v1's
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = _renamed(field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type = _renamed(method.input_type)
            method.output_type = _renamed(method.output_type)
    return proto


def v1_file_descriptor() -> FileDescriptor:
    """The ``grpc.reflection.v1`` file, added to the default descriptor pool on first use."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(V1_FILE_NAME)
    except KeyError:
        pool.AddSerializedFile(_v1_file_proto().SerializeToString())
        return pool.FindFileByName(V1_FILE_NAME)


def enable_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection ``v1`` and ``v1alpha`` on ``server``, listing ``service_names`` and both
    reflection services."""
    v1_file_descriptor()
    names = (*service_names, reflection.SERVICE_NAME, V1_SERVICE_NAME)
    servicer = reflection.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.method_handlers_generic_handler(
        V1_SERVICE_NAME,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1_handler,))
