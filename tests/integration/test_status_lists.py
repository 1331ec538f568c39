"""Issue 17: Token Status List over a real gateway (SQLite and PostgreSQL).

Every attestation carries ``status.status_list {idx, uri}``; the list served at ``uri`` over the
public HTTPS face is a Status List Token signed with a key of the issuer metadata; each
attestation and consent event moves the entry (redemption, revocation, erasure, the consent's
expiry: INVALID; pause: SUSPENDED; resume: VALID again), each move is an
``attestation.status_changed`` event committed with its cause, and the SDK reads it back.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.testing import start_local_gateway
from attestgate.protocol.jose import Jwks, json_object, parse_compact_jws
from attestgate.protocol.status_list import (
    Status,
    StatusListToken,
    StatusReference,
    parse_reference,
    verify_status_list_token,
)
from attestgate.sdk import Attestation, errors
from tests.conformance.conftest import pg_server, pg_url
from tests.integration import live
from tests.integration.conftest import TEST_CONFIG
from tests.security.world import World, build

__all__ = ["pg_server", "pg_url"]  # fixtures: skip (or fail in CI) without a server

STATUS_CHANGED = "attestation.status_changed"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    gw = live.start_on(request.param, pg, tmp_path / "gw", clock)
    try:
        yield build(gw)
    finally:
        gw.close()


def reference(attestation: Attestation) -> StatusReference:
    payload = json_object(parse_compact_jws(attestation.token.split("~")[0]).payload, max_depth=8)
    return parse_reference(payload["status"])


def fetch(world: World, url: str) -> tuple[str, str]:
    context = ssl.create_default_context(cafile=str(world.gw.ca_file))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return response.headers.get_content_type(), response.read().decode("ascii")


def published_list(world: World, ref: StatusReference) -> StatusListToken:
    """Publish now, then fetch and verify the list as a relying party: a key of the issuer
    metadata, typ, sub, iss, exp."""
    publisher = world.gw.gateway.status_lists
    assert publisher is not None
    publisher.publish()
    issuer = world.gw.issuer
    host, path = issuer.split("://", 1)[1].partition("/")[::2]
    _, metadata = fetch(
        world, f"https://{host}/.well-known/jwt-vc-issuer{'/' + path if path else ''}"
    )
    jwks = Jwks.from_dict(json.loads(metadata)["jwks"])
    media_type, token = fetch(world, ref.uri)
    assert media_type == "application/statuslist+jwt"
    now = int(world.gw.clock.now().timestamp())
    return verify_status_list_token(token, jwks.get, uri=ref.uri, now=now, iss=issuer)


def status_of(world: World, attestation: Attestation) -> Status | int:
    ref = reference(attestation)
    return published_list(world, ref).status(ref.idx)


def changes(world: World, since: int) -> list[tuple[str, str, str]]:
    """(jti, status, cause) of every status change logged at or after ``since``."""
    return [
        (e["objects"]["attestation_jti"], e["objects"]["status"], e["objects"]["cause"])
        for e in world.events_since(since)
        if e["type"] == STATUS_CHANGED
    ]


def consent_for(world: World, max_uses: int, **kwargs: Any) -> str:
    """A consent of example-co for bank-a over its registry record (a purpose of many uses)."""
    world.gw.provider("samr").put_record(
        domain="business_registration",
        subject="example-co",
        record_id="91440300MA5XXXXXX1",
        fields=live.BUSINESS_FIELDS,
    )
    request = world.bank.request_consent(
        owner="example-co",
        domain="business_registration",
        purpose="counterparty_check",
        claims=["in_good_standing"],
        max_uses=max_uses,
        **kwargs,
    )
    return world.gw.owner("example-co").approve(request.id).id


def test_every_attestation_holds_a_random_valid_entry_of_a_large_list(world: World) -> None:
    attestations = [world.issue() for _ in range(4)]
    refs = [reference(a) for a in attestations]
    issuer = world.gw.issuer
    assert {r.uri for r in refs} == {f"{issuer}/status-lists/1"}
    assert len({r.idx for r in refs}) == len(refs)  # never reused
    token = published_list(world, refs[0])
    assert token.sub == refs[0].uri
    assert token.ttl == int(world.gw.config.status_list_interval.total_seconds())
    assert token.exp is not None
    assert token.exp > token.iat
    assert token.status_list.size == world.gw.config.status_list_size == 1 << 17
    assert all(0 <= r.idx < token.status_list.size for r in refs)
    assert {token.status(r.idx) for r in refs} == {Status.VALID}
    assert max(r.idx for r in refs) - min(r.idx for r in refs) > 16  # drawn, not counted up


def test_redemption_invalidates_in_the_same_unit_of_work(world: World) -> None:
    attestation = world.issue()
    size = world.log_size()
    world.bank.redeem(attestation, transaction_ref="fx-1")
    assert status_of(world, attestation) is Status.INVALID
    events = world.events_since(size)
    assert [e["type"] for e in events] == ["attestation.redeemed", STATUS_CHANGED]
    assert changes(world, size) == [(attestation.jti, "INVALID", "attestation.redeemed")]
    assert events[1]["time"] == events[0]["time"]


def test_pause_suspends_resume_restores_and_revoke_invalidates(world: World) -> None:
    consent_id = consent_for(world, max_uses=3)
    kept = world.bank.issue(consent_id)
    used = world.bank.issue(consent_id)
    world.bank.redeem(used, transaction_ref="fx-used")
    owner = world.gw.owner("example-co")
    size = world.log_size()
    owner.pause(consent_id)
    assert (status_of(world, kept), status_of(world, used)) == (Status.SUSPENDED, Status.INVALID)
    owner.resume(consent_id)
    assert status_of(world, kept) is Status.VALID
    owner.pause(consent_id)
    owner.revoke(consent_id)
    assert status_of(world, kept) is Status.INVALID
    assert changes(world, size) == [
        (kept.jti, "SUSPENDED", "consent.paused"),
        (kept.jti, "VALID", "consent.resumed"),
        (kept.jti, "SUSPENDED", "consent.paused"),
        (kept.jti, "INVALID", "consent.revoked"),
    ]


def test_erasure_invalidates_the_owners_attestations(world: World) -> None:
    attestation = world.issue()
    size = world.log_size()
    world.gw.provider("tax-bureau").erase_subject("alice")
    assert status_of(world, attestation) is Status.INVALID
    assert changes(world, size) == [(attestation.jti, "INVALID", "record.erased")]
    events = [e["type"] for e in world.events_since(size)]
    assert events.index("record.erased") < events.index(STATUS_CHANGED)


def test_a_transfer_invalidates_the_previous_holders_attestations(world: World) -> None:
    receipt, other = live.WAREHOUSE_FIELDS["receipt_id"], "WR-2026-0002"
    warehouse = world.gw.provider("warehouse-1")
    for record_id in (receipt, other):
        fields = {**live.WAREHOUSE_FIELDS, "receipt_id": record_id}
        warehouse.put_record(
            domain="warehouse_receipt", subject="acme", record_id=record_id, fields=fields
        )
    held = {}
    for record_id in (receipt, other):
        request = world.bank.request_consent(
            owner="acme", domain="warehouse_receipt", purpose="pledge_financing",
            claims=["unencumbered"], record_id=record_id,
        )  # fmt: skip
        held[record_id] = world.bank.issue(world.gw.owner("acme").approve(request.id).id)
    size = world.log_size()
    sold = {**live.WAREHOUSE_FIELDS, "holder": "beta"}
    warehouse.put_record(domain="warehouse_receipt", subject="beta", record_id=receipt, fields=sold)
    assert status_of(world, held[receipt]) is Status.INVALID  # it can no longer be redeemed
    assert status_of(world, held[other]) is Status.VALID  # acme still holds that one
    assert changes(world, size) == [(held[receipt].jti, "INVALID", "record.transferred")]
    events = world.events_since(size)
    assert [e["type"] for e in events] == ["record.transferred", STATUS_CHANGED]
    assert events[1]["subject"] != events[0]["subject"]  # acme's entry, beta's transfer
    with pytest.raises(errors.FailedPrecondition):
        world.bank.redeem(held[receipt], transaction_ref="loan-after-sale")


def test_the_consents_expiry_invalidates_at_the_next_publication(world: World) -> None:
    consent_id = consent_for(world, max_uses=2, valid_for=timedelta(days=1))
    attestation = world.bank.issue(consent_id)
    size = world.log_size()
    assert status_of(world, attestation) is Status.VALID
    world.gw.clock.advance(timedelta(days=1, seconds=1))
    assert status_of(world, attestation) is Status.INVALID
    assert changes(world, size) == [(attestation.jti, "INVALID", "consent.expired")]


def test_the_sdk_reads_the_status_and_verify_checks_it(world: World) -> None:
    attestation = world.issue()
    publisher = world.gw.gateway.status_lists
    assert publisher is not None
    publisher.publish()
    found = world.bank.status(attestation)
    assert (found.status, found.iat) == (Status.VALID, world.gw.clock.now().replace(microsecond=0))
    assert world.bank.verify(attestation.token) == {"tax_year": 2025, "covers_amount": True}
    world.bank.redeem(attestation, transaction_ref="fx-sdk")
    publisher.publish()
    fresh = world.gw.bank("bank-b")
    assert fresh.status(attestation).status is Status.INVALID
    with pytest.raises(errors.InvalidAttestation, match="INVALID"):
        fresh.verify(attestation.token)
    assert fresh.verify(attestation.token, check_status=False)
    assert world.bank.status(attestation, offline=True).status is Status.VALID  # its cached list


@pytest.fixture
def system_world(tmp_path: Path) -> Iterator[World]:
    """A gateway on the system clock (the documented verifier checks ``exp`` with it)."""
    gw = start_local_gateway(tmp_path / "gw", **TEST_CONFIG)
    try:
        yield build(cast("live.LiveGateway", gw))
    finally:
        gw.close()


def test_the_documented_status_step_reads_the_published_entry(system_world: World) -> None:
    """docs/verifying-without-the-sdk.md step 7, its Python block run as written."""
    world = system_world
    page = Path(__file__).resolve().parents[2] / "docs" / "verifying-without-the-sdk.md"
    (block,) = [p.split("```", 1)[0] for p in page.read_text("utf-8").split("```python\n")[1:]]
    namespace: dict[str, Any] = {}
    exec(compile(block, page.name, "exec"), namespace)
    attestation = world.issue()
    claims = json_object(parse_compact_jws(attestation.token.split("~")[0]).payload, max_depth=8)
    publisher = world.gw.gateway.status_lists
    assert publisher is not None
    publisher.publish()

    def documented() -> str:
        check = namespace["attestation_status"]
        return str(check(claims, issuer=world.gw.issuer, cafile=str(world.gw.ca_file)))

    assert documented() == "VALID"
    world.bank.redeem(attestation, transaction_ref="fx-doc")
    publisher.publish()
    assert documented() == "INVALID"
    forged: dict[str, Any] = dict(claims)
    forged["status"] = {"status_list": {"idx": 1, "uri": "https://evil.example/l/1"}}
    with pytest.raises(ValueError, match="not the issuer's"):
        namespace["attestation_status"](forged, issuer=world.gw.issuer)
