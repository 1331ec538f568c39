"""AttestationManager without a server: issue under an ACTIVE consent (minimum disclosure, one
use counted), redeem exactly once (income capacity consumed), and refusals that change nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.consent.machine import ConsentAction
from attestgate.gateway.app import GatewayParts
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.persistence import ledger
from attestgate.gateway.usecases.attestations.manager import AttestationManager, IssuedAttestation
from attestgate.gateway.usecases.caller import Caller
from attestgate.gateway.usecases.consents import ConsentManager
from attestgate.gateway.usecases.records import RecordManager
from attestgate.protocol.jose import public_jwk
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.sdk.sdjwt import create_presentation, redemption_nonce
from tests.unit.gateway.usecases.conftest import ALICE, BANK, TAX, log_size, signed_record, signer
from tests.unit.gateway.usecases.test_usecase_consents import DRAFT

FX = {"amount": 5_000_000, "currency": "USD"}  # USD 50,000.00 in cents


@dataclass
class Setup:
    parts: GatewayParts
    clock: FixedClock
    consents: ConsentManager
    attestations: AttestationManager
    consent_id: str
    holder: ec.EllipticCurvePrivateKey

    def issue(self, caller: Caller = BANK) -> IssuedAttestation:
        return self.attestations.issue(
            caller,
            self.consent_id,
            params=FX,
            holder_jwk=public_jwk(self.holder.public_key()),
            claims=[],
            key=None,
        )

    def presentation(self, issued: IssuedAttestation, ref: str) -> str:
        return create_presentation(
            issued.token,
            holder_key=self.holder,
            audience=self.parts.config.gateway_id,
            nonce=redemption_nonce(issued.jti, ref),
            now=self.clock.now(),
        )


@pytest.fixture
def setup(
    parts: GatewayParts,
    clock: FixedClock,
    records: RecordManager,
    consents: ConsentManager,
    attestations: AttestationManager,
) -> Setup:
    """alice's income record, an FX table, and alice's ACTIVE fx_purchase consent for bank-a."""
    uploads = signer(parts, TAX, ("tax_bureau", "fx_authority"), clock)
    records.put_record(TAX, signed_record(uploads), None)
    rates = uploads.rates_request(
        table_id="pboc-1", rates={"USD": "7.1234"}, base="CNY", effective_at=None
    )
    records.put_fx_rates(TAX, rates.signed_rates, None)
    consent = consents.approve(ALICE, consents.create_request(BANK, DRAFT, None).id, None, None)
    holder = ec.generate_private_key(ec.SECP256R1())
    return Setup(parts, clock, consents, attestations, consent.id, holder)


def test_issue_discloses_the_minimum_and_counts_a_use(setup: Setup) -> None:
    issued = setup.issue()
    assert issued.claims == {"tax_year": 2025, "covers_amount": True}  # never the income
    assert issued.state is ledger.AttestationState.ISSUED
    consent = setup.consents.get_consent(BANK, setup.consent_id)
    assert consent.uses == 1
    assert setup.attestations.get(BANK, issued.jti).jti == issued.jti


def test_redeem_once(setup: Setup) -> None:
    issued = setup.issue()
    redeemed = setup.attestations.redeem(BANK, setup.presentation(issued, "fx-1"), "fx-1")
    assert redeemed.jti == issued.jti
    assert redeemed.consumed_amount == 35_617_000  # USD 50,000 at 7.1234, in fen
    assert setup.attestations.get(BANK, issued.jti).state is ledger.AttestationState.REDEEMED
    size = log_size(setup.parts)
    with pytest.raises(DomainError) as again:
        setup.attestations.redeem(BANK, setup.presentation(issued, "fx-2"), "fx-2")
    assert again.value.reason is Reason.ATTESTATION_ALREADY_REDEEMED
    assert log_size(setup.parts) == size + 1  # the attempt is audited; nothing else changes
    assert setup.attestations.get(BANK, issued.jti).transaction_ref == "fx-1"


def test_a_presentation_for_another_transaction_is_refused(setup: Setup) -> None:
    issued = setup.issue()
    with pytest.raises(DomainError) as refused:
        setup.attestations.redeem(BANK, setup.presentation(issued, "fx-1"), "fx-other")
    assert refused.value.reason is Reason.ATTESTATION_INVALID
    assert setup.attestations.get(BANK, issued.jti).state is ledger.AttestationState.ISSUED


def test_issue_under_a_revoked_consent_is_refused(setup: Setup) -> None:
    setup.consents.change(ALICE, setup.consent_id, ConsentAction.REVOKE)
    with pytest.raises(DomainError) as refused:
        setup.issue()
    assert refused.value.reason is Reason.CONSENT_REVOKED
    assert setup.consents.get_consent(BANK, setup.consent_id).uses == 0


def test_only_the_grantee_may_issue(setup: Setup) -> None:
    with pytest.raises(DomainError) as refused:
        setup.issue(Caller("bank-b", "bank"))
    assert refused.value.reason is Reason.NOT_CONSENT_GRANTEE
