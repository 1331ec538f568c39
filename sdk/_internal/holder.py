"""The bank side of attestations, written once for ``BankClient`` and ``AsyncBankClient``.

A ``Holder`` keeps the P-256 holder key every attestation is bound to (``cnf.jwk``, RFC 7800 §3.2),
builds the requests that carry it, verifies issued tokens offline against the issuer's JWKS, and
builds redemption presentations: the token plus a KB-JWT (RFC 9901 §4.3) whose ``aud`` is the
gateway's issuer name and whose ``nonce`` binds it to one redemption. The clients only add the I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.jose import JoseError, Jwks, json_object, parse_compact_jws, public_jwk
from attestgate.sdk._internal import convert, inputs
from attestgate.sdk.errors import HolderKeyMismatch, InvalidAttestation
from attestgate.sdk.holder_key import HolderKey, HolderKeySigner, private_key_of
from attestgate.sdk.sdjwt import (
    KeyBindingPolicy,
    SdJwtError,
    create_presentation,
    redemption_nonce,
    unverified_jti,
    verify_sd_jwt,
)
from attestgate.sdk.types import Attestation, ClaimValue
from attestgate.v1 import attestation_pb2, consent_pb2

VCT_PREFIX = "urn:attestgate:"
"""The ``vct`` prefix of attestations issued before the public face (``urn:attestgate:<domain>:
<purpose>:v1``); since, ``<issuer URL>/types/<domain>/<purpose>/v1`` (``IssuerInfo``)."""


@dataclass(frozen=True)
class IssuerInfo:
    """The gateway's issuer name and verification keys, as published by GetIssuerKeys."""

    issuer: str
    jwks: Jwks
    raw: Mapping[str, Any]
    former_issuers: tuple[str, ...] = ()
    """Earlier ``iss`` values of this gateway (its id, before its HTTPS URL): still accepted."""

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every ``iss`` an attestation of this gateway may carry."""
        return (self.issuer, *self.former_issuers)

    @property
    def vct_prefixes(self) -> tuple[str, ...]:
        """The ``vct`` prefixes of this gateway's types (legacy URN, then its type URLs)."""
        return (VCT_PREFIX, f"{self.issuer}/types/")

    @staticmethod
    def parse(response: attestation_pb2.IssuerKeys) -> IssuerInfo:
        """The published keys, or ``InvalidAttestation`` if they are unusable."""
        try:
            raw = json_object(response.jwks.encode("utf-8", "surrogatepass"), max_depth=8)
            former = tuple(response.former_issuers)
            info = IssuerInfo(response.issuer, Jwks.from_dict(raw), raw, former)
        except (ValueError, JoseError) as exc:
            raise InvalidAttestation("the gateway published an unusable JWKS") from exc
        if not info.issuer:
            raise InvalidAttestation("the gateway published no issuer name")
        return info


def consent_request(
    *,
    owner: str,
    domain: str,
    purpose: str,
    claims: Iterable[str] | str,
    record_id: str | None,
    valid_for: timedelta | None,
    max_uses: int,
    request_id: str | None,
    bounds: Mapping[str, ClaimValue | Decimal] | None = None,
) -> consent_pb2.CreateConsentRequestRequest:
    """A CreateConsentRequest (``request_id`` default: a fresh one, so a resend is answered)."""
    body = consent_pb2.ConsentRequest(
        owner=owner,
        domain=domain,
        purpose=purpose,
        claims=inputs.claim_names(claims),
        record_id=record_id or "",
        max_uses=max_uses,
        bounds=inputs.params(bounds, "bounds"),
    )
    if valid_for is not None:
        body.valid_for.CopyFrom(convert.duration(valid_for))
    return consent_pb2.CreateConsentRequestRequest(
        consent_request=body, request_id=request_id or str(uuid.uuid4())
    )


class Holder:
    """The holder key and what is built with it."""

    def __init__(
        self,
        holder_key: HolderKey | HolderKeySigner | ec.EllipticCurvePrivateKey | None,
        *,
        clock: Callable[[], datetime] | None,
        leeway: timedelta,
    ) -> None:
        self.key = private_key_of(holder_key or HolderKey.generate())
        self.public_jwk = public_jwk(self.key.public_key())
        self._jwk = json.dumps(self.public_jwk, sort_keys=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._leeway = leeway

    def issue_request(
        self,
        consent_id: str,
        *,
        params: Mapping[str, ClaimValue | Decimal] | None,
        request_id: str | None,
        claims: Iterable[str] | str | None,
    ) -> attestation_pb2.IssueAttestationRequest:
        """An IssueAttestation request bound to the holder key."""
        return attestation_pb2.IssueAttestationRequest(
            consent=convert.resource_name("consents", consent_id),
            params=inputs.params(params),
            holder_jwk=self._jwk,
            claims=inputs.claim_names(claims or ()),
            request_id=request_id or str(uuid.uuid4()),
        )

    def verify(self, info: IssuerInfo, token: str) -> dict[str, Any]:
        """The disclosed claims of an issued token (no KB-JWT allowed); raises ``SdJwtError``."""
        verified = verify_sd_jwt(
            token,
            jwks=info.jwks,
            issuer=info.issuers,
            now=self._clock(),
            key_binding=KeyBindingPolicy.none(),
            leeway=self._leeway,
            expected_vct_prefix=info.vct_prefixes,
        )
        return dict(verified.claims)

    def redeem_request(
        self, info: IssuerInfo, attestation: Attestation | str, transaction_ref: str
    ) -> attestation_pb2.RedeemAttestationRequest:
        """A RedeemAttestation request: the presentation bound to this gateway and redemption."""
        if not transaction_ref:
            raise inputs.refuse("transaction_ref", "required: your reference of the transaction")
        token = attestation.token if isinstance(attestation, Attestation) else attestation
        try:
            jti = unverified_jti(token)  # only to derive the nonce; the gateway verifies
        except SdJwtError as exc:
            raise InvalidAttestation("attestation invalid") from exc
        self._check_bound_here(token)
        presentation = create_presentation(
            token,
            holder_key=self.key,
            audience=info.issuer,
            nonce=redemption_nonce(jti, transaction_ref),
            now=self._clock(),
        )
        return attestation_pb2.RedeemAttestationRequest(
            presentation=presentation, transaction_ref=transaction_ref
        )

    def _check_bound_here(self, token: str) -> None:
        """Refuse before sending a presentation the gateway must refuse: the token's ``cnf.jwk``
        (read without verifying: the gateway verifies) is not this holder's public key."""
        try:
            payload = json_object(parse_compact_jws(token.split("~", 1)[0]).payload, max_depth=8)
        except (JoseError, ValueError):
            return  # malformed: the gateway answers ATTESTATION_INVALID
        cnf = payload.get("cnf")
        bound = cnf.get("jwk") if isinstance(cnf, dict) else None
        if not isinstance(bound, dict):
            return
        mine = {name: self.public_jwk.get(name) for name in ("kty", "crv", "x", "y")}
        if {name: bound.get(name) for name in mine} != mine:
            raise HolderKeyMismatch(
                "this attestation is bound to another holder key than this client's",
                hint="redeem with the holder key that obtained it: BankClient(..., "
                "holder_key=HolderKey.load(path)); keep it with HolderKey.save(path)",
            )
