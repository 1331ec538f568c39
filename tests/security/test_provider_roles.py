"""Issue 14.1: a provider writes only its own domains, FX tables need the FX role, and erasure is
scoped to the eraser's domains; on SQLite and PostgreSQL, over gRPC against a real gateway.

Every (role, domain) pair is tried for uploads and erasure, and every role for FX tables. A refused
call changes nothing: neither state (``World.snapshot``) nor the audit log (``World.log_size``).
An allowed one names the role that allowed it in its audit event. One gateway per backend serves
the whole module; each case uses subjects and record ids of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from functools import partial
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.sdk import ProviderClient, errors
from attestgate.v1 import record_pb2
from tests.conformance.conftest import pg_server
from tests.conftest import T0
from tests.integration import live
from tests.security.world import World, build, reason_of

__all__ = ["pg_server"]  # the session fixture that skips (or fails in CI) without a server

DOMAIN_ROLES = {
    "income": "tax_bureau",
    "warehouse_receipt": "warehouse",
    "patent": "ip_office",
    "business_registration": "commercial_registry",
}
FX_ROLE = "fx_authority"
ROLES = [*DOMAIN_ROLES.values(), FX_ROLE]


def fields_of(domain: str, subject: str) -> dict[str, Any]:
    """A valid record of ``domain`` owned by ``subject``."""
    return {
        "income": live.INCOME_FIELDS,
        "warehouse_receipt": {**live.WAREHOUSE_FIELDS, "holder": subject},
        "patent": live.patent_fields(subject),
        "business_registration": live.BUSINESS_FIELDS,
    }[domain]


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One live gateway per backend, with a provider per role (``role-<role>``)."""
    data_dir = tmp_path_factory.mktemp(request.param) / "gw"
    with ExitStack() as stack:
        changes: dict[str, Any] = {}
        if request.param == "postgres":
            url = stack.enter_context(fresh_schema(request.getfixturevalue("pg_server")))
            assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
            changes["db"] = url
        gw = live.start_live(data_dir, FixedClock(T0), **changes)
        stack.callback(gw.close)
        yield build(gw)


@pytest.fixture(scope="module")
def providers(world: World) -> dict[str, ProviderClient]:
    """A client per role, each registered with that one role."""
    return {role: world.gw.provider(f"role-{role}", roles=[role]) for role in ROLES}


def assert_refused_without_trace(world: World, call: Callable[[], Any], reason: Reason) -> str:
    """``call`` is refused with ``reason`` and changes neither state nor the log; its message."""
    state, size = world.snapshot(), world.log_size()
    with pytest.raises(errors.AttestgateError) as refused:
        call()
    assert refused.value.reason == reason
    assert refused.value.code == (
        "FAILED_PRECONDITION" if reason is Reason.FX_TABLE_OUT_OF_ORDER else "PERMISSION_DENIED"
    )
    assert (world.snapshot(), world.log_size()) == (state, size)
    return str(refused.value)


def only_event(world: World, size: int) -> dict[str, Any]:
    """The one audit event appended since log size ``size``."""
    events = world.events_since(size)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("domain", list(DOMAIN_ROLES))
@pytest.mark.parametrize("role", ROLES)
def test_put_record_needs_the_domains_role(
    world: World, providers: dict[str, ProviderClient], role: str, domain: str
) -> None:
    subject = f"put-{role}-{domain}".replace("_", "-")
    upload = partial(
        providers[role].put_record,
        domain=domain, subject=subject, record_id=f"r-{subject}", fields=fields_of(domain, subject),
    )  # fmt: skip
    if DOMAIN_ROLES[domain] != role:
        message = assert_refused_without_trace(
            world, upload, Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN
        )
        assert f"needs role {DOMAIN_ROLES[domain]!r}" in message
        return
    size = world.log_size()
    assert upload().version == 1
    event = only_event(world, size)
    assert (event["type"], event["objects"]["provider_role"]) == ("record.put", role)


