"""What a predicate is: typed parameters, the context it runs in, its result, the decorator.

The shared vocabulary of ``consent.predicates`` (the registry) and ``consent.builtin_predicates``
(the built-ins): both import it, neither imports the other's internals, so the registry can name
the built-ins as its default without an import cycle. ``consent.predicates`` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from attestgate.consent.fx import FxRateTable
from attestgate.consent.model import OwnerId, require_utc


class ParamType(StrEnum):
    """Types of predicate parameters."""

    AMOUNT = "amount"
    """Positive integer in minor units (an attestation that income covers 0 says nothing)."""
    CURRENCY = "currency"
    """ISO 4217 alphabetic code of a current currency."""
    INT = "int"
    STRING = "string"
    BOOL = "bool"


@dataclass(frozen=True)
class ParamSpec:
    """One typed predicate parameter."""

    type: ParamType
    required: bool = True
    max_length: int = 64


class ConsumptionKind(StrEnum):
    """What a redemption consumes from the record's capacity."""

    NONE = "none"
    AMOUNT = "amount"
    PLEDGE = "pledge"


@dataclass(frozen=True)
class Consumption:
    """Capacity a redemption would consume: an amount (minor units of ``currency``) or a pledge."""

    kind: ConsumptionKind
    amount: int = 0
    currency: str = ""


@dataclass(frozen=True)
class PredicateContext:
    """What a predicate may know besides the record: who asks about whom, capacity, rates, time."""

    subject: OwnerId
    """The consent's owner: the data subject."""
    now: datetime
    consumed: int = 0
    """Capacity already consumed from the record, in minor units (AMOUNT consumption)."""
    pledged: bool = False
    """Whether the record already backs a pledge (PLEDGE consumption)."""
    fx_rates: FxRateTable | None = None

    def __post_init__(self) -> None:
        require_utc("now", self.now)


@dataclass(frozen=True)
class PredicateResult:
    """A predicate's answer, what redeeming it would consume, and public detail (the FX rate)."""

    value: bool
    consumption: Consumption | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


PredicateFn = Callable[
    [Mapping[str, object], Mapping[str, object], PredicateContext, Mapping[str, object]],
    PredicateResult,
]
"""``fn(fields, params, ctx, options) -> PredicateResult``."""


@dataclass(frozen=True)
class Predicate:
    """A registered predicate: its typed parameters, the fields it reads and its options."""

    name: str
    fn: PredicateFn
    params: Mapping[str, ParamSpec]
    requires_fields: tuple[str, ...] = ()
    options: Mapping[str, type] = field(default_factory=dict)
    """Option name -> Python type accepted in the catalog binding."""
    consumes: ConsumptionKind = ConsumptionKind.NONE
    description: str = ""


def predicate(
    name: str,
    *,
    params: Mapping[str, ParamSpec] | None = None,
    requires_fields: Iterable[str] = (),
    options: Mapping[str, type] | None = None,
    consumes: ConsumptionKind = ConsumptionKind.NONE,
) -> Callable[[PredicateFn], Predicate]:
    """Decorator turning a function into a ``Predicate`` value (registered by a registry)."""

    def wrap(fn: PredicateFn) -> Predicate:
        return Predicate(
            name=name,
            fn=fn,
            params=MappingProxyType(dict(params or {})),
            requires_fields=tuple(requires_fields),
            options=MappingProxyType(dict(options or {})),
            consumes=consumes,
            description=(fn.__doc__ or "").strip().split("\n")[0],
        )

    return wrap
