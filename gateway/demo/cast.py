"""The parties of the demo, each an SDK client with its own token, and what a case leaves behind.

Four providers (tax bureau, warehouse, IP center, registry), each holding its domain's
``provider_role`` (the tax bureau also the configured FX role: it uploads the FX rate table), four
owners, two banks and a regulator. ``WitnessBank`` is a ``BankClient`` that keeps the presentation
it sends with each redemption (the SD-JWT plus its key-binding JWT), so the evidence bundle holds
exactly what the gateway verified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc

from attestgate.gateway.demo.stage import Stage
from attestgate.sdk import BankClient, OwnerClient, ProviderClient, RegulatorClient
from attestgate.sdk.sdjwt import redemption_nonce
from attestgate.sdk.types import Attestation, Redemption
from attestgate.v1 import attestation_pb2

M = TypeVar("M")
Q = TypeVar("Q")

PROVIDERS = {
    "tax": "tax-bureau",
    "warehouse": "qh-warehouse",
    "ip": "ip-center",
    "registry": "samr",
}
PROVIDER_ROLES = {
    "tax": "tax_bureau",
    "warehouse": "warehouse",
    "ip": "ip_office",
    "registry": "commercial_registry",
}
"""Each provider's catalog ``provider_role``."""
OWNERS = {
    "person": "alice",
    "trader": "acme-trading",
    "inventor": "acme-ip",
    "company": "example-co",
}
BANKS = ("bank-a", "bank-b")


class WitnessBank(BankClient):
    """A ``BankClient`` that remembers each presentation it sends, by transaction ref."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presentations: dict[str, str] = {}

    def _unary(self, method: grpc.UnaryUnaryMultiCallable[Q, M], request: Q) -> M:
        if isinstance(request, attestation_pb2.RedeemAttestationRequest):
            self.presentations.setdefault(request.transaction_ref, request.presentation)
        return super()._unary(method, request)


@dataclass
class Cast:
    """Every party's client on one stage."""

    stage: Stage
    providers: dict[str, ProviderClient] = field(default_factory=dict)
    owners: dict[str, OwnerClient] = field(default_factory=dict)
    banks: dict[str, WitnessBank] = field(default_factory=dict)
    regulator: RegulatorClient | None = None

    @classmethod
    def assemble(cls, stage: Stage) -> Cast:
        """Register provider keys and open a client per party."""
        cast = cls(stage)
        target, tls = stage.target, stage.tls
        for role, base in PROVIDERS.items():
            pid = stage.name(base)
            roles = [PROVIDER_ROLES[role]]
            if role == "tax":
                roles.append(stage.config.fx_rates_role)
            key = stage.register_provider(pid, roles)
            token = stage.token("provider", pid)
            cast.providers[role] = ProviderClient(target, token=token, signing_key=key, tls=tls)
        for role, base in OWNERS.items():
            owner = stage.name(base)
            cast.owners[role] = OwnerClient(target, token=stage.token("owner", owner), tls=tls)
        for base in BANKS:
            bank = stage.name(base)
            cast.banks[base] = WitnessBank(target, token=stage.token("bank", bank), tls=tls)
        cast.regulator = RegulatorClient(
            target, token=stage.token("regulator", "safe-regulator"), vkey=stage.vkey(), tls=tls
        )
        return cast

    def owner_id(self, role: str) -> str:
        """The owner's subject id on this stage."""
        return self.stage.name(OWNERS[role])

    def bank_id(self, base: str) -> str:
        """The bank's subject id on this stage."""
        return self.stage.name(base)

    @property
    def audit(self) -> RegulatorClient:
        """The regulator's client."""
        assert self.regulator is not None  # set by assemble
        return self.regulator

    def close(self) -> None:
        """Close every client."""
        clients: list[Any] = [*self.providers.values(), *self.owners.values()]
        clients += [*self.banks.values(), self.regulator]
        for client in clients:
            if client is not None:
                client.close()


@dataclass(frozen=True)
class CaseRecord:
    """One domain's redeemed attestation, as the evidence bundle shows it."""

    domain: str
    purpose: str
    consent_id: str
    attestation: Attestation
    presentation: str
    kb_aud: str
    transaction_ref: str
    redemption: Redemption
    second_redeem: tuple[str, str]

    @property
    def kb_nonce(self) -> str:
        """The KB-JWT nonce: ``redemption_nonce(jti, transaction_ref)``."""
        return redemption_nonce(self.attestation.jti, self.transaction_ref)


def json_value(value: object) -> object:
    """A claim value as JSON (dates as ISO 8601 text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def json_claims(claims: Mapping[str, object]) -> dict[str, object]:
    """Disclosed claims as JSON values."""
    return {name: json_value(value) for name, value in claims.items()}


def claims_text(claims: Mapping[str, object]) -> str:
    """Disclosed claims for people: ``covers_amount=true, tax_year=2025`` (sorted, JSON values)."""
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(json_claims(claims).items()))


def iso(moment: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC text."""
    return None if moment is None else moment.astimezone(UTC).isoformat()
