"""Issue 19, property: any random sequence of attestations, pledges (redemptions), releases (by
the pledgee, by another bank, forced by a regulator), provider uploads and transfers of
one warehouse receipt, run over gRPC against a real gateway, keeps at most one active pledge per
asset, and every answer matches a model whose only state is the pledge ledger. The receipt's
history (``GetAssetHistory``, verified by the SDK) is the model's list of events and exactly the
log's, read from the raw leaves.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.sdk import Attestation, BankClient, Redemption, errors
from tests.conformance.conftest import pg_server
from tests.conftest import T0
from tests.integration import live
from tests.integration.live import LiveGateway

__all__ = ["pg_server"]  # fixtures: skip (or fail in CI) without a server

HOLDER = "acme-trading"
NEW_HOLDER = "beta-logistics"
BANKS = ("bank-a", "bank-b", "bank-c")
PROVIDER, REGULATOR = "warehouse-1", "csrc"
STATUSES = ("ACTIVE", "PLEDGED", "RELEASED", "CANCELLED")
BUDGET = 10  # pledge_financing: 10 evaluations of unencumbered per bank and receipt in 30 days
_receipts = itertools.count()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    with contextlib.ExitStack() as stack:
        pg = None
        if request.param == "postgresql":
            pg = stack.enter_context(fresh_schema(request.getfixturevalue("pg_server")))
        folder = tmp_path_factory.mktemp("prop") / "gw"
        gateway = live.start_on(request.param, pg, folder, FixedClock(T0))
        try:
            yield gateway
        finally:
            gateway.close()


@dataclass
class Model:
    """The pledge ledger of one receipt, as the gateway must keep it."""

    receipt: str
    status: str = "ACTIVE"
    pledged_by: str | None = None  # the jti of the redemption holding the pledge
    held: list[tuple[str, Attestation, bool]] = field(default_factory=list)  # bank, att, free
    redeemed: dict[str, tuple[str, Redemption]] = field(default_factory=dict)  # jti -> bank
    released: set[str] = field(default_factory=set)
    holder: str = HOLDER
    tenure: int = 0  # how many transfers so far
    tenures: dict[str, int] = field(default_factory=dict)  # jti -> tenure it was issued in
    history: list[tuple[str, str]] = field(default_factory=lambda: [("record.put", PROVIDER)])
    """The receipt's events, oldest first: (type, actor)."""


step = st.one_of(
    st.tuples(st.just("attest"), st.sampled_from(BANKS)),
    st.tuples(st.just("redeem"), st.integers(0, 9)),
    st.tuples(st.just("release"), st.just("pledgee"), st.integers(0, 9)),
    st.tuples(st.just("release"), st.sampled_from(BANKS), st.integers(0, 9)),
    st.tuples(st.just("force"), st.integers(0, 9)),
    st.tuples(st.just("upload"), st.sampled_from(STATUSES)),
    st.tuples(st.just("transfer")),
)


def _upload(gw: LiveGateway, model: Model, status: str) -> None:
    provider = gw.provider("warehouse-1", roles=["warehouse"])
    fields = {**live.WAREHOUSE_FIELDS, "receipt_id": model.receipt, "status": status}
    expect_ok = (model.pledged_by is not None) == (status == "PLEDGED")
    refused = ""
    try:
        provider.put_record(
            domain="warehouse_receipt", subject=model.holder, record_id=model.receipt,
            fields=fields,
        )  # fmt: skip
    except errors.FailedPrecondition as exc:
        refused = str(exc.reason)
    event(f"upload {status}: {refused or 'ok'}")
    if refused:
        assert not expect_ok
        assert refused == "RECORD_CONTRADICTS_PLEDGE"
        return
    assert expect_ok, f"{status} accepted while pledged_by={model.pledged_by}"
    model.status = status
    model.history.append(("record.put", PROVIDER))


def _transfer(gw: LiveGateway, model: Model) -> None:
    """The provider records a new holder (the other of the two)."""
    to = NEW_HOLDER if model.holder == HOLDER else HOLDER
    gw.clock.advance(timedelta(seconds=1))  # consents given before it are of an earlier tenure
    fields = {**live.WAREHOUSE_FIELDS, "receipt_id": model.receipt, "holder": to}
    refused = ""
    try:
        gw.provider("warehouse-1", roles=["warehouse"]).put_record(
            domain="warehouse_receipt", subject=to, record_id=model.receipt, fields=fields
        )
    except errors.FailedPrecondition as exc:
        refused = str(exc.reason)
    event(f"transfer: {refused or 'ok'}")
    if refused:
        assert refused == "ASSET_PLEDGED"
        assert model.pledged_by is not None
        return
    assert model.pledged_by is None, "a pledged receipt changed holder"
    model.holder, model.tenure, model.status = to, model.tenure + 1, "ACTIVE"
    model.history.append(("record.transferred", PROVIDER))
    gw.clock.advance(timedelta(seconds=1))


