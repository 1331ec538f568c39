"""AttestationService: wire <-> domain translation; the rules live in
``gateway.usecases.attestations``."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import grpc

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.persistence.ledger import AttestationState
from attestgate.gateway.transport.services import wire
from attestgate.gateway.usecases.attestations.manager import AttestationManager, IssuedAttestation
from attestgate.protocol.encoding import EncodingError, json_object
from attestgate.protocol.reasons import FieldViolation, invalid_argument
from attestgate.v1 import attestation_pb2, attestation_pb2_grpc

_SERVICE = "/attestgate.v1.AttestationService/"
MAX_JWK_BYTES = 2048
_MAX_JWK_DEPTH = 4
MAX_PRESENTATION_BYTES = 64 * 1024


def attestation_message(issued: IssuedAttestation) -> attestation_pb2.Attestation:
    """An attestation on the wire."""
    state = attestation_pb2.AttestationState.Value(f"ATTESTATION_STATE_{issued.state.value}")
    return attestation_pb2.Attestation(
        name=f"attestations/{issued.jti}",
        jti=issued.jti,
        consent=f"consents/{issued.consent_id}",
        token=issued.token,
        claims={k: wire.to_value(v) for k, v in issued.claims.items() if v is not None},
        withheld=[
            {"claim": w.claim, "reason": w.reason.value}  # type: ignore[misc]
            for w in issued.withheld
        ],
        issue_time=wire.timestamp(issued.issued_at),
        expire_time=wire.timestamp(issued.expires_at),
        state=state,
        redeem_time=wire.timestamp(issued.redeemed_at),
        transaction_ref=issued.transaction_ref or "",
    )


def _holder_jwk(text: str) -> dict[str, Any]:
    if not text or len(text) > MAX_JWK_BYTES:
        raise invalid_argument(FieldViolation("holder_jwk", "a P-256 public JWK (JSON object)"))
    try:
        return json_object(text.encode("utf-8", "surrogatepass"), max_depth=_MAX_JWK_DEPTH)
    except EncodingError:
        raise invalid_argument(FieldViolation("holder_jwk", "must be a JSON object")) from None


class AttestationServicer(attestation_pb2_grpc.AttestationServiceServicer):
    """Issue, redeem, read attestations; publish the issuer keys."""

    def __init__(
        self,
        *,
        attestations: AttestationManager,
        clock: Clock,
        keyring: KeyRing,
        issuer: str,
        former_issuers: tuple[str, ...] = (),
    ) -> None:
        self._attestations = attestations
        self._clock = clock  # folds expiry into GetAttestation's state
        self._keyring = keyring  # GetIssuerKeys publishes its issuer keys
        self._issuer = issuer  # the public URL (or the gateway id when the public face is off)
        self._former = former_issuers  # the ``iss`` of older attestations, still accepted

    def IssueAttestation(
        self, request: attestation_pb2.IssueAttestationRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.Attestation:
        caller = wire.caller()
        consent_id = wire.parse_name("consent", request.consent, "consents")
        key = wire.idempotency_key(_SERVICE + "IssueAttestation", request.request_id, request)
        issued = self._attestations.issue(
            caller,
            consent_id,
            params=wire.from_values("params", request.params),
            holder_jwk=_holder_jwk(request.holder_jwk),
            claims=list(wire.claim_names("claims", request.claims)),
            key=key,
        )
        return attestation_message(issued)

    def RedeemAttestation(
        self, request: attestation_pb2.RedeemAttestationRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.Redemption:
        if not request.presentation or len(request.presentation) > MAX_PRESENTATION_BYTES:
            raise invalid_argument(FieldViolation("presentation", "an SD-JWT with a KB-JWT"))
        result = self._attestations.redeem(
            wire.caller(), request.presentation, request.transaction_ref
        )
        return attestation_pb2.Redemption(
            attestation=f"attestations/{result.jti}",
            jti=result.jti,
            transaction_ref=result.transaction_ref,
            redeem_time=wire.timestamp(result.redeemed_at),
            consumption=result.consumption.value,
            consumed_amount=result.consumed_amount,
            consumed_currency=result.consumed_currency,
            log_index=result.log_index,
        )

    def ReleaseRedemption(
        self, request: attestation_pb2.ReleaseRedemptionRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.Release:
        jti = wire.parse_name("attestation", request.attestation, "attestations")
        key = wire.idempotency_key(_SERVICE + "ReleaseRedemption", request.request_id, request)
        result = self._attestations.release(wire.caller(), jti, request.reason, key)
        return attestation_pb2.Release(
            attestation=f"attestations/{result.jti}",
            jti=result.jti,
            consumption=result.consumption.value,
            released_amount=result.released_amount,
            released_currency=result.released_currency,
            domain=result.domain,
            asset_id=result.asset_id,
            reason=result.reason,
            released_by_role=result.released_by_role,
            released_by=result.released_by,
            release_time=wire.timestamp(result.released_at),
            log_index=result.log_index,
        )

    def GetAttestation(
        self, request: attestation_pb2.GetAttestationRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.Attestation:
        jti = wire.parse_name("name", request.name, "attestations")
        issued = self._attestations.get(wire.caller(), jti)
        if issued.state is AttestationState.ISSUED and issued.expires_at <= self._clock.now():
            issued = replace(issued, state=AttestationState.EXPIRED)
        return attestation_message(issued)

    def GetIssuerKeys(
        self, request: attestation_pb2.GetIssuerKeysRequest, context: grpc.ServicerContext
    ) -> attestation_pb2.IssuerKeys:
        jwks = self._keyring.issuer_jwks(self._clock.now())
        return attestation_pb2.IssuerKeys(
            issuer=self._issuer,
            jwks=json.dumps(jwks, sort_keys=True),
            former_issuers=self._former,
        )
