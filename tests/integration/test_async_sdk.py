"""The async SDK (``sdk.aio``) against the real gateway: the four clients end to end, the event
and checkpoint streams, the same errors as the sync SDK, and mutual TLS with ``TlsConfig``.

Each test runs its coroutine with ``asyncio.run`` (no pytest plugin needed); the gateway runs in
its own threads, the clients in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.auth import certificate_thumbprint, issue_dev_token
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.tls import TlsFiles, issue_client_cert
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.sdk import (
    AsyncBankClient,
    AsyncOwnerClient,
    AsyncProviderClient,
    AsyncRegulatorClient,
    AttestationState,
    ConsentRequestState,
    ConsentState,
    TlsConfig,
    errors,
)
from attestgate.sdk.types import ClaimValue
from tests.integration import live
from tests.integration.live import LiveGateway

FX: dict[str, ClaimValue] = {"amount": 5_000_000, "currency": "USD"}


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


def clients(gw: LiveGateway) -> tuple[AsyncProviderClient, AsyncBankClient, AsyncOwnerClient]:
    """Async clients for the tax bureau (key registered now), bank-a and alice."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ProviderRegistry(gw.config.data_dir).add(
        "tax-bureau", pem, roles=("tax_bureau", "fx_authority"), replace=True
    )
    provider = AsyncProviderClient(
        gw.target,
        token=gw.token("provider", "tax-bureau"),
        signing_key=key,
        tls=gw.tls,
        clock=gw.clock.now,
    )
    bank = AsyncBankClient(
        gw.target, token=gw.token("bank", "bank-a"), tls=gw.tls, clock=gw.clock.now
    )
    owner = AsyncOwnerClient(gw.target, token=lambda: gw.token("owner", "alice"), tls=gw.tls)
    return provider, bank, owner


async def income_flow(gw: LiveGateway) -> dict[str, Any]:
    provider, bank, owner = clients(gw)
    async with provider, bank, owner:
        receipt = await provider.put_record(
            domain="income", subject="alice", record_id="inc-2025", fields=live.INCOME_FIELDS
        )
        await provider.put_fx_rates(table_id="pboc", rates={"USD": live.USD_RATE})
        request = await bank.request_consent(
            owner="alice",
            domain="income",
            purpose="fx_purchase",
            bounds=live.FX_BOUNDS,
            claims=["tax_year", "covers_amount"],
            record_id="inc-2025",
        )
        pending = await owner.pending_requests()
        consent = await owner.approve(request.id)
        attestation = await bank.issue(consent.id, params=FX)
        verified = await bank.verify(attestation.token)
        redemption = await bank.redeem(attestation, transaction_ref="fx-async-1")
        with pytest.raises(errors.AlreadyRedeemed):
            await bank.redeem(attestation, transaction_ref="fx-async-2")
        with pytest.raises(errors.InvalidAttestation):
            await bank.verify(attestation.token[:-8] + "AAAAAAA~")
        return {
            "receipt": receipt,
            "request": request,
            "pending": pending,
            "consent": consent,
            "attestation": attestation,
            "verified": verified,
            "redemption": redemption,
            "held": await bank.get_attestation(attestation.jti),
            "bank_consents": await bank.list_consents(state=ConsentState.EXHAUSTED),
            "activity": await owner.activity(),
            "keys": await bank.issuer_keys(),
        }


def test_income_end_to_end(gw: LiveGateway) -> None:
    out = asyncio.run(income_flow(gw))
    assert out["receipt"].version == 1
    assert out["request"].state is ConsentRequestState.PENDING
    assert [r.id for r in out["pending"]] == [out["request"].id]
    assert out["consent"].state is ConsentState.ACTIVE
    assert out["attestation"].claims == {"tax_year": 2025, "covers_amount": True}
    assert out["verified"] == {"tax_year": 2025, "covers_amount": True}
    assert out["redemption"].consumed_amount == 35_617_000  # USD 50,000 at 7.1234, in fen
    assert out["held"].state is AttestationState.REDEEMED
    assert [c.id for c in out["bank_consents"]] == [out["consent"].id]
    assert out["bank_consents"][0].uses == 1  # its one use spent: listed as it reads
    assert out["bank_consents"][0].state is ConsentState.EXHAUSTED
    types = [entry.type for entry in out["activity"]]
    assert "attestation.redeemed" in types
    assert "keys" in out["keys"]


