"""Roles and the per-method role table (DESIGN.md "Roles").

Every gRPC method of the four attestgate services has exactly one entry: either in ``METHOD_ROLES``
(the roles allowed to call it) or in ``PUBLIC_METHODS`` (no token needed). A method with no entry is
refused for everyone (default deny); ``tests/unit/gateway/test_roles.py`` checks the table against
the service descriptors so a new method cannot slip through.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    """The ``role`` claim of a bearer token."""

    OWNER = "owner"
    BANK = "bank"
    PROVIDER = "provider"
    REGULATOR = "regulator"
    OPERATOR = "operator"


_CONSENT = "/attestgate.v1.ConsentService/"
_ATTESTATION = "/attestgate.v1.AttestationService/"
_RECORD = "/attestgate.v1.RecordService/"
_AUDIT = "/attestgate.v1.AuditService/"

_BANK = frozenset({Role.BANK})
_OWNER = frozenset({Role.OWNER})
_BANK_OR_OWNER = frozenset({Role.BANK, Role.OWNER})
_PROVIDER = frozenset({Role.PROVIDER})
_REGULATOR = frozenset({Role.REGULATOR})

METHOD_ROLES: Mapping[str, frozenset[Role]] = {
    # ConsentService: banks ask, owners decide; both read what concerns them (row-level checks,
    # e.g. NOT_CONSENT_OWNER, are the servicer's job).
    _CONSENT + "CreateConsentRequest": _BANK,
    _CONSENT + "ListConsentRequests": _BANK_OR_OWNER,
    _CONSENT + "ApproveConsentRequest": _OWNER,
    _CONSENT + "RejectConsentRequest": _OWNER,
    _CONSENT + "GetConsent": _BANK_OR_OWNER,
    _CONSENT + "ListConsents": _BANK_OR_OWNER,
    _CONSENT + "PauseConsent": _OWNER,
    _CONSENT + "ResumeConsent": _OWNER,
    _CONSENT + "RevokeConsent": _OWNER,
    _CONSENT + "WatchConsentEvents": _BANK,
    _CONSENT + "ListActivity": _OWNER,
    # AttestationService
    _ATTESTATION + "IssueAttestation": _BANK,
    _ATTESTATION + "RedeemAttestation": _BANK,
    _ATTESTATION + "GetAttestation": _BANK,
    # The pledgee bank releases what it consumed; a regulator may force a release.
    _ATTESTATION + "ReleaseRedemption": frozenset({Role.BANK, Role.REGULATOR}),
    # RecordService: data sources only.
    _RECORD + "PutRecord": _PROVIDER,
    _RECORD + "PutFxRates": _PROVIDER,
    _RECORD + "EraseSubject": _PROVIDER,
    # An asset's history: regulators; banks under the current holder's consent (use case).
    _RECORD + "GetAssetHistory": frozenset({Role.BANK, Role.REGULATOR}),
    # AuditService: supervisors read and verify the log.
    _AUDIT + "GetCheckpoint": _REGULATOR,
    _AUDIT + "ListEntries": _REGULATOR,
    _AUDIT + "GetInclusionProof": _REGULATOR,
    _AUDIT + "GetConsistencyProof": _REGULATOR,
    _AUDIT + "WatchCheckpoints": _REGULATOR,
}
"""Full gRPC method name -> roles allowed to call it."""

PUBLIC_METHODS: frozenset[str] = frozenset(
    {
        # The attestation JWKS is public so anyone can verify offline.
        _ATTESTATION + "GetIssuerKeys",
        # grpc_health_probe and load balancers carry no token.
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.health.v1.Health/List",
        # grpcurl discovers the API through reflection.
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)
"""Methods callable without a bearer token."""


def allowed_roles(method: str) -> frozenset[Role]:
    """The roles that may call ``method``; empty (nobody) for a method not in the table."""
    return METHOD_ROLES.get(method, frozenset())