def test_a_forged_overwrite_of_the_income_record_is_refused(
    world: World, providers: dict[str, ProviderClient]
) -> None:
    # The attack of the issue: the warehouse's key overwrites alice's income with CNY 1 bn.
    forged = {**live.INCOME_FIELDS, "after_tax_income": 100_000_000_000}
    assert_refused_without_trace(
        world,
        lambda: providers["warehouse"].put_record(
            domain="income", subject="alice", record_id="inc-2025", fields=forged
        ),
        Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
    )
    attestation = world.issue()
    assert attestation.claims["covers_amount"] is True  # still alice's real income
    assert (
        world.gw.parts.vault.get(
            world.gw.parts.storage.read(), domain="income", subject="alice", record_id="inc-2025"
        ).fields["after_tax_income"]
        == live.INCOME_FIELDS["after_tax_income"]
    )


@pytest.mark.parametrize("role", ROLES)
def test_fx_tables_need_the_fx_role(
    world: World, providers: dict[str, ProviderClient], role: str
) -> None:
    world.gw.clock.advance(timedelta(seconds=1))  # each table newer than the last
    upload = partial(
        providers[role].put_fx_rates,
        table_id=f"fx-by-{role}".replace("_", "-"), rates={"USD": "1000"},
    )  # fmt: skip
    if role != FX_ROLE:
        message = assert_refused_without_trace(world, upload, Reason.FX_RATES_NOT_ALLOWED)
        assert f"needs role {FX_ROLE!r}" in message
        return
    size = world.log_size()
    assert upload().rate_count == 1
    event = only_event(world, size)
    assert (event["type"], event["objects"]["provider_role"]) == ("fx_rates.put", FX_ROLE)
    # Restore the rate the world's attestations convert with.
    world.gw.clock.advance(timedelta(seconds=1))
    providers[FX_ROLE].put_fx_rates(table_id="fx-restore", rates={"USD": live.USD_RATE})


@pytest.mark.parametrize("role", ROLES)
def test_erasure_covers_only_the_erasers_domains(
    world: World, providers: dict[str, ProviderClient], role: str
) -> None:
    subject = f"erase-{role}".replace("_", "-")
    for domain, owner_role in DOMAIN_ROLES.items():
        providers[owner_role].put_record(
            domain=domain, subject=subject, record_id=f"r-{domain}-{subject}".replace("_", "-"),
            fields=fields_of(domain, subject),
        )  # fmt: skip
    erase = partial(providers[role].erase_subject, subject)
    if role == FX_ROLE:
        assert_refused_without_trace(world, erase, Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN)
        erased: set[str] = set()
    else:
        size = world.log_size()
        assert erase().records_erased == 1
        event = only_event(world, size)
        assert event["type"] == "record.erased"
        assert (event["objects"]["provider_role"], event["objects"]["domains"]) == (
            role,
            next(d for d, r in DOMAIN_ROLES.items() if r == role),
        )
        erased = {d for d, r in DOMAIN_ROLES.items() if r == role}
    conn = world.gw.parts.storage.read()
    for domain, owner_role in DOMAIN_ROLES.items():
        if domain in erased:
            with pytest.raises(DomainError) as gone:
                world.gw.parts.vault.get(conn, domain=domain, subject=subject, record_id=None)
            assert gone.value.reason == Reason.DATA_ERASED
            with pytest.raises(errors.DataErased):  # later uploads there stay refused
                providers[owner_role].put_record(
                    domain=domain, subject=subject, record_id=f"again-{subject}",
                    fields=fields_of(domain, subject),
                )  # fmt: skip
        else:
            record = world.gw.parts.vault.get(conn, domain=domain, subject=subject, record_id=None)
            assert record.version == 1  # untouched by another domain's erasure


def test_a_registration_without_role_is_refused_with_the_fixing_command(world: World) -> None:
    data_dir = world.gw.config.data_dir
    client = world.gw.provider("legacy", roles=["tax_bureau"])
    (ProviderRegistry(data_dir).directory / "legacy.roles").unlink()  # as registered before roles
    calls: dict[str, tuple[Callable[[], Any], str]] = {
        "put": (
            lambda: client.put_record(
                domain="income", subject="legacy-s", record_id="legacy-r", fields=live.INCOME_FIELDS
            ),
            "--role tax_bureau",
        ),
        "fx": (
            lambda: client.put_fx_rates(table_id="legacy-fx", rates={"USD": "1"}),
            "--role fx_authority",
        ),
        "erase": (
            lambda: client.erase_subject("alice"),
            "--role ROLE (ROLE: one of commercial_registry",
        ),
    }
    for call, role_hint in calls.values():
        message = assert_refused_without_trace(world, call, Reason.PROVIDER_ROLE_MISSING)
        assert f"attestgate providers grant --data-dir {data_dir} legacy {role_hint}" in message
    # The named command fixes it, without a restart.
    assert (
        main(["providers", "grant", "--data-dir", str(data_dir), "legacy", "--role", "tax_bureau"])
        == 0
    )
    assert calls["put"][0]().version == 1


