"""The retry policy (``sdk.retry``): which failures are retried, how long the SDK waits, and that
sync and async runners follow the same policy. Time is injected (fake sleep and monotonic)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from attestgate.protocol.reasons import Reason
from attestgate.sdk import errors
from attestgate.sdk.retry import (
    DEFAULT_RETRY,
    NO_RETRY,
    Idempotency,
    RetryPolicy,
    call_with_retry,
    call_with_retry_async,
    classify,
    exponential_backoff,
    is_retryable,
    retry_delay_hint,
)
from attestgate.v1 import attestation_pb2, consent_pb2, record_pb2

READ, WRITE, UNSAFE = Idempotency.READ, Idempotency.IDEMPOTENT_WRITE, Idempotency.UNSAFE


class FakeRpcError(grpc.RpcError):
    """What grpc raises for a failed blocking call: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, message: str, *details: Any) -> None:
        super().__init__(message)
        self._code, self._message = code, message
        status = status_pb2.Status(code=code.value[0], message=message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        self._metadata = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    # grpc's trailers are (key, value) namedtuples; types-grpcio 1.85 declares RpcError's as a
    # `_Metadatum` class that is no tuple (and cannot be built outside the stubs).
    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:  # type: ignore[override]
        return self._metadata


def sdk_error(code: grpc.StatusCode, *details: Any) -> errors.AttestgateError:
    """The SDK exception for a fake failure, raised ``from`` it as the SDK does."""
    cause = FakeRpcError(code, "failed", *details)
    error = errors.from_rpc_error(cause)
    error.__cause__ = cause
    return error


def error_info(reason: Reason) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason.value, domain="attestgate")


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromTimedelta(timedelta(seconds=seconds))
    return error_details_pb2.RetryInfo(retry_delay=delay)


# --- classification and predicate ----------------------------------------------------------------


def test_requests_are_classified_by_type_and_request_id() -> None:
    assert classify(consent_pb2.GetConsentRequest(name="consents/x")) is READ
    assert classify(consent_pb2.ListConsentsRequest()) is READ
    assert classify(attestation_pb2.GetIssuerKeysRequest()) is READ
    assert classify(record_pb2.PutRecordRequest(request_id="r-1")) is WRITE
    assert classify(consent_pb2.ApproveConsentRequestRequest(request_id="r-2")) is WRITE
    assert classify(record_pb2.PutRecordRequest()) is UNSAFE  # no request id: never resent
    assert classify(attestation_pb2.RedeemAttestationRequest(transaction_ref="t")) is UNSAFE
    assert classify(consent_pb2.PauseConsentRequest(name="consents/x")) is UNSAFE


@pytest.mark.parametrize(
    ("error", "read", "write"),
    [
        (sdk_error(grpc.StatusCode.UNAVAILABLE), True, True),
        (sdk_error(grpc.StatusCode.UNAVAILABLE, error_info(Reason.SHUTTING_DOWN)), True, True),
        (sdk_error(grpc.StatusCode.DEADLINE_EXCEEDED), True, False),
        (sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED, error_info(Reason.OVERLOADED)), True, True),
        (
            sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED, error_info(Reason.RATE_LIMITED)),
            True,
            True,
        ),
        (sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_info(1)), True, True),
        # A message over the size limit stays too large however often it is sent.
        (sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED), False, False),
        (
            sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED, error_info(Reason.MESSAGE_TOO_LARGE)),
            False,
            False,
        ),
        (sdk_error(grpc.StatusCode.INTERNAL), False, False),
        (sdk_error(grpc.StatusCode.NOT_FOUND, error_info(Reason.CONSENT_NOT_FOUND)), False, False),
        (
            sdk_error(
                grpc.StatusCode.FAILED_PRECONDITION,
                error_info(Reason.ATTESTATION_ALREADY_REDEEMED),
            ),
            False,
            False,
        ),
        (ValueError("local"), False, False),
    ],
)
def test_predicate(error: BaseException, read: bool, write: bool) -> None:
    assert is_retryable(error, READ) is read
    assert is_retryable(error, WRITE) is write
    assert is_retryable(error, UNSAFE) is False


def test_retry_info_is_read_from_the_cause() -> None:
    error = sdk_error(grpc.StatusCode.UNAVAILABLE, error_info(Reason.OVERLOADED), retry_info(2.5))
    assert retry_delay_hint(error) == 2.5
    assert retry_delay_hint(error.__cause__) == 2.5  # type: ignore[arg-type]
    assert retry_delay_hint(sdk_error(grpc.StatusCode.UNAVAILABLE)) is None
    assert retry_delay_hint(errors.Unavailable("no cause")) is None


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_ceilings_grow_and_cap() -> None:
    delays = exponential_backoff(0.1, 1.0, 2.0, jitter=lambda: 1.0)
    assert list(itertools.islice(delays, 6)) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_backoff_is_full_jitter() -> None:
    fractions = iter([0.0, 0.5, 0.25])
    delays = exponential_backoff(1.0, 10.0, 3.0, jitter=lambda: next(fractions))
    assert list(itertools.islice(delays, 3)) == pytest.approx([0.0, 1.5, 2.25])
    real = list(itertools.islice(exponential_backoff(0.1, 5.0, 2.0), 50))
    assert all(0 <= d < 5.0 for d in real)
    assert len(set(real)) > 1  # really random


