"""Issue 16 items 7-10 at the SDK level, against the real gateway: holder keys kept across
clients, every mistake an ``AttestgateError`` whose ``str()`` says what to do, JSON-ready results
and the claims an owner unticked reported as withheld."""

from __future__ import annotations

import json
import stat
import traceback
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.testing import TOKEN_TTL
from attestgate.protocol.reasons import Reason
from attestgate.sdk import BankClient, HolderKey, HolderKeySigner, TlsConfig, errors
from attestgate.sdk.retry import NO_RETRY
from attestgate.sdk.types import ClaimValue, Consent, Withheld
from tests.integration import live
from tests.integration.live import LiveGateway

FX: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


@pytest.fixture
def income(gw: LiveGateway) -> LiveGateway:
    provider = gw.provider("tax-bureau")
    provider.put_record(
        domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
    )
    provider.put_fx_rates(table_id="pboc-2026-01-15", rates={"USD": live.USD_RATE})
    return gw


def consent(gw: LiveGateway, bank: BankClient, approve: list[str] | None = None) -> Consent:
    request = bank.request_consent(
        owner="alice",
        domain="income",
        purpose="fx_purchase",
        claims=["tax_year", "covers_amount"],
        bounds=live.FX_BOUNDS,
    )
    return gw.owner("alice").approve(request.id, claims=approve)


# --- item 10: results as JSON, unticked claims withheld -------------------------------------------


