"""The built-in predicates named by the shipped catalog (their names are public API).

- ``covers_amount(amount, currency)``: income not yet consumed covers a purchase (FX purchase).
- ``unencumbered``: a warehouse receipt or patent is usable and no pledge in the gateway's
  ledger holds it.
- ``owned_by_subject``: the record's owner is the consent's owner.
- ``in_good_standing``: a business is registered and not deregistered.

Each reads only the fields it declares (``requires_fields``); the catalog checks those exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from attestgate.consent.fields import parse_date
from attestgate.consent.predicate_types import (
    Consumption,
    ConsumptionKind,
    ParamSpec,
    ParamType,
    PredicateContext,
    PredicateResult,
    predicate,
)
from attestgate.protocol.reasons import DomainError, Reason


def _int_field(fields: Mapping[str, object], name: str) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(Reason.RECORD_INVALID, f"record field {name} is not an integer")
    return value


@predicate(
    "covers_amount",
    params={"amount": ParamSpec(ParamType.AMOUNT), "currency": ParamSpec(ParamType.CURRENCY)},
    requires_fields=("after_tax_income",),
    options={"income_field": str, "currency": str},
    consumes=ConsumptionKind.AMOUNT,
)
def covers_amount(
    fields: Mapping[str, object],
    params: Mapping[str, object],
    ctx: PredicateContext,
    options: Mapping[str, object],
) -> PredicateResult:
    """After-tax income not yet consumed covers ``amount`` of ``currency`` (converted, rounded up).

    The conversion uses the provider-uploaded rate table in ``ctx.fx_rates``; the rate used is
    returned in ``detail["fx_rate"]`` so the attestation can name it
    (DESIGN.md "Minimum sufficiency").
    """
    income_currency = str(options.get("currency", "CNY"))
    income = _int_field(fields, str(options.get("income_field", "after_tax_income")))
    amount, currency = params["amount"], params["currency"]
    assert isinstance(amount, int)  # validated by the registry
    assert isinstance(currency, str)
    detail: dict[str, str] = {}
    cost = amount
    if currency != income_currency:
        table = ctx.fx_rates
        if table is None or table.base != income_currency:
            raise DomainError(
                Reason.FX_RATE_UNAVAILABLE,
                f"no FX rate table with base {income_currency}",
                metadata={"currency": currency},
            )
        conversion = table.to_base(amount, currency)
        cost = conversion.amount
        detail = {"fx_rate": conversion.label, "fx_table": conversion.table_id}
    covered = cost <= max(0, income - ctx.consumed)
    consumption = Consumption(ConsumptionKind.AMOUNT, cost, income_currency) if covered else None
    return PredicateResult(covered, consumption, detail)


ENCUMBRANCE_BASIS = "encumbrance_basis"
"""Plain claim of an attestation that evaluated ``unencumbered``: which rule decided it."""
BASIS_LEDGER = "pledge_ledger"
"""The gateway's pledge ledger decided, and the provider's status agreed with it."""
BASIS_RECONCILED = "pledge_ledger_over_provider_status"
"""The provider's stored status still mirrored a pledge the ledger no longer holds (it was
released through the gateway since): the ledger decided (docs/catalog.md)."""


@predicate(
    "unencumbered",
    requires_fields=("status",),
    options={"usable_statuses": list, "pledged_statuses": list},
    consumes=ConsumptionKind.PLEDGE,
)
def unencumbered(
    fields: Mapping[str, object],
    params: Mapping[str, object],
    ctx: PredicateContext,
    options: Mapping[str, object],
) -> PredicateResult:
    """The record's status is usable (option ``usable_statuses``) and no pledge holds it.

    The gateway's pledge ledger (``ctx.pledged``) is the one source of truth for encumbrance: a
    pledge made through attestgate holds until its pledgee (or a regulator) releases it, whatever
    the provider uploads. Option ``pledged_statuses`` names the statuses by which a provider
    mirrors a ledger pledge (``PLEDGED``); a stored one the ledger no longer holds (released since
    the upload) counts as usable. The answer names its basis (``encumbrance_basis``).
    """
    usable = options.get("usable_statuses", ["ACTIVE"])
    mirrors = options.get("pledged_statuses", [])
    assert isinstance(usable, list)
    assert isinstance(mirrors, list)
    status = fields.get("status")
    stale = status in mirrors and not ctx.pledged
    free = (status in usable or stale) and not ctx.pledged
    detail = {ENCUMBRANCE_BASIS: BASIS_RECONCILED if stale else BASIS_LEDGER}
    return PredicateResult(free, Consumption(ConsumptionKind.PLEDGE) if free else None, detail)


@predicate("owned_by_subject", requires_fields=("owner",), options={"owner_field": str})
def owned_by_subject(
    fields: Mapping[str, object],
    params: Mapping[str, object],
    ctx: PredicateContext,
    options: Mapping[str, object],
) -> PredicateResult:
    """The record's owner field equals the consent's owner (the data subject)."""
    owner = fields.get(str(options.get("owner_field", "owner")))
    return PredicateResult(owner == ctx.subject)


@predicate(
    "in_good_standing",
    requires_fields=("status", "closure_start", "closure_end"),
    options={"utc_offset_minutes": int},
)
def in_good_standing(
    fields: Mapping[str, object],
    params: Mapping[str, object],
    ctx: PredicateContext,
    options: Mapping[str, object],
) -> PredicateResult:
    """ACTIVE, or in CLOSURE within its registered window; DEREGISTERED (or anything else) is not.

    Decision: a company in closure keeps its legal personality ("retains its subject qualification"
    under the 2021 Shenzhen commercial registration provisions), so a counterparty check reports it
    as registered-but-dormant: true while today lies in [closure_start, closure_end]. Past the
    end of the window without resumption the closure has lapsed and the answer is false. The
    purpose also discloses ``status``, so a bank can tell ACTIVE from CLOSURE.
    """
    status = fields.get("status")
    if status == "ACTIVE":
        return PredicateResult(True)
    if status != "CLOSURE":
        return PredicateResult(False)
    start, end = fields.get("closure_start"), fields.get("closure_end")
    if start is None or end is None:
        return PredicateResult(False)
    offset = options.get("utc_offset_minutes", 0)
    assert isinstance(offset, int)
    # Registry dates are local calendar dates (China Standard Time for the shipped catalog).
    today = (ctx.now + timedelta(minutes=offset)).date()
    return PredicateResult(parse_date(start) <= today <= parse_date(end))


BUILTIN_PREDICATES = (covers_amount, unencumbered, owned_by_subject, in_good_standing)
"""Every built-in predicate, in the order they are documented."""
