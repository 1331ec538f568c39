"""Minimum sufficiency against repetition: bisecting ``covers_amount`` recovers no more than the
purpose's evaluation budget allows (issue 14, section 4).

The attacker is bank ``bank-a`` with an owner backend that approves every ``fx_purchase`` request
(docs/quickstart.md shows one). Unbounded, 34 attestations recovered the exact after-tax income.
With ``evaluation_budget = { count = 4, period = "30d" }`` the bank learns at most 4 bits: the
income to within 1/16 of the range it started from (docs/catalog.md "Evaluation budgets").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.ops.cli import main
from attestgate.gateway.persistence.schemas import fresh_schema
from attestgate.protocol.reasons import Reason
from attestgate.sdk import BankClient
from attestgate.sdk.errors import AttestgateError, EvaluationBudgetExhausted
from tests.conformance.conftest import pg_server
from tests.integration import live
from tests.security.world import World, build

__all__ = ["pg_server"]  # the session fixture that skips (or fails in CI) without a server

BUDGET = Catalog.load_default().purpose("income", "fx_purchase").evaluation_budget
assert BUDGET is not None
INCOME = live.INCOME_FIELDS["after_tax_income"]
SPAN = 2**34
"""The attacker's prior: the income lies in [0, 2**34) fen (about CNY 172 million)."""


def approved(world: World, bank: BankClient) -> str:
    """A fresh fx_purchase consent of alice for ``bank``: the owner backend approves everything."""
    request = bank.request_consent(
        owner="alice",
        domain="income",
        purpose="fx_purchase",
        bounds={"amount": SPAN, "currency": "CNY"},  # its own backend approves any bound
        claims=["covers_amount"],
        record_id="inc-2025",
    )
    return world.gw.owner("alice").approve(request.id).id


def covers(bank: BankClient, consent_id: str, amount: int) -> bool:
    """One evaluation of covers_amount (CNY: no FX rounding blurs the answer)."""
    attestation = bank.issue(consent_id, params={"amount": amount, "currency": "CNY"})
    return bool(attestation.claims["covers_amount"])


def bisect(world: World, bank: BankClient) -> tuple[int, int, int, EvaluationBudgetExhausted]:
    """Bisect until refused: (low, high, evaluations, refusal) with low <= income < high."""
    low, high, evaluations = 0, SPAN, 0
    while high - low > 1:
        consent_id = approved(world, bank)
        middle = (low + high) // 2
        try:
            answer = covers(bank, consent_id, middle)
        except EvaluationBudgetExhausted as refusal:
            return low, high, evaluations, refusal
        evaluations += 1
        low, high = (middle, high) if answer else (low, middle)
    raise AssertionError(f"the income was recovered exactly after {evaluations} evaluations")


def test_bisection_learns_at_most_the_budget(world: World) -> None:
    assert BUDGET is not None
    low, high, evaluations, refusal = bisect(world, world.bank)

    assert evaluations == BUDGET.count
    assert low <= INCOME < high
    assert high - low >= SPAN // 2**BUDGET.count  # k answers: at best 1/2**k of the prior
    assert refusal.code == "RESOURCE_EXHAUSTED"
    assert refusal.reason is Reason.EVALUATION_BUDGET_EXHAUSTED
    renews_at = datetime.fromisoformat(refusal.metadata["renews_at"])
    now = world.gw.clock.now()
    assert now < renews_at <= now + BUDGET.period
    assert refusal.metadata["renews_at"] in refusal.message


