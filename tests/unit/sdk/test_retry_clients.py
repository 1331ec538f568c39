"""Sync and async clients retry through a real gRPC server that fails on purpose: reads and
request-id writes are resent after transient failures, unsafe calls never; every attempt has
the client's deadline; the default channel options can be overridden."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from attestgate.sdk import AsyncOwnerClient, ConsentState, OwnerClient, errors
from attestgate.sdk._internal.base import DEFAULT_CHANNEL_OPTIONS, channel_options
from attestgate.v1 import consent_pb2

SERVICE = "attestgate.v1.ConsentService"
CONSENT = consent_pb2.Consent(
    name="consents/cs_1", state=consent_pb2.ConsentState.CONSENT_STATE_ACTIVE
)


@dataclass
class Flaky:
    """Per method: the failures still to send (a status code, or "slow"), and calls seen."""

    plan: dict[str, list[Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self.lock:
                self.calls[method] = self.calls.get(method, 0) + 1
                pending = self.plan.get(method, [])
                step = pending.pop(0) if pending else None
            if step == "slow":
                time.sleep(0.6)
            elif step is not None:
                status = status_pb2.Status(code=step.value[0], message="try later")
                info = any_pb2.Any()
                info.Pack(error_details_pb2.ErrorInfo(reason="OVERLOADED", domain="attestgate"))
                status.details.append(info)
                context.abort_with_status(rpc_status.to_status(status))
            return CONSENT

        return handle


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, str]]:
    state = Flaky()
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            state.handler(name),
            request_deserializer=request_type.FromString,
            response_serializer=consent_pb2.Consent.SerializeToString,
        )
        for name, request_type in [
            ("GetConsent", consent_pb2.GetConsentRequest),
            ("PauseConsent", consent_pb2.PauseConsentRequest),
            ("ApproveConsentRequest", consent_pb2.ApproveConsentRequestRequest),
        ]
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield state, f"127.0.0.1:{port}"
    server.stop(0)


UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def sync_call(target: str, method: str, timeout: float = 5.0) -> Any:
    with OwnerClient(target, token="t", insecure=True, timeout=timeout) as owner:
        if method == "GetConsent":
            return owner.get_consent("cs_1")
        if method == "PauseConsent":
            return owner.pause("cs_1")
        return owner.approve("cr_1")


def async_call(target: str, method: str, timeout: float = 5.0) -> Any:
    async def run() -> Any:
        async with AsyncOwnerClient(target, token="t", insecure=True, timeout=timeout) as owner:
            if method == "GetConsent":
                return await owner.get_consent("cs_1")
            if method == "PauseConsent":
                return await owner.pause("cs_1")
            return await owner.approve("cr_1")

    return asyncio.run(run())


CALLERS = [pytest.param(sync_call, id="sync"), pytest.param(async_call, id="async")]


@pytest.mark.parametrize("call", CALLERS)
@pytest.mark.parametrize("method", ["GetConsent", "ApproveConsentRequest"])
def test_idempotent_calls_are_retried(
    flaky: tuple[Flaky, str], call: Callable[..., Any], method: str
) -> None:
    state, target = flaky
    state.plan[method] = [UNAVAILABLE, EXHAUSTED]
    consent = call(target, method)
    assert consent.state is ConsentState.ACTIVE
    assert state.calls[method] == 3


@pytest.mark.parametrize("call", CALLERS)
def test_unsafe_calls_are_not_retried(flaky: tuple[Flaky, str], call: Callable[..., Any]) -> None:
    state, target = flaky
    state.plan["PauseConsent"] = [UNAVAILABLE]
    with pytest.raises(errors.Unavailable) as raised:
        call(target, "PauseConsent")
    assert raised.value.reason == "OVERLOADED"
    assert state.calls["PauseConsent"] == 1


@pytest.mark.parametrize("call", CALLERS)
def test_deadline_per_attempt_read_retried_write_not(
    flaky: tuple[Flaky, str], call: Callable[..., Any]
) -> None:
    state, target = flaky
    state.plan["GetConsent"] = ["slow"]
    state.plan["ApproveConsentRequest"] = ["slow"]
    assert call(target, "GetConsent", timeout=0.2).state is ConsentState.ACTIVE
    assert state.calls["GetConsent"] == 2
    with pytest.raises(errors.DeadlineExceeded):
        call(target, "ApproveConsentRequest", timeout=0.2)
    assert state.calls["ApproveConsentRequest"] == 1


def test_channel_options_defaults_and_overrides() -> None:
    keys = [key for key, _ in DEFAULT_CHANNEL_OPTIONS]
    assert "grpc.keepalive_time_ms" in keys
    assert "grpc.max_receive_message_length" in keys
    merged = dict(channel_options([("grpc.keepalive_time_ms", 600_000), ("grpc.x", 1)]))
    assert merged["grpc.keepalive_time_ms"] == 600_000
    assert merged["grpc.x"] == 1
    assert len(channel_options([("grpc.keepalive_time_ms", 1)])) == len(DEFAULT_CHANNEL_OPTIONS)


def test_a_small_receive_limit_fails_without_retries(flaky: tuple[Flaky, str]) -> None:
    state, target = flaky
    options = [("grpc.max_receive_message_length", 4)]
    with (
        OwnerClient(target, token="t", insecure=True, options=options) as owner,
        pytest.raises(errors.ResourceExhausted),
    ):
        owner.get_consent("cs_1")
    assert state.calls["GetConsent"] == 1