async def owner_lifecycle(gw: LiveGateway) -> list[Any]:
    _, bank, owner = clients(gw)
    async with bank, owner:
        events = bank.watch_consent_events(timeout=10)
        request = await bank.request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
        seen = [await anext(events)]
        consent = await owner.approve(request.id)
        await owner.pause(consent.id)
        with pytest.raises(errors.FailedPrecondition):
            await owner.pause(consent.id)  # not retried, refused by the state machine
        await owner.resume(consent.id)
        revoked = await owner.revoke(consent.id)
        while len(seen) < 5:
            seen.append(await anext(events))
        await events.aclose()
        rejected = await owner.reject(
            (
                await bank.request_consent(
                    owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
                )
            ).id
        )
        with pytest.raises(errors.NotFound):
            await owner.get_consent("cs_nope")
        return [seen, revoked, rejected, await owner.list_consents()]


def test_owner_lifecycle_and_event_stream(gw: LiveGateway) -> None:
    seen, revoked, rejected, consents = asyncio.run(owner_lifecycle(gw))
    assert [e.state.value for e in seen] == ["PENDING", "ACTIVE", "PAUSED", "ACTIVE", "REVOKED"]
    assert revoked.state is ConsentState.REVOKED
    assert rejected.state is ConsentRequestState.REJECTED
    assert [c.state for c in consents] == [ConsentState.REVOKED]


async def audit_flow(gw: LiveGateway) -> None:
    _, bank, owner = clients(gw)
    regulator = AsyncRegulatorClient(
        gw.target, token=gw.token("regulator", "csrc"), vkey=gw.vkey, tls=gw.tls
    )
    async with bank, owner, regulator:
        stream = regulator.watch_checkpoints(timeout=10)
        first = await anext(stream)
        await bank.request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
        second = await anext(stream)
        while second.size <= first.size:
            second = await anext(stream)
        await stream.aclose()
        assert regulator.open_checkpoint(second.text) == second
        entries = await regulator.entries(0, second.size)
        for entry in entries:
            await regulator.verify_inclusion(entry, entry.index, second)
        await regulator.verify_consistency(first, second)
        assert (await regulator.consistency_proof(1, second.size)).new_size == second.size
        with pytest.raises(errors.InvalidArgument):  # RFC 9162 proofs start at size 1
            await regulator.consistency_proof(0, second.size)
        assert (await regulator.checkpoint()).size >= second.size
        with pytest.raises(errors.AttestgateError):
            await regulator.inclusion_proof(second.size + 10, second.size)
        forged = entries[-1].data.replace(b"consent", b"c0nsent")
        with pytest.raises(errors.AttestgateError):
            await regulator.verify_inclusion(forged, entries[-1].index, second)


def test_regulator_verifies_the_log(gw: LiveGateway) -> None:
    asyncio.run(audit_flow(gw))


def test_mutual_tls_with_a_certificate_bound_token(tmp_path: Path, clock: FixedClock) -> None:
    gw = live.start_live(tmp_path / "mtls", clock, tls_client_auth=True)
    try:
        cert_pem, key_pem = issue_client_cert(
            gw.config.tls_dir, common_name="bank-a", now=clock.now()
        )
        (tmp_path / "bank.pem").write_bytes(cert_pem)
        (tmp_path / "bank.key").write_bytes(key_pem)
        der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        token = issue_dev_token(
            gw.parts.keyring,
            role="bank",
            sub="bank-a",
            ttl=timedelta(hours=1),
            now=clock.now(),
            audience=gw.config.gateway_id,
            extra_claims={"cnf": {"x5t#S256": certificate_thumbprint(der)}},
        )
        ca = TlsFiles.in_dir(gw.config.tls_dir).ca_cert
        mtls = TlsConfig(
            ca_file=ca, cert_file=tmp_path / "bank.pem", key_file=tmp_path / "bank.key"
        )

        async def run() -> None:
            async with AsyncBankClient(gw.target, token=token, tls=mtls) as bank:
                assert "keys" in await bank.issuer_keys()
            async with AsyncBankClient(gw.target, token=token, tls=TlsConfig(ca_file=ca)) as bank:
                with pytest.raises(errors.Unavailable):  # no client certificate: no handshake
                    await bank.issuer_keys()

        asyncio.run(run())
    finally:
        gw.close()
