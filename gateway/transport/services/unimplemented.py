"""Servicers for methods whose feature has not landed: every method answers UNIMPLEMENTED.

They raise ``DomainError(NOT_IMPLEMENTED)`` so that clients get the status with an ErrorInfo, the
same shape as every other refusal. The methods are generated from the service descriptors, so a
method added to a proto is covered without touching this file.
"""

from __future__ import annotations

from typing import Any, NoReturn

from attestgate.protocol.reasons import DomainError, Reason
from attestgate.v1 import (
    attestation_pb2,
    attestation_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    record_pb2,
    record_pb2_grpc,
)


def _refuse(full_method: str) -> Any:
    def method(self: object, request: object, context: object) -> NoReturn:
        raise DomainError(
            Reason.NOT_IMPLEMENTED,
            f"{full_method} is not implemented yet",
            metadata={"method": full_method},
        )

    method.__name__ = full_method.rsplit("/", 1)[-1]
    method.__doc__ = f"Refuse ``{full_method}`` with NOT_IMPLEMENTED."
    return method


def _fill(cls: type, service: Any) -> None:
    for method in service.methods:
        full_method = f"/{service.full_name}/{method.name}"
        setattr(cls, method.name, _refuse(full_method))


class UnimplementedConsentService(consent_pb2_grpc.ConsentServiceServicer):
    """Every ConsentService method answers UNIMPLEMENTED."""


class UnimplementedAttestationService(attestation_pb2_grpc.AttestationServiceServicer):
    """Every AttestationService method answers UNIMPLEMENTED."""


class UnimplementedRecordService(record_pb2_grpc.RecordServiceServicer):
    """Every RecordService method answers UNIMPLEMENTED."""


class UnimplementedAuditService(audit_pb2_grpc.AuditServiceServicer):
    """Every AuditService method answers UNIMPLEMENTED."""


_fill(UnimplementedConsentService, consent_pb2.DESCRIPTOR.services_by_name["ConsentService"])
_fill(
    UnimplementedAttestationService,
    attestation_pb2.DESCRIPTOR.services_by_name["AttestationService"],
)
_fill(UnimplementedRecordService, record_pb2.DESCRIPTOR.services_by_name["RecordService"])
_fill(UnimplementedAuditService, audit_pb2.DESCRIPTOR.services_by_name["AuditService"])