def test_fx_tables_cannot_go_back_in_time(
    world: World, providers: dict[str, ProviderClient]
) -> None:
    fx = providers[FX_ROLE]
    newest = world.gw.clock.advance(timedelta(minutes=5))
    fx.put_fx_rates(table_id="fx-order-1", rates={"USD": live.USD_RATE}, effective_at=newest)
    older = newest - timedelta(seconds=1)
    message = assert_refused_without_trace(
        world,
        lambda: fx.put_fx_rates(table_id="fx-order-0", rates={"USD": "1"}, effective_at=older),
        Reason.FX_TABLE_OUT_OF_ORDER,
    )
    assert "fx-order-1" in message
    # The same effective time is allowed (a correction); a table without one is effective now.
    fx.put_fx_rates(table_id="fx-order-2", rates={"USD": live.USD_RATE}, effective_at=newest)
    world.gw.clock.advance(timedelta(seconds=1))
    signed = raw_rates(world, "fx-order-3")
    _, _, records = world.stubs(world.channel())
    records.PutFxRates(
        record_pb2.PutFxRatesRequest(signed_rates=signed),
        metadata=world.metadata("provider", "raw-fx"),
    )
    (stored,) = (
        world.gw.parts.storage.read()
        .execute("SELECT effective_at FROM fx_rates WHERE table_id = 'fx-order-3'")
        .fetchone()
    )
    assert stored == world.gw.clock.now().isoformat()
    # A table from the future would block every later one: refused as bad input.
    future = world.gw.clock.now() + world.gw.config.token_leeway + timedelta(seconds=1)
    state, size = world.snapshot(), world.log_size()
    with pytest.raises(grpc.RpcError) as refused:
        records.PutFxRates(
            record_pb2.PutFxRatesRequest(
                signed_rates=raw_rates(world, "fx-future", future.isoformat())
            ),
            metadata=world.metadata("provider", "raw-fx"),
        )
    assert reason_of(refused.value) == "INVALID_ARGUMENT"
    assert (world.snapshot(), world.log_size()) == (state, size)


def raw_rates(world: World, table_id: str, effective_at: str | None = None) -> str:
    """A PutFxRates payload of ``raw-fx`` (an FX authority), signed by hand."""
    key = getattr(world, "_raw_fx_key", None)
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        ProviderRegistry(world.gw.config.data_dir).add("raw-fx", pem, roles=[FX_ROLE], replace=True)
        world._raw_fx_key = key  # type: ignore[attr-defined]
    payload: dict[str, Any] = {"table_id": table_id, "base": "CNY", "rates": {"USD": live.USD_RATE}}
    if effective_at is not None:
        payload["effective_at"] = effective_at
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": "raw-fx"})


def test_a_provider_may_hold_several_roles(world: World) -> None:
    both = world.gw.provider("tax-and-fx", roles=["tax_bureau", FX_ROLE])
    size = world.log_size()
    both.put_record(
        domain="income", subject="multi", record_id="multi-inc", fields=live.INCOME_FIELDS
    )
    world.gw.clock.advance(timedelta(seconds=1))
    both.put_fx_rates(table_id="multi-fx", rates={"USD": live.USD_RATE})
    roles = [(e["type"], e["objects"]["provider_role"]) for e in world.events_since(size)]
    assert roles == [("record.put", "tax_bureau"), ("fx_rates.put", FX_ROLE)]
    assert_refused_without_trace(
        world,
        lambda: both.put_record(
            domain="patent",
            subject="multi",
            record_id="multi-pat",
            fields=live.patent_fields("multi"),
        ),
        Reason.PROVIDER_NOT_ALLOWED_FOR_DOMAIN,
    )
