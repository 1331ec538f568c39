"""The gateway foundation against a real server on 127.0.0.1:0 (issue 2 "Tests")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from attestgate.gateway.common.auth import certificate_thumbprint
from attestgate.gateway.common.tls import issue_client_cert
from attestgate.gateway.transport.interceptors import current_principal
from attestgate.gateway.transport.server import SERVICE_NAMES, GatewayServicers
from attestgate.gateway.transport.services.unimplemented import UnimplementedConsentService
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason
from attestgate.sdk import errors
from attestgate.v1 import consent_pb2, consent_pb2_grpc
from tests.children import Child
from tests.integration.conftest import RunningGateway

REPO = Path(__file__).resolve().parents[2]


def error_info(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, list[Any]]:
    """(code, ErrorInfo reason, BadRequest violations) of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, "no rich status details"
    reason, violations = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "attestgate"
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = list(bad.field_violations)
    return error.code(), reason, violations


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- health, reflection, TLS --------------------------------------------------------------------


def test_health_is_serving_for_every_service(gateway: RunningGateway) -> None:
    with gateway.raw_channel() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", *SERVICE_NAMES):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_four_services(gateway: RunningGateway) -> None:
    with gateway.raw_channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in response.list_services_response.service}
    assert set(SERVICE_NAMES) <= names
    assert "grpc.health.v1.Health" in names
    assert set(SERVICE_NAMES) == {
        "attestgate.v1.ConsentService",
        "attestgate.v1.AttestationService",
        "attestgate.v1.RecordService",
        "attestgate.v1.AuditService",
    }