def test_an_unticked_claim_comes_back_withheld_as_not_consented(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(consent(income, bank, approve=["covers_amount"]).id, params=FX)
    assert attestation.claims == {"covers_amount": True}
    assert attestation.withheld == (Withheld("tax_year", "NOT_CONSENTED"),)
    assert json.loads(json.dumps(attestation.claims)) == {"covers_amount": True}


def test_every_result_has_a_json_form(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    granted = consent(income, bank)
    attestation = bank.issue(granted.id, params=FX)
    data = json.loads(json.dumps(attestation.to_dict()))
    assert data["claims"] == {"tax_year": 2025, "covers_amount": True}
    assert data["withheld"] == []
    assert data["state"] == "ISSUED"
    assert data["expires_at"] == attestation.expires_at.isoformat()  # type: ignore[union-attr]
    assert json.loads(json.dumps(granted.to_dict()))["claims"] == ["tax_year", "covers_amount"]
    checkpoint = live.wait_for_checkpoint(income.regulator(), 1)
    assert json.loads(json.dumps(checkpoint.to_dict()))["root_hash"] == checkpoint.root_hash_b64


# --- item 7: holder keys kept across clients -----------------------------------------------------


def test_a_saved_holder_key_redeems_from_another_client(
    income: LiveGateway, tmp_path: Path
) -> None:
    path = tmp_path / "holder.pem"
    key = HolderKey.load_or_generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = income.bank("bank-a", holder_key=key)
    attestation = first.issue(consent(income, first).id, params=FX)
    first.close()  # the process that obtained it is gone
    again = income.bank("bank-a", holder_key=HolderKey.load(path))
    assert again.redeem(attestation, transaction_ref="fx-1").consumption == "amount"
    with pytest.raises(errors.InvalidInput, match="exists: load it") as refused:
        HolderKey.generate().save(path)  # never overwritten
    assert "HolderKey.load" in str(refused.value)
    assert HolderKey.load(path).public_jwk() == key.public_jwk()


def test_missing_holder_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        HolderKey.load(tmp_path / "nope.pem")
    assert "HolderKey.generate().save(path)" in str(refused.value)


def test_a_holder_key_saved_into_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="does not exist: create it first") as refused:
        HolderKey.load_or_generate(tmp_path / "keys" / "holder.pem")
    assert str(tmp_path / "keys") in str(refused.value)
    assert not (tmp_path / "keys").exists()


def test_another_holder_key_is_refused_before_sending(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    attestation = bank.issue(consent(income, bank).id, params=FX)
    restarted = income.bank("bank-a")  # a fresh key: what a restart without holder_key= gives
    with pytest.raises(errors.HolderKeyMismatch) as refused:
        restarted.redeem(attestation, transaction_ref="fx-1")
    assert isinstance(refused.value, errors.InvalidAttestation)
    assert "bound to another holder key" in str(refused.value)
    assert "HolderKey.load(path)" in str(refused.value)
    assert refused.value.rpc_error is None  # nothing was sent: still redeemable by its holder
    assert bank.redeem(attestation, transaction_ref="fx-1").jti == attestation.jti


class KmsKey:
    """A key the SDK never sees: only its public JWK and a DER ECDSA signature come out."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.signed = 0

    def public_jwk(self) -> dict[str, str]:
        return HolderKey(self._key).public_jwk()

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def test_a_holder_key_in_an_hsm_signs_the_presentation(income: LiveGateway) -> None:
    hsm = KmsKey()
    assert isinstance(hsm, HolderKeySigner)
    bank = income.bank("bank-a", holder_key=hsm)
    attestation = bank.issue(consent(income, bank).id, params=FX)
    assert bank.redeem(attestation, transaction_ref="fx-1").consumption == "amount"
    assert hsm.signed == 1


# --- item 8: every mistake an AttestgateError ----------------------------------------------------


def test_a_float_amount_is_refused_with_minor_units(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    with pytest.raises(errors.InvalidInput) as refused:
        bank.issue(consent(income, bank).id, params={"amount": 50000.00, "currency": "USD"})  # type: ignore[dict-item]
    assert "params.amount: must be an integer (minor units" in str(refused.value)
    assert "decimal.Decimal" in str(refused.value)


def test_an_amount_beyond_64_bits_is_refused(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    with pytest.raises(errors.InvalidInput) as refused:
        bank.issue(consent(income, bank).id, params={"amount": 10**30, "currency": "USD"})
    assert "params.amount: out of range" in str(refused.value)


def test_a_decimal_amount_takes_the_currency_exponent(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    granted = consent(income, bank)
    attestation = bank.issue(granted.id, params={"amount": Decimal("50000.00"), "currency": "USD"})
    assert bank.redeem(attestation, transaction_ref="fx-1").consumed_amount == 35_617_000
    with pytest.raises(errors.InvalidInput) as refused:
        bank.issue(granted.id, params={"amount": Decimal("1.005"), "currency": "USD"})
    assert "USD has 2 decimal places" in str(refused.value)


def test_a_missing_ca_file_says_which_file_to_trust(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        TlsConfig(ca_file=tmp_path / "ca.pem")  # refused where it is named, before any client
    assert "ca.pem" in str(refused.value)
    assert "TlsConfig(ca_file=" in str(refused.value)


def test_amount_zero_is_refused_by_the_gateway(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    with pytest.raises(errors.InvalidArgument) as refused:
        bank.issue(consent(income, bank).id, params={"amount": 0, "currency": "USD"})
    assert "params.amount: must be positive" in str(refused.value)


def test_claims_as_one_string_is_one_claim(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    request = bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims="tax_year"
    )
    assert request.claims == ("tax_year",)
    granted = income.owner("alice").approve(request.id, claims="tax_year")
    assert bank.issue(granted.id, claims="tax_year").claims == {"tax_year": 2025}


def test_a_bearer_prefix_on_the_token_is_accepted(income: LiveGateway) -> None:
    token = "Bearer " + income.token("bank", "bank-a")
    with BankClient(income.target, token=token, tls=income.tls) as bank:
        assert bank.list_consents() == []


# --- item 9: str(exc) says what to do ------------------------------------------------------------


def test_field_violations_are_in_the_message(income: LiveGateway) -> None:
    bank = income.bank("bank-a")
    granted = consent(income, bank).id
    with pytest.raises(errors.InvalidArgument) as malformed:
        bank.issue(granted, params={"amount": 5_000_000, "currency": "usd"})
    assert "params.currency:" in str(malformed.value)
    # A bounded parameter left out escapes its bound: refused as outside the consent.
    with pytest.raises(errors.PermissionDenied) as refused:
        bank.issue(granted, params={"amount": 5_000_000})
    assert refused.value.reason is Reason.PARAMS_EXCEED_CONSENT
    assert "params.currency: required: the consent allows exactly 'USD'" in str(refused.value)


def test_an_unknown_claim_names_the_allowed_ones(gw: LiveGateway) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        gw.bank("bank-a").request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_yr"]
        )
    assert refused.value.reason == "UNKNOWN_CLAIM"
    assert "'tax_yr' is not a claim of income/fx_purchase; allowed: tax_year, covers_amount" in str(
        refused.value
    )


def test_an_empty_claims_list_says_so(gw: LiveGateway) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        gw.bank("bank-a").request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=[]
        )
    assert "exceeds" not in str(refused.value)
    assert "names no claim" in str(refused.value)
    assert "tax_year, covers_amount" in str(refused.value)


def test_a_consent_request_id_for_a_consent_id_says_which_to_pass(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    request = bank.request_consent(
        owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
    )
    for call in (lambda: bank.issue(request.id, params=FX), lambda: bank.get_consent(request.id)):
        with pytest.raises(errors.InvalidInput) as refused:
            call()
        assert "is a consent request id (cr_...), not a consent id" in str(refused.value)
        assert "consent_id" in str(refused.value)


def test_untrusted_certificate_names_the_ca_to_trust(gw: LiveGateway) -> None:
    bank = BankClient(gw.target, token=gw.token("bank", "b"), retry=NO_RETRY)  # system roots
    with bank, pytest.raises(errors.Unavailable) as refused:
        bank.list_consents()
    assert refused.value.reason == "TLS_CERTIFICATE_UNTRUSTED"
    assert "hint: " in str(refused.value)
    assert "TlsConfig(ca_file=<data-dir>/tls/ca.pem)" in str(refused.value)


def test_plaintext_to_a_tls_gateway_says_to_use_tls(gw: LiveGateway) -> None:
    bank = BankClient(gw.target, token=gw.token("bank", "b"), insecure=True, retry=NO_RETRY)
    with bank, pytest.raises(errors.Unavailable) as refused:
        bank.list_consents()
    assert refused.value.reason == "CONNECTION_CLOSED"
    assert "drop insecure=True" in str(refused.value)


def test_tls_to_a_plaintext_gateway_says_insecure(
    gw: LiveGateway, tmp_path: Path, clock: FixedClock
) -> None:
    with live.start_live(tmp_path / "plain", clock, insecure=True) as plain:
        token = plain.token("bank", "b")
        bank = BankClient(plain.target, token=token, tls=gw.tls, retry=NO_RETRY)
        with bank, pytest.raises(errors.Unavailable) as refused:
            bank.list_consents()
    assert refused.value.reason == "TLS_NOT_SERVED"
    assert "pass insecure=True" in str(refused.value)


def test_a_url_target_says_host_port(gw: LiveGateway) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        BankClient(f"https://{gw.target}", token=gw.token("bank", "b"), tls=gw.tls)
    assert "host:port" in str(refused.value)
    assert "no scheme" in str(refused.value)


def test_an_expired_token_says_to_get_a_fresh_one(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    gw.clock.advance(TOKEN_TTL + timedelta(minutes=5))
    with pytest.raises(errors.AuthenticationError) as refused:
        bank.list_consents()
    assert refused.value.reason == "TOKEN_EXPIRED"
    assert "hint: get a fresh token" in str(refused.value)


def test_a_refusal_traceback_is_short_and_keeps_the_grpc_error(gw: LiveGateway) -> None:
    bank = gw.bank("bank-a")
    with pytest.raises(errors.NotFound) as refused:
        bank.get_consent("cs_nope")
    error = refused.value
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert isinstance(error.rpc_error, grpc.RpcError)
    frames = traceback.extract_tb(error.__traceback__)
    assert len(frames) <= 4, [f.name for f in frames]
    assert all("grpc" not in frame.filename for frame in frames)