@pytest.mark.parametrize(
    "changes", [{"max_attempts": 0}, {"initial_backoff": -1}, {"multiplier": 0.5}]
)
def test_policy_refuses_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**changes)


# --- the runners -------------------------------------------------------------------------------


class Script:
    """A call failing with ``failures`` (in order), then returning "ok"; counts attempts."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class FakeTime:
    """Injected sleep and monotonic clock: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def monotonic(self) -> float:
        return self.now


FIXED = RetryPolicy(jitter=lambda: 1.0)  # delays are the ceilings: 0.1, 0.2, 0.4, ...


def run_sync(script: Script, idempotency: Idempotency, policy: RetryPolicy = FIXED) -> FakeTime:
    clock = FakeTime()
    assert (
        call_with_retry(
            script,
            policy=policy,
            idempotency=idempotency,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        == "ok"
    )
    return clock


def run_async(script: Script, idempotency: Idempotency, policy: RetryPolicy = FIXED) -> FakeTime:
    clock = FakeTime()

    async def call() -> str:
        return script()

    result = asyncio.run(
        call_with_retry_async(
            call,
            policy=policy,
            idempotency=idempotency,
            sleep=clock.async_sleep,
            monotonic=clock.monotonic,
        )
    )
    assert result == "ok"
    return clock


RUNNERS: list[Callable[..., FakeTime]] = [run_sync, run_async]


@pytest.mark.parametrize("run", RUNNERS)
def test_transient_failures_are_retried_with_backoff(run: Callable[..., FakeTime]) -> None:
    script = Script(*[sdk_error(grpc.StatusCode.UNAVAILABLE) for _ in range(3)])
    clock = run(script, READ)
    assert script.attempts == 4
    assert clock.slept == pytest.approx([0.1, 0.2, 0.4])


@pytest.mark.parametrize("run", RUNNERS)
def test_retry_info_is_honoured(run: Callable[..., FakeTime]) -> None:
    script = Script(sdk_error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_info(1.5)))
    clock = run(script, WRITE)
    assert (script.attempts, clock.slept) == (2, [1.5])


@pytest.mark.parametrize("run", RUNNERS)
@pytest.mark.parametrize(
    ("failure", "idempotency"),
    [
        (grpc.StatusCode.UNAVAILABLE, UNSAFE),
        (grpc.StatusCode.DEADLINE_EXCEEDED, WRITE),
        (grpc.StatusCode.INTERNAL, READ),
    ],
)
def test_no_retry_when_unsafe_or_permanent(
    run: Callable[..., FakeTime], failure: grpc.StatusCode, idempotency: Idempotency
) -> None:
    script = Script(sdk_error(failure))
    with pytest.raises(errors.AttestgateError) as raised:
        run(script, idempotency)
    assert raised.value.code == failure.name
    assert script.attempts == 1


@pytest.mark.parametrize("run", RUNNERS)
def test_attempts_are_capped_and_the_last_error_raised(run: Callable[..., FakeTime]) -> None:
    failures = [sdk_error(grpc.StatusCode.UNAVAILABLE) for _ in range(10)]
    script = Script(*failures)
    with pytest.raises(errors.Unavailable) as raised:
        run(script, READ)
    assert script.attempts == DEFAULT_RETRY.max_attempts
    assert raised.value is failures[DEFAULT_RETRY.max_attempts - 1]


@pytest.mark.parametrize("run", RUNNERS)
def test_total_timeout_stops_retrying(run: Callable[..., FakeTime]) -> None:
    # The server asks for 20 s twice; the second wait would pass the 30 s budget.
    script = Script(*[sdk_error(grpc.StatusCode.UNAVAILABLE, retry_info(20)) for _ in range(3)])
    with pytest.raises(errors.Unavailable):
        run(script, READ)
    assert script.attempts == 2


@pytest.mark.parametrize("run", RUNNERS)
def test_no_retry_policy_calls_once(run: Callable[..., FakeTime]) -> None:
    script = Script(sdk_error(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(errors.Unavailable):
        run(script, READ, NO_RETRY)
    assert script.attempts == 1


def test_a_custom_predicate_decides() -> None:
    policy = RetryPolicy(retryable=lambda error, idem: isinstance(error, errors.NotFound))
    script = Script(errors.NotFound("eventually consistent"))
    assert run_sync(script, UNSAFE, policy).slept
    assert script.attempts == 2
