"""SDK clients on a channel the caller made (``channel=``): a bank testing its integration against
a gateway it started itself. The four clients, sync and async, share one channel to a real
gateway; each still sends its own token and raises ``sdk.errors``; closing a client leaves the
channel open for its owner; the options that would configure a channel are refused with one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.sdk import (
    AsyncBankClient,
    AsyncOwnerClient,
    AsyncProviderClient,
    AsyncRegulatorClient,
    BankClient,
    ConsentState,
    OwnerClient,
    ProviderClient,
    RegulatorClient,
    TlsConfig,
    errors,
)
from tests.integration import live
from tests.integration.live import LiveGateway


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    yield from live.live_gateway(tmp_path, clock)


def credentials(gw: LiveGateway) -> grpc.ChannelCredentials:
    return gw.tls.channel_credentials()


def test_sync_clients_share_a_given_channel(gw: LiveGateway) -> None:
    channel = grpc.secure_channel(gw.target, credentials(gw))
    try:
        provider = ProviderClient(
            channel=channel,
            token=gw.token("provider", "tax-bureau"),
            signing_key=gw.register_provider("tax-bureau", ["tax_bureau"]),
            clock=gw.clock.now,
        )
        bank = BankClient(channel=channel, token=gw.token("bank", "bank-a"), clock=gw.clock.now)
        owner = OwnerClient("in-test", channel=channel, token=gw.token("owner", "alice"))
        regulator = RegulatorClient(channel=channel, token=gw.token("regulator", "c"), vkey=gw.vkey)
        assert (bank.target, owner.target, repr(owner)) == ("", "in-test", "OwnerClient('in-test')")
        with provider:  # closing a client does not close the channel it was given
            receipt = provider.put_record(
                domain="income", subject="alice", record_id="r1", fields=live.INCOME_FIELDS
            )
        assert receipt.version == 1
        request = bank.request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
        with owner:
            consent = owner.approve(request.id)  # the owner's token, not the bank's
            with pytest.raises(errors.NotFound):  # errors are the SDK's on a given channel too
                owner.get_consent("cs_nope")
        assert bank.get_consent(consent.id).state is ConsentState.ACTIVE
        impostor = OwnerClient(channel=channel, token=gw.token("bank", "bank-a"))
        with pytest.raises(errors.PermissionDenied):  # each client sends its own token
            impostor.approve(request.id)
        assert live.wait_for_checkpoint(regulator, 3).size >= 3
        bank.close()
        regulator.close()
        check: grpc.UnaryUnaryMultiCallable[bytes, bytes]
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        assert check(b"", timeout=5) is not None  # still open for its owner
    finally:
        channel.close()


async def async_flow(gw: LiveGateway) -> ConsentState:
    channel = grpc.aio.secure_channel(gw.target, credentials(gw))
    try:
        provider = AsyncProviderClient(
            channel=channel,
            token=gw.token("provider", "tax-bureau"),
            signing_key=gw.register_provider("tax-bureau", ["tax_bureau"]),
            clock=gw.clock.now,
        )
        bank = AsyncBankClient(channel=channel, token=gw.token("bank", "bank-a"))
        owner = AsyncOwnerClient(channel=channel, token=lambda: gw.token("owner", "alice"))
        regulator = AsyncRegulatorClient(
            channel=channel, token=gw.token("regulator", "c"), vkey=gw.vkey
        )
        async with provider, bank, owner:
            await provider.put_record(
                domain="income", subject="alice", record_id="r1", fields=live.INCOME_FIELDS
            )
            request = await bank.request_consent(
                owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
            )
            consent = await owner.approve(request.id)
            with pytest.raises(errors.NotFound):
                await owner.get_consent("cs_nope")
        async with regulator:  # the channel outlived the three clients above
            # a signed checkpoint (it may not cover the writes above yet: checkpoints lag)
            assert (await regulator.checkpoint()).origin == gw.config.log_origin
        bank_again = AsyncBankClient(channel=channel, token=gw.token("bank", "bank-a"))
        return (await bank_again.get_consent(consent.id)).state
    finally:
        await channel.close()


def test_async_clients_share_a_given_aio_channel(gw: LiveGateway) -> None:
    assert asyncio.run(async_flow(gw)) is ConsentState.ACTIVE


@pytest.mark.parametrize(
    "extra",
    [{"tls": TlsConfig()}, {"insecure": True}, {"options": [("grpc.max_send_message_length", 1)]}],
)
def test_channel_options_are_refused_with_a_given_channel(extra: dict[str, object]) -> None:
    channel = grpc.insecure_channel("127.0.0.1:9")
    try:
        with pytest.raises(ValueError, match="given channel"):
            OwnerClient(channel=channel, token="t", **extra)  # type: ignore[arg-type]
    finally:
        channel.close()


def test_target_or_channel_is_required() -> None:
    with pytest.raises(ValueError, match="host:port"):
        OwnerClient(token="t")
