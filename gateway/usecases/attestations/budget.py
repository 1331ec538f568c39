"""Evaluation budgets: how many predicate evaluations one bank has had on one record per period.

Repeating a parameterized predicate defeats minimum sufficiency: bisecting the amount of
``covers_amount`` recovers an income exactly. The catalog bounds it per purpose
(``evaluation_budget = { count = 4, period = "30d" }``, ``consent.catalog.EvaluationBudget``); the
issue unit of work spends an attestation's evaluations here with ONE conditional upsert, in the
same transaction that stores the attestation, so the count holds under concurrency and across
replicas (the unit is refused, and rolled back whole, when the budget cannot cover it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from attestgate.audit.sql import Connection
from attestgate.audit.store import format_time
from attestgate.consent.catalog import EvaluationBudget
from attestgate.protocol.reasons import DomainError, Reason

_SPEND = (
    "INSERT INTO evaluation_budgets (grantee, domain, record_id, purpose, period_start, used) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (grantee, domain, record_id, purpose, period_start) DO UPDATE "
    "SET used = evaluation_budgets.used + excluded.used "
    "WHERE evaluation_budgets.used + excluded.used <= ? RETURNING used"
)


@dataclass(frozen=True)
class BudgetKey:
    """Whose budget: one bank, one record, one purpose."""

    grantee: str
    domain: str
    record_id: str
    purpose: str


@dataclass(frozen=True)
class Spent:
    """A budget after an attestation's evaluations were counted."""

    used: int
    budget: EvaluationBudget
    renews_at: datetime

    def objects(self, evaluations: int) -> dict[str, str]:
        """What the owner sees in the attestation's audit event (``ListActivity``)."""
        return {
            "evaluations": str(evaluations),
            "budget_used": str(self.used),
            "budget_limit": str(self.budget.count),
            "budget_renews_at": format_time(self.renews_at),
        }


def spend(
    conn: Connection, key: BudgetKey, budget: EvaluationBudget, cost: int, now: datetime
) -> Spent:
    """Count ``cost`` evaluations; ``EVALUATION_BUDGET_EXHAUSTED`` (nothing counted) if they
    do not fit in what is left of the window ``now`` falls in."""
    start = budget.period_start(now)
    row = None
    if cost <= budget.count:
        row = conn.execute(
            _SPEND,
            (key.grantee, key.domain, key.record_id, key.purpose, format_time(start), cost,
             budget.count),
        ).fetchone()  # fmt: skip
    if row is None:
        raise exhausted(key.purpose, budget, now)
    return Spent(int(row[0]), budget, budget.renews_at(now))


def used(conn: Connection, key: BudgetKey, budget: EvaluationBudget, now: datetime) -> int:
    """Evaluations counted in the window ``now`` falls in."""
    found = conn.execute(
        "SELECT used FROM evaluation_budgets WHERE grantee = ? AND domain = ? AND record_id = ? "
        "AND purpose = ? AND period_start = ?",
        (
            key.grantee,
            key.domain,
            key.record_id,
            key.purpose,
            format_time(budget.period_start(now)),
        ),
    ).fetchone()
    return 0 if found is None else int(found[0])


def exhausted(purpose: str, budget: EvaluationBudget, now: datetime) -> DomainError:
    """The refusal once a bank's budget on a record is spent (says when it renews)."""
    renews_at = format_time(budget.renews_at(now))
    return DomainError(
        Reason.EVALUATION_BUDGET_EXHAUSTED,
        f"the purpose {purpose} allows {budget.describe()} predicate evaluations per bank and "
        f"record, and this bank has had them on this record; the budget renews at {renews_at}",
        metadata={"renews_at": renews_at, "budget": budget.describe()},
    )
