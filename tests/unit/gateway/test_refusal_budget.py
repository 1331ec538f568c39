"""gateway.usecases.refusal_budget: per-caller refusal leaves, what is left out counted and carried
on."""

from __future__ import annotations

import pytest

from attestgate.gateway.usecases.refusal_budget import RefusalBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_leaf_per_refill_carrying_the_count() -> None:
    clock, unlogged = Clock(), []
    budget = RefusalBudget(60, 3, now=clock)
    budget.on_suppressed = lambda: unlogged.append(1)
    assert [budget.take("bank", "b1") for _ in range(5)] == [0, 0, 0, None, None]
    assert budget.suppressed_total == 2
    assert len(unlogged) == 2
    clock.now += 1.0  # one refusal leaf a second
    assert budget.take("bank", "b1") == 2  # the leaf says two were left out before it
    assert budget.take("bank", "b1") is None
    clock.now += 1.0
    assert budget.take("bank", "b1") == 1


def test_callers_have_buckets_of_their_own() -> None:
    budget = RefusalBudget(60, 1, now=Clock())
    assert budget.take("bank", "b1") == 0
    assert budget.take("bank", "b1") is None
    assert budget.take("bank", "b2") == 0
    assert budget.take("owner", "b1") == 0  # the role is part of the caller


def test_zero_per_minute_logs_every_refusal() -> None:
    budget = RefusalBudget(0, 0)
    assert {budget.take("bank", "b1") for _ in range(1000)} == {0}
    assert budget.suppressed_total == 0


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        RefusalBudget(-1, 5)