def test_plaintext_client_cannot_talk_to_the_tls_port(gateway: RunningGateway) -> None:
    with grpc.insecure_channel(gateway.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_client_trusting_another_ca_is_refused(
    gateway: RunningGateway, start_gateway: Callable[..., RunningGateway]
) -> None:
    other = start_gateway()  # its own dev CA
    credentials = grpc.ssl_channel_credentials(other.ca_file.read_bytes())
    with (
        grpc.secure_channel(gateway.target, credentials) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_unimplemented_method_answers_unimplemented_with_reason(gateway: RunningGateway) -> None:
    with gateway.raw_channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gateway.token('bank')}"),)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetConsent(consent_pb2.GetConsentRequest(), metadata=metadata, timeout=5)
    assert error_info(caught.value)[:2] == (grpc.StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED")


# --- the auth attack corpus ---------------------------------------------------------------------


def _claims(gw: RunningGateway, **changes: Any) -> dict[str, Any]:
    now = int(gw.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": gw.keyring.dev_issuer_name,
        "sub": "bank-1",
        "aud": gw.config.gateway_id,
        "role": "bank",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(gw: RunningGateway, **changes: Any) -> str:
    kid, key = gw.keyring.dev_issuer_key
    return jwt.encode(_claims(gw, **changes), key, algorithm="EdDSA", headers={"kid": kid})


def _alg_none(gw: RunningGateway) -> str:
    kid, _ = gw.keyring.dev_issuer_key
    return f"{b64({'alg': 'none', 'kid': kid})}.{b64(_claims(gw))}."


def _hs256_with_public_key(gw: RunningGateway) -> str:
    # RFC 8725 §2.1 key confusion: the issuer's *public* key used as an HMAC secret.
    kid, key = gw.keyring.dev_issuer_key
    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "kid": kid, "typ": "JWT"})
    payload = b64(_claims(gw))
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _unknown_kid(gw: RunningGateway) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return jwt.encode(_claims(gw), key, algorithm="EdDSA", headers={"kid": "not-a-known-kid"})


def _forged_with_known_kid(gw: RunningGateway) -> str:
    kid, _ = gw.keyring.dev_issuer_key
    key = ed25519.Ed25519PrivateKey.generate()
    return jwt.encode(_claims(gw), key, algorithm="EdDSA", headers={"kid": kid})


def _tampered_payload(gw: RunningGateway) -> str:
    header, _, signature = _signed(gw, role="owner").split(".")
    return f"{header}.{b64(_claims(gw, role='bank'))}.{signature}"


ATTACKS: dict[str, tuple[Callable[[RunningGateway], str | None], grpc.StatusCode, Reason]] = {
    "no token": (lambda gw: None, grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_MISSING),
    "malformed": (
        lambda gw: "not.a-jwt",
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_MALFORMED,
    ),
    "alg none": (_alg_none, grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_ALGORITHM_NOT_ALLOWED),
    "HS256 with the public key": (
        _hs256_with_public_key,
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_ALGORITHM_NOT_ALLOWED,
    ),
    "unknown kid": (_unknown_kid, grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_UNKNOWN_KEY),
    "forged with a known kid": (
        _forged_with_known_kid,
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_SIGNATURE_INVALID,
    ),
    "expired": (
        lambda gw: _signed(gw, exp=int(gw.clock.now().timestamp()) - 3600),
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_EXPIRED,
    ),
    "not yet valid": (
        lambda gw: _signed(gw, nbf=int(gw.clock.now().timestamp()) + 3600),
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_NOT_YET_VALID,
    ),
    "wrong iss": (
        lambda gw: _signed(gw, iss="https://evil.example"),
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_WRONG_ISSUER,
    ),
    "wrong aud": (
        lambda gw: _signed(gw, aud="another-gateway"),
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_WRONG_AUDIENCE,
    ),
    "no role": (
        lambda gw: _signed(gw, role=None),
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_CLAIMS_INVALID,
    ),
    "wrong role": (
        lambda gw: _signed(gw, role="owner"),
        grpc.StatusCode.PERMISSION_DENIED,
        Reason.ROLE_NOT_ALLOWED,
    ),
    "tampered payload": (
        _tampered_payload,
        grpc.StatusCode.UNAUTHENTICATED,
        Reason.TOKEN_SIGNATURE_INVALID,
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_auth_attack_is_rejected(gateway: RunningGateway, attack: str) -> None:
    make_token, code, reason = ATTACKS[attack]
    token = make_token(gateway)
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    with gateway.raw_channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        request = consent_pb2.CreateConsentRequestRequest()
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateConsentRequest(request, metadata=metadata, timeout=5)
    assert error_info(caught.value)[:2] == (code, reason.value)


def test_valid_token_passes_the_same_method(gateway: RunningGateway) -> None:
    # The control case for the corpus: same method, good token -> past auth (UNIMPLEMENTED).
    with gateway.raw_channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {_signed(gateway)}"),)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateConsentRequest(
                consent_pb2.CreateConsentRequestRequest(), metadata=metadata, timeout=5
            )
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_sdk_channel_maps_refusals_to_sdk_errors(gateway: RunningGateway) -> None:
    with gateway.sdk_channel(token=_signed(gateway, role="owner")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        with pytest.raises(errors.PermissionDenied) as caught:
            stub.CreateConsentRequest(consent_pb2.CreateConsentRequestRequest(), timeout=5)
    assert caught.value.reason == Reason.ROLE_NOT_ALLOWED
    with gateway.sdk_channel(token=None) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        with pytest.raises(errors.AuthenticationError) as auth_caught:
            stub.GetConsent(consent_pb2.GetConsentRequest(), timeout=5)
    assert auth_caught.value.reason == Reason.TOKEN_MISSING


# --- servicers raising, principal, error mapping over the wire ----------------------------------


class ProbeConsentService(UnimplementedConsentService):
    """Test servicer: echoes the principal, refuses, crashes, streams, or blocks on demand."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def GetConsent(self, request: Any, context: Any) -> Any:
        if request.name == "consents/slow":
            self.entered.set()
            self.release.wait(10)
            return consent_pb2.Consent(name="consents/slow")
        if request.name == "consents/bad":
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                "name: must look like consents/{id}",
                violations=[FieldViolation("name", "must look like consents/{id}")],
            )
        if request.name == "consents/crash":
            raise RuntimeError("secret-internal-detail 4111111111111111")
        principal = current_principal()
        return consent_pb2.Consent(name=request.name, owner=principal.subject)

    def WatchConsentEvents(self, request: Any, context: Any) -> Iterator[Any]:
        yield consent_pb2.ConsentEvent()
        raise DomainError(Reason.CONSENT_REVOKED, "consent was revoked")


@pytest.fixture
def probe() -> ProbeConsentService:
    # The generated stub declares every method abstract; the rest are filled in at import time.
    return ProbeConsentService()  # type: ignore[abstract]


@pytest.fixture
def probed(
    start_gateway: Callable[..., RunningGateway], probe: ProbeConsentService
) -> RunningGateway:
    return start_gateway(servicers=GatewayServicers(consent=probe))


def _get(gw: RunningGateway, name: str, role: str = "bank") -> Any:
    with gw.raw_channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gw.token(role, sub='bank-7')}"),)
        return stub.GetConsent(consent_pb2.GetConsentRequest(name=name), metadata=metadata)


def test_servicer_sees_the_principal(probed: RunningGateway) -> None:
    assert _get(probed, "consents/1").owner == "bank-7"


def test_domain_error_becomes_status_with_bad_request(probed: RunningGateway) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _get(probed, "consents/bad")
    code, reason, violations = error_info(caught.value)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert [(v.field, v.description) for v in violations] == [
        ("name", "must look like consents/{id}")
    ]


def test_unexpected_error_is_internal_without_details(
    probed: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _get(probed, "consents/crash")
    error = caught.value
    assert error_info(error)[:2] == (grpc.StatusCode.INTERNAL, "INTERNAL")
    message = error.details() or ""
    assert message.startswith("internal error (correlation id ")
    everything = repr(message) + repr(error.trailing_metadata())
    assert "secret-internal-detail" not in everything
    assert "4111111111111111" not in everything
    correlation_id = message.rsplit(" ", 1)[1].rstrip(")")
    logged = [r for r in caplog.records if getattr(r, "correlation_id", None) == correlation_id]
    assert logged
    assert logged[0].exc_info is not None


def test_stream_error_after_first_message(probed: RunningGateway) -> None:
    with probed.sdk_channel(token=probed.token("bank")) as channel:
        stream = consent_pb2_grpc.ConsentServiceStub(channel).WatchConsentEvents(
            consent_pb2.WatchConsentEventsRequest(), timeout=5
        )
        assert next(stream) == consent_pb2.ConsentEvent()
        with pytest.raises(errors.ConsentRevoked):
            next(stream)


def test_access_log_names_no_token_and_no_subject(
    probed: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="attestgate.access")
    token = probed.token("bank", sub="bank-7")
    with probed.raw_channel() as channel:
        consent_pb2_grpc.ConsentServiceStub(channel).GetConsent(
            consent_pb2.GetConsentRequest(name="consents/1"),
            metadata=(("authorization", f"Bearer {token}"),),
        )
    (line,) = [r for r in caplog.records if r.name == "attestgate.access"]
    assert (line.method, line.code, line.role) == (  # type: ignore[attr-defined]
        "/attestgate.v1.ConsentService/GetConsent",
        "OK",
        "bank",
    )
    text = repr(line.__dict__)
    assert token not in text
    assert "bank-7" not in text


# --- graceful shutdown --------------------------------------------------------------------------


def test_stop_lets_an_in_flight_call_finish(
    probed: RunningGateway, probe: ProbeConsentService
) -> None:
    results: list[Any] = []
    caller = threading.Thread(target=lambda: results.append(_get(probed, "consents/slow")))
    caller.start()
    assert probe.entered.wait(5)
    with probed.raw_channel() as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stopper = threading.Thread(target=probed.gateway.stop, args=(5,))
        stopper.start()
        # Health goes NOT_SERVING first, while the slow call is still running.
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # an open Watch would hold the server for the whole grace period
        assert stopper.is_alive()
        probe.release.set()
        stopper.join(10)
        caller.join(10)
    assert not stopper.is_alive()
    assert [r.name for r in results] == ["consents/slow"]
    assert probed.gateway.wait(0)


# --- the command line as a process --------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "attestgate.gateway.ops.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'proto'}"}


def test_serve_refuses_insecure_on_a_public_address(tmp_path: Path) -> None:
    done = subprocess.run(
        _cli("serve", "--data-dir", str(tmp_path / "d"), "--insecure", "--listen", "0.0.0.0:0"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "refusing --insecure on 0.0.0.0:0" in done.stderr
    assert "listening on" not in done.stdout


def test_serve_prints_listening_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    serve = _cli("serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0")
    with Child(serve, env=_env()) as child:
        lines: list[str] = []
        while not (lines and lines[-1].startswith("listening on ")):
            line = child.readline(timeout=30)  # a hang fails with serve's stacks
            assert line is not None, f"no 'listening on' line; got {lines}"
            lines.append(line.rstrip("\n"))
        host, port = lines[-1].removeprefix("listening on ").rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0
        assert any(str(data_dir / "tls" / "ca.pem") in line for line in lines)
        assert (data_dir.stat().st_mode & 0o777) == 0o700
        credentials = grpc.ssl_channel_credentials((data_dir / "tls" / "ca.pem").read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        child.process.send_signal(signal.SIGTERM)
        assert child.process.wait(timeout=20) == 0


def test_token_command_output_is_accepted_by_the_gateway(
    tmp_path: Path, start_gateway: Callable[..., RunningGateway]
) -> None:
    gw = start_gateway()
    done = subprocess.run(
        _cli("token", "--data-dir", str(gw.config.data_dir), "--role", "bank", "--sub", "b-1"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=True,
    )
    token = done.stdout.strip()
    # The CLI mints with the wall clock; move the gateway's fixed clock into the token's window.
    issued_at = jwt.decode(token, options={"verify_signature": False})["iat"]
    gw.clock.set(datetime.fromtimestamp(issued_at, UTC) + timedelta(seconds=1))
    with gw.sdk_channel(token=token) as channel, pytest.raises(errors.Unimplemented):
        consent_pb2_grpc.ConsentServiceStub(channel).GetConsent(
            consent_pb2.GetConsentRequest(), timeout=5
        )


# --- mutual TLS and certificate-bound tokens (RFC 8705) -----------------------------------------


def _mtls_channel(gw: RunningGateway, cert_pem: bytes | None, key_pem: bytes | None) -> Any:
    credentials = grpc.ssl_channel_credentials(
        gw.ca_file.read_bytes(), private_key=key_pem, certificate_chain=cert_pem
    )
    return grpc.secure_channel(gw.target, credentials)


def test_certificate_bound_token_only_over_its_certificate(
    start_gateway: Callable[..., RunningGateway],
) -> None:
    gw = start_gateway(tls_client_auth=True)
    now = gw.clock.now()
    mine = issue_client_cert(gw.config.tls_dir, common_name="bank-1", now=now)
    other = issue_client_cert(gw.config.tls_dir, common_name="bank-2", now=now)
    der = x509.load_pem_x509_certificate(mine[0]).public_bytes(serialization.Encoding.DER)
    token = gw.token("bank", cnf={"x5t#S256": certificate_thumbprint(der)})
    metadata = (("authorization", f"Bearer {token}"),)
    request = consent_pb2.GetConsentRequest()

    def call(cert: tuple[bytes, bytes] | None) -> tuple[grpc.StatusCode, str]:
        with _mtls_channel(gw, *(cert or (None, None))) as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetConsent(request, metadata=metadata, timeout=5)
        if caught.value.code() == grpc.StatusCode.UNAVAILABLE:
            return grpc.StatusCode.UNAVAILABLE, ""
        return error_info(caught.value)[:2]

    assert call(mine) == (grpc.StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED")  # accepted
    assert call(other) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_CERTIFICATE_MISMATCH")
    assert call(None) == (grpc.StatusCode.UNAVAILABLE, "")  # no client certificate: no handshake
