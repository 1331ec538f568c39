"""Malformed cursors, page tokens and token claims (issue 14, section 4, "INTERNAL on malformed
input"). Each shape used to end in INTERNAL (gRPC) or a bare 500 without the security headers
(portal): Unicode digits that ``str.isdigit`` accepts and ``int`` refuses (``"²"``), integers past
the database's 64-bit range, a lone surrogate in a bearer token's ``sub``. Now each is refused as
bad input with its ErrorInfo reason (the portal: 400 with its usual headers), and changes nothing,
not even the audit log. One parser for every numeric cursor:
``gateway.common.cursors.parse_cursor``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import jwt
import pytest

from attestgate.gateway.common.addresses import parse_listen
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.config import ConfigError
from attestgate.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc
from tests.integration import live
from tests.integration.live import LiveGateway
from tests.integration.test_foundation import error_info
from tests.security.portal import SECURITY_HEADERS, PortalClient
from tests.security.world import World, build

BAD_NUMBERS = ("²", "١٢", "9999999999999999999", "9" * 23, "-1", "1e3", " 1")
"""Unicode digits (superscript two, Arabic-Indic), past 2**63 - 1, not digits at all."""


def page_token(position: str) -> str:
    """A page token as the server makes them (``wire.encode_page_token``) around ``position``."""
    return base64.urlsafe_b64encode(b"v1:" + position.encode()).decode().rstrip("=")


@pytest.fixture
def portal_world(tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    """The attack world with the portal on (HTTPS)."""
    gw = live.start_live(tmp_path / "gw", clock, portal="127.0.0.1:0")
    try:
        yield build(gw)
    finally:
        gw.close()


def _refusal(world: World, call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    before, size = world.snapshot(), world.log_size()
    with pytest.raises(grpc.RpcError) as caught:
        call()
    code, reason, _ = error_info(caught.value)
    assert world.snapshot() == before
    assert world.log_size() == size  # bad input is not even audited
    return code, reason


PAGED = {
    "ListEntries": (audit_pb2_grpc.AuditServiceStub, audit_pb2.ListEntriesRequest, "regulator"),
    "ListActivity": (consent_pb2_grpc.ConsentServiceStub, consent_pb2.ListActivityRequest, "owner"),
}


@pytest.mark.parametrize("method", sorted(PAGED))
@pytest.mark.parametrize("position", BAD_NUMBERS)
def test_page_tokens(world: World, method: str, position: str) -> None:
    stub_type, request_type, role = PAGED[method]
    with world.channel() as channel:
        call = getattr(stub_type(channel), method)
        request = request_type(page_token=page_token(position))
        metadata = world.metadata(role, "alice" if role == "owner" else "csrc")
        refused = _refusal(world, lambda: call(request, metadata=metadata, timeout=5))
    assert refused == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


@pytest.mark.parametrize("cursor", BAD_NUMBERS)
def test_watch_consent_events_cursors(world: World, cursor: str) -> None:
    with world.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        request = consent_pb2.WatchConsentEventsRequest(cursor=cursor)
        metadata = world.metadata("bank", "bank-a")
        refused = _refusal(
            world, lambda: next(stub.WatchConsentEvents(request, metadata=metadata, timeout=5))
        )
    assert refused == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


def test_the_largest_cursor_is_still_accepted(world: World) -> None:
    """The control: 2**63 - 1 is a cursor (nothing after it), one more is not."""
    with world.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        request = consent_pb2.WatchConsentEventsRequest(cursor=str(2**63 - 1))
        stream = stub.WatchConsentEvents(
            request, metadata=world.metadata("bank", "bank-a"), timeout=0.5
        )
        with pytest.raises(grpc.RpcError) as caught:
            next(stream)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # waiting, not refused


def _token_with_sub(world: World, sub: str) -> str:
    now = int(world.gw.clock.now().timestamp())
    kid, key = world.gw.parts.keyring.dev_issuer_key
    claims = {"iss": world.gw.parts.keyring.dev_issuer_name, "sub": sub, "aud": "attestgate",
              "role": "owner", "iat": now, "exp": now + 600}  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


@pytest.mark.parametrize("sub", ["\ud800", "alice\udfff", "\udc00\ud800"])
def test_a_lone_surrogate_in_the_token_subject(world: World, sub: str) -> None:
    token = _token_with_sub(world, sub)
    assert "\\ud" in base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()  # as sent
    with world.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        refused = _refusal(
            world,
            lambda: stub.ListActivity(consent_pb2.ListActivityRequest(), metadata=metadata),
        )
    assert refused == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_CLAIMS_INVALID")


# --- the portal ----------------------------------------------------------------------------------


def _signed_in(gw: LiveGateway, role: str, sub: str) -> PortalClient:
    client = PortalClient(gw)
    assert client.sign_in(gw.token(role, sub)).status == 303
    return client


def _assert_bad_request(reply: Any) -> None:
    assert reply.status == 400, reply.body
    for header in SECURITY_HEADERS:
        assert reply.headers[header], header
    assert reply.headers["cache-control"] == "no-store"
    assert "INVALID_ARGUMENT" in reply.body


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_portal_event_indices(portal_world: World, number: str) -> None:
    regulator = _signed_in(portal_world.gw, "regulator", "csrc")
    size = portal_world.log_size()
    quoted = quote(number)
    for path in (f"/regulator/events/{quoted}", f"/regulator/events/{quoted}/receipt"):
        _assert_bad_request(regulator.request("GET", path))
    _assert_bad_request(regulator.request("GET", f"/regulator/events?before={quoted}"))
    owner = _signed_in(portal_world.gw, "owner", "alice")
    _assert_bad_request(owner.request("GET", f"/owner/activity?after={quoted}"))
    assert portal_world.log_size() == size


def test_portal_unknown_event_is_still_404(portal_world: World) -> None:
    """The control: a well-formed index past the log's end is not found, not bad input."""
    regulator = _signed_in(portal_world.gw, "regulator", "csrc")
    deadline = time.monotonic() + 5
    reply = regulator.request("GET", f"/regulator/events/{2**63 - 1}")
    while reply.status == 503 and time.monotonic() < deadline:  # no checkpoint yet
        reply = regulator.request("GET", f"/regulator/events/{2**63 - 1}")
    assert reply.status == 404, reply.body


def test_an_unexpected_portal_error_still_carries_the_security_headers(
    portal_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last resort: a bug (here: a failing event listing) is a bare 500 with the headers,
    no traceback in the page."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("attestgate.gateway.portal.regulator.list_events", broken)
    reply = _signed_in(portal_world.gw, "regulator", "csrc").request("GET", "/regulator/events")
    assert reply.status == 500
    for header in SECURITY_HEADERS:
        assert reply.headers[header], header
    assert "secret detail" not in reply.body


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:²", "127.0.0.1:\u0665\u0660\u0660\u0665\u0661", "127.0.0.1:99999"]
)
def test_a_listen_port_of_unicode_digits_is_a_config_error(listen: str) -> None:
    with pytest.raises(ConfigError, match="must look like HOST:PORT"):
        parse_listen(listen)
