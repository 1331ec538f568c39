"""A certificate-bound owner token (RFC 8705 ``cnf.x5t#S256``) in the portal (issue 14, section 4,
"Portal ignores certificate binding"). The gRPC port refuses such a token without its certificate;
the portal did not, so a stolen bound token could approve and revoke there. Now the portal checks
the binding against the client certificate of the HTTPS connection, at sign-in and on every
request, with the same check as the gRPC port (``gateway.common.auth.check_certificate_binding``); a
portal that does not ask for client certificates refuses bound tokens, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attestgate.gateway.common.auth import certificate_thumbprint, issue_dev_token
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.tls import TlsFiles, issue_client_cert
from attestgate.sdk import BankClient, TlsConfig
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.security.portal import PortalClient


def _client_cert(gw: LiveGateway, name: str, folder: Path) -> tuple[Path, Path]:
    cert_pem, key_pem = issue_client_cert(gw.config.tls_dir, common_name=name, now=gw.clock.now())
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    key.chmod(0o600)
    return cert, key


def _bound_token(gw: LiveGateway, role: str, sub: str, cert: Path) -> str:
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    return issue_dev_token(
        gw.parts.keyring,
        role=role,
        sub=sub,
        ttl=timedelta(hours=1),
        now=gw.clock.now(),
        audience=gw.config.gateway_id,
        extra_claims={"cnf": {"x5t#S256": certificate_thumbprint(der)}},
    )


@pytest.fixture
def mtls(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[LiveGateway, dict[str, Any]]]:
    """A gateway with mutual TLS and its portal; alice's certificate, another one, and a pending
    consent request of bank-a to alice."""
    gw = live.start_live(tmp_path / "gw", clock, portal="127.0.0.1:0", tls_client_auth=True)
    try:
        certs = {name: _client_cert(gw, name, tmp_path) for name in ("alice", "mallory", "bank")}
        tls = TlsConfig(
            ca_file=TlsFiles.in_dir(gw.config.tls_dir).ca_cert,
            cert_file=certs["bank"][0],
            key_file=certs["bank"][1],
        )
        bank = BankClient(gw.target, token=gw.token("bank", "bank-a"), tls=tls, clock=clock.now)
        gw.clients.append(bank)
        request = bank.request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
        yield gw, {"certs": certs, "request": request.id}
    finally:
        gw.close()


def _pending(gw: LiveGateway, request_id: str) -> bool:
    conn = gw.parts.storage.read()
    (state,) = conn.execute(
        "SELECT state FROM consent_requests WHERE id = ?", (request_id,)
    ).fetchone()
    return bool(state == "PENDING")


def test_a_bound_token_without_its_certificate_cannot_sign_in_or_approve(
    mtls: tuple[LiveGateway, dict[str, Any]],
) -> None:
    gw, world = mtls
    token = _bound_token(gw, "owner", "alice", world["certs"]["alice"][0])
    for cert in (None, world["certs"]["mallory"]):  # no certificate; somebody else's
        thief = PortalClient(gw, cert=cert)
        refused = thief.sign_in(token)
        assert refused.status == 401
        assert "bound to a client certificate" in refused.body
        assert thief.request("GET", "/owner/requests").headers["location"] == "/login"
        approve = thief.post(f"/owner/requests/{world['request']}/approve", {"claim": "tax_year"})
        assert approve.status == 303
        assert approve.headers["location"] == "/login"
    assert _pending(gw, world["request"])


def test_a_bound_token_over_its_certificate_signs_in_and_approves(
    mtls: tuple[LiveGateway, dict[str, Any]],
) -> None:
    """The control: the refusals above are the binding's doing."""
    gw, world = mtls
    alice = PortalClient(gw, cert=world["certs"]["alice"])
    token = _bound_token(gw, "owner", "alice", world["certs"]["alice"][0])
    signed_in = alice.sign_in(token)
    assert signed_in.status == 303, signed_in.body
    assert signed_in.headers["location"] == "/owner/requests"
    assert world["request"] in alice.request("GET", "/owner/requests").body
    done = alice.post(f"/owner/requests/{world['request']}/approve", {"claim": "tax_year"})
    assert done.status == 303
    assert not _pending(gw, world["request"])


def test_a_stolen_session_of_a_bound_token_is_useless_without_the_certificate(
    mtls: tuple[LiveGateway, dict[str, Any]],
) -> None:
    gw, world = mtls
    alice = PortalClient(gw, cert=world["certs"]["alice"])
    assert (
        alice.sign_in(_bound_token(gw, "owner", "alice", world["certs"]["alice"][0])).status == 303
    )
    csrf = alice.csrf("/owner/requests")
    thief = PortalClient(gw, cookies=dict(alice.cookies))  # the cookie, not the certificate
    approve = thief.request(
        "POST", f"/owner/requests/{world['request']}/approve", {"csrf": csrf, "claim": "tax_year"}
    )
    assert approve.headers["location"] == "/login"
    assert _pending(gw, world["request"])
    assert thief.request("GET", "/owner/requests").headers["location"] == "/login"


def test_unbound_tokens_still_sign_in_without_a_certificate(
    mtls: tuple[LiveGateway, dict[str, Any]],
) -> None:
    """Asking for a client certificate is optional: people without one keep using the portal."""
    gw, _ = mtls
    owner = PortalClient(gw)
    assert owner.sign_in(gw.token("owner", "alice")).status == 303
    assert owner.request("GET", "/owner/requests").status == 200


def test_a_portal_without_client_certificates_refuses_bound_tokens_saying_why(
    tmp_path: Path, clock: FixedClock
) -> None:
    gw = live.start_live(tmp_path / "gw", clock, portal="127.0.0.1:0")
    try:
        cert = _client_cert(gw, "alice", tmp_path)
        owner = PortalClient(gw, cert=cert)  # even with the certificate: nobody asks for it
        refused = owner.sign_in(_bound_token(gw, "owner", "alice", cert[0]))
        assert refused.status == 401
        assert "does not ask for client certificates" in refused.body
        assert "tls_client_auth" in refused.body
        assert owner.request("GET", "/owner/requests").headers["location"] == "/login"
        assert PortalClient(gw).sign_in(gw.token("owner", "alice")).status == 303
    finally:
        gw.close()