def test_refusal_changes_no_state_and_the_owner_sees_every_evaluation(world: World) -> None:
    assert BUDGET is not None
    owner = world.gw.owner("alice")
    for _ in range(BUDGET.count):
        covers(world.bank, approved(world, world.bank), 1)
    consent_id = approved(world, world.bank)
    before, size = world.snapshot(), world.log_size()

    with pytest.raises(EvaluationBudgetExhausted):
        covers(world.bank, consent_id, 1)

    assert world.snapshot() == before  # the consent's use, the attestation, the count: all undone
    [refused] = world.events_since(size)
    assert refused["type"] == "attestation.refused"
    assert refused["reason"] == "EVALUATION_BUDGET_EXHAUSTED"
    issued = [e for e in owner.activity() if e.type == "attestation.issued"]
    assert [e.objects["budget_used"] for e in issued] == [
        str(n) for n in range(1, BUDGET.count + 1)
    ]
    assert {e.objects["budget_limit"] for e in issued} == {str(BUDGET.count)}
    assert all("covers_amount" in e.claims and e.objects["evaluations"] == "1" for e in issued)
    denied = [e for e in owner.activity() if e.type == "attestation.refused"]
    assert [e.reason for e in denied] == ["EVALUATION_BUDGET_EXHAUSTED"]


def test_budget_renews_with_the_period_and_is_per_bank(world: World) -> None:
    assert BUDGET is not None
    for _ in range(BUDGET.count):
        covers(world.bank, approved(world, world.bank), 1)
    consent_id = approved(world, world.bank)
    with pytest.raises(EvaluationBudgetExhausted) as refused:
        covers(world.bank, consent_id, 1)
    other = world.gw.bank("bank-b")  # a colluding bank has a budget of its own (docs: collusion)
    assert covers(other, approved(world, other), 1)

    renews_at = datetime.fromisoformat(refused.value.metadata["renews_at"])
    world.gw.clock.set(renews_at - timedelta(seconds=1))
    bank = world.gw.bank("bank-a")  # tokens follow the clock
    with pytest.raises(EvaluationBudgetExhausted):
        covers(bank, approved(world, bank), 1)
    world.gw.clock.set(renews_at)
    bank = world.gw.bank("bank-a")
    assert covers(bank, approved(world, bank), 1)


# --- concurrency: the count holds when many issues race, on one gateway and across replicas -----


def race(banks: list[BankClient], consents: list[str]) -> list[str]:
    """Issue under every consent at once (one thread each); the outcome of each."""
    barrier = threading.Barrier(len(consents))
    outcomes: list[str] = [""] * len(consents)

    def one(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            covers(banks[i % len(banks)], consents[i], 1)
            outcomes[i] = "issued"
        except AttestgateError as exc:
            outcomes[i] = str(exc.reason)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(consents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def assert_budget_held(outcomes: list[str], count: int) -> None:
    assert outcomes.count("issued") == count
    assert set(outcomes) == {"issued", "EVALUATION_BUDGET_EXHAUSTED"}


CONCURRENT = 12


def test_concurrent_issues_never_exceed_the_budget_sqlite(world: World) -> None:
    assert BUDGET is not None
    consents = [approved(world, world.bank) for _ in range(CONCURRENT)]
    assert_budget_held(race([world.bank], consents), BUDGET.count)


@pytest.fixture
def replicas(pg_server: str, tmp_path: Path, clock: FixedClock) -> Iterator[list[World]]:
    """Two gateways (replicas) on one PostgreSQL schema and one data dir."""
    with fresh_schema(pg_server) as url:
        data_dir = tmp_path / "gw"
        assert main(["db", "migrate", "--db", url, "--data-dir", str(data_dir)]) == 0
        gateways = [live.start_live(data_dir, clock, db=url) for _ in range(2)]
        try:
            first = build(gateways[0])
            yield [first, World(gateways[1], gateways[1].bank("bank-a"), first.consent)]
        finally:
            for gw in gateways:
                gw.close()


@pytest.mark.postgres
def test_concurrent_issues_never_exceed_the_budget_across_postgres_replicas(
    replicas: list[World],
) -> None:
    assert BUDGET is not None
    first = replicas[0]
    consents = [approved(first, first.bank) for _ in range(CONCURRENT)]
    banks = [world.bank for world in replicas]  # alternate: half the calls go to each replica
    assert_budget_held(race(banks, consents), BUDGET.count)
    conn = first.gw.parts.storage.read()
    (used,) = conn.execute("SELECT SUM(used) FROM evaluation_budgets").fetchone()
    assert used == BUDGET.count
