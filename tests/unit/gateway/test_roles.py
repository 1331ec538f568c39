"""The role table covers every method of the four services, and nothing else."""

from __future__ import annotations

from attestgate.gateway.common.roles import METHOD_ROLES, PUBLIC_METHODS, Role, allowed_roles
from attestgate.v1 import attestation_pb2, audit_pb2, consent_pb2, record_pb2


def descriptor_methods() -> set[str]:
    methods = set()
    for module in (consent_pb2, attestation_pb2, record_pb2, audit_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            methods |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    return methods


def test_every_method_has_exactly_one_entry_and_no_strays() -> None:
    ours = {m for m in PUBLIC_METHODS if m.startswith("/attestgate.")}
    assert not set(METHOD_ROLES) & PUBLIC_METHODS
    assert set(METHOD_ROLES) | ours == descriptor_methods()


def test_every_protected_method_allows_someone() -> None:
    assert all(roles and roles <= set(Role) for roles in METHOD_ROLES.values())


def methods_of(role: Role) -> set[str]:
    return {m.rsplit("/", 1)[1] for m, roles in METHOD_ROLES.items() if role in roles}


def test_role_table_matches_the_design() -> None:
    assert methods_of(Role.BANK) == {
        "CreateConsentRequest",
        "ListConsentRequests",
        "GetConsent",
        "ListConsents",
        "WatchConsentEvents",
        "IssueAttestation",
        "RedeemAttestation",
        "GetAttestation",
        "ReleaseRedemption",
        "GetAssetHistory",
    }
    assert methods_of(Role.OWNER) == {
        "ListConsentRequests",
        "ApproveConsentRequest",
        "RejectConsentRequest",
        "GetConsent",
        "ListConsents",
        "PauseConsent",
        "ResumeConsent",
        "RevokeConsent",
        "ListActivity",
    }
    assert methods_of(Role.PROVIDER) == {"PutRecord", "PutFxRates", "EraseSubject"}
    audit = audit_pb2.DESCRIPTOR.services_by_name["AuditService"]
    assert methods_of(Role.REGULATOR) == {m.name for m in audit.methods} | {
        "ReleaseRedemption",
        "GetAssetHistory",
    }
    assert methods_of(Role.OPERATOR) == set()


def test_public_methods() -> None:
    assert "/attestgate.v1.AttestationService/GetIssuerKeys" in PUBLIC_METHODS
    assert "/grpc.health.v1.Health/Check" in PUBLIC_METHODS
    assert allowed_roles("/attestgate.v1.Unknown/Method") == frozenset()
