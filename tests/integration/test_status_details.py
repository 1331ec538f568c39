"""The SDK reads the rich statuses a real gateway sends (``attestgate.sdk._internal.status``, no
grpcio-status) exactly as grpcio-status and googleapis-common-protos read them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from attestgate.gateway.common.clock import FixedClock
from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from attestgate.sdk._internal.status import ErrorInfo, StatusDetails, status_details
from attestgate.sdk.retry import retry_delay_hint
from attestgate.v1 import consent_pb2, consent_pb2_grpc
from tests.integration import live


@pytest.fixture
def gw(tmp_path: Path, clock: FixedClock) -> Iterator[live.LiveGateway]:
    gateway = live.start_live(tmp_path, clock, rate_limit_per_second=0.001, rate_limit_burst=2)
    yield gateway
    gateway.close()


def _reference(error: grpc.RpcError) -> StatusDetails:
    """What grpcio-status and the googleapis messages read from ``error``."""
    status = rpc_status.from_call(error)
    assert status is not None
    infos: list[Any] = []
    violations: list[Any] = []
    delays: list[Any] = []
    for detail in status.details:
        for kind, found in (
            (error_details_pb2.ErrorInfo, infos),
            (error_details_pb2.BadRequest, violations),
            (error_details_pb2.RetryInfo, delays),
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
    return StatusDetails(
        tuple(ErrorInfo(i.reason, i.domain, dict(i.metadata)) for i in infos),
        tuple((v.field, v.description) for b in violations for v in b.field_violations),
        tuple(r.retry_delay.ToTimedelta().total_seconds() for r in delays),
    )


def _refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_the_sdk_reads_what_the_gateway_sends(gw: live.LiveGateway) -> None:
    ca = gw.tls.ca_file
    assert ca is not None
    with grpc.secure_channel(gw.target, grpc.ssl_channel_credentials(ca.read_bytes())) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gw.token('bank', 'bank-1')}"),)
        bad = consent_pb2.CreateConsentRequestRequest(request_id="not an id!")
        refusals = [
            _refusal(lambda: stub.CreateConsentRequest(bad, metadata=metadata, timeout=5))
            for _ in range(3)  # the burst is 2: the third is rate limited
        ]
    invalid, _, limited = (status_details(error) for error in refusals)
    assert [error.code() for error in refusals] == [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ]
    assert invalid.field_violations
    assert invalid.error_infos[0].domain == "attestgate"
    assert limited.error_infos[0].reason == Reason.RATE_LIMITED.value
    assert limited.error_infos[0].metadata["retry_after_ms"]
    assert limited.retry_delays
    assert limited.retry_delays[0] > 0
    assert [status_details(e) for e in refusals] == [_reference(e) for e in refusals]
    mapped = errors.from_rpc_error(refusals[2])
    assert isinstance(mapped, errors.ResourceExhausted)
    assert mapped.reason is Reason.RATE_LIMITED
    assert retry_delay_hint(refusals[2]) == limited.retry_delays[0]
    assert errors.from_rpc_error(refusals[0]).violations