def _attest(gw: LiveGateway, model: Model, bank: BankClient, name: str) -> None:
    request = bank.request_consent(
        owner=model.holder,
        domain="warehouse_receipt",
        purpose="pledge_financing",
        claims=["receipt_id", "unencumbered"],
        record_id=model.receipt,
    )
    consent = gw.owner(model.holder).approve(request.id)
    asked = sum(1 for held_by, _, _ in model.held if held_by == name)
    if asked >= BUDGET:  # the purpose's evaluation budget per bank and receipt
        with pytest.raises(errors.EvaluationBudgetExhausted):
            bank.issue(consent.id)
        return
    attestation = bank.issue(consent.id)
    free = model.pledged_by is None and model.status != "CANCELLED"
    assert attestation.claims["unencumbered"] is free
    model.held.append((name, attestation, free))
    model.tenures[attestation.jti] = model.tenure


def _redeem(model: Model, banks: dict[str, BankClient], index: int) -> None:
    if not model.held:
        return
    name, attestation, free = model.held[index % len(model.held)]
    try:
        redemption = banks[name].redeem(attestation, transaction_ref=f"tx-{attestation.jti}")
    except errors.AlreadyRedeemed:
        event("redeem: already redeemed")
        assert attestation.jti in model.redeemed
        return
    except errors.CapacityExhausted:
        event("redeem: refused")
        assert not free or model.pledged_by is not None
        return
    except errors.FailedPrecondition as exc:
        moved = str(exc.reason)
    else:
        moved = ""
    if moved:
        event(f"redeem: {moved}")
        assert moved == "RECORD_TRANSFERRED"
        assert model.tenures[attestation.jti] != model.tenure
        return
    event("redeem: pledged")
    assert free, "an attestation that answered 'encumbered' pledged the receipt"
    assert model.tenures[attestation.jti] == model.tenure, "redeemed for a previous holder"
    assert model.pledged_by is None, "a second pledge of one receipt"
    model.pledged_by = attestation.jti
    model.redeemed[attestation.jti] = (name, redemption)
    model.history.append(("attestation.redeemed", name))


def _release(model: Model, client: object, who: str | None, index: int, reason: str) -> None:
    if not model.redeemed:
        return
    jti = sorted(model.redeemed)[index % len(model.redeemed)]
    pledgee, redemption = model.redeemed[jti]
    denied = ""
    try:
        if who is None:
            released = client.force_release(redemption, reason=reason)  # type: ignore[attr-defined]
        else:
            released = client.release_pledge(redemption, reason=reason)  # type: ignore[attr-defined]
    except errors.PermissionDenied as exc:
        denied = str(exc.reason)
    event(f"release by {'regulator' if who is None else 'bank'}: {denied or 'ok'}")
    if denied:
        assert who is not None
        assert who != pledgee
        assert denied == "NOT_PLEDGEE"
        return
    assert who in (None, pledgee)
    assert released.jti == jti
    if jti not in model.released:
        assert model.pledged_by == jti
        model.pledged_by = None
        model.released.add(jti)
        model.history.append(("pledge.released", who or REGULATOR))


def _check_history(gw: LiveGateway, model: Model) -> None:
    """The verified history is the model's, and exactly the log's events naming the receipt."""
    regulator = gw.regulator()
    size = len(live.leaves(gw))
    live.wait_for_checkpoint(regulator, size)
    history = regulator.asset_history("warehouse_receipt", model.receipt, verify=True)
    assert [(e.type, e.entry.event["actor_id"]) for e in history] == model.history
    expected = live.log_history(live.leaves(gw), size, "warehouse_receipt", model.receipt)
    assert [e.entry.index for e in history] == expected


def _pledged_in_db(gw: LiveGateway, receipt: str) -> str | None:
    row = (
        gw.parts.storage.read()
        .execute(
            "SELECT pledged_by FROM capacity WHERE domain = 'warehouse_receipt' AND record_id = ?",
            (receipt,),
        )
        .fetchone()
    )
    return None if row is None else row[0]


@pytest.mark.timeout(240)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_at_most_one_active_pledge_per_asset(
    gw: LiveGateway, steps: list[tuple[object, ...]]
) -> None:
    model = Model(receipt=f"WR-PROP-{next(_receipts)}")
    gw.provider("warehouse-1", roles=["warehouse"]).put_record(
        domain="warehouse_receipt",
        subject=HOLDER,
        record_id=model.receipt,
        fields={**live.WAREHOUSE_FIELDS, "receipt_id": model.receipt},
    )
    banks = {name: gw.bank(name) for name in BANKS}
    regulator = gw.regulator()
    for action, *args in steps:
        if action == "attest":
            _attest(gw, model, banks[str(args[0])], str(args[0]))
        elif action == "redeem":
            _redeem(model, banks, int(str(args[0])))
        elif action == "release":
            index = int(str(args[1]))
            who = str(args[0])
            if who == "pledgee":  # the bank that holds it (when anything was redeemed)
                who = (
                    model.redeemed[sorted(model.redeemed)[index % len(model.redeemed)]][0]
                    if model.redeemed
                    else BANKS[0]
                )
            _release(model, banks[who], who, index, "REPAID")
        elif action == "force":
            _release(model, regulator, None, int(str(args[0])), "COURT_ORDER")
        elif action == "transfer":
            _transfer(gw, model)
        else:
            _upload(gw, model, str(args[0]))
        active = [j for j in model.redeemed if j not in model.released]
        assert len(active) <= 1
        assert _pledged_in_db(gw, model.receipt) == model.pledged_by
    _check_history(gw, model)
