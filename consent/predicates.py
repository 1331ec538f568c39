"""Predicates: named, typed computations over a record that disclose one boolean, not the data.

DESIGN.md "Minimum sufficiency": a predicate is a registered function with typed parameters. The
catalog binds predicates to domains by name (with static ``options``, e.g. which statuses count as
unencumbered) and purposes list which ones they may evaluate. A bank supplies ``params`` (amount,
currency); they are validated here before anything is read.

Registries are plain values: ``PredicateRegistry.default()`` holds the built-ins
(``consent.builtin_predicates``); a deployment may add its own with ``registry.with_predicates``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from attestgate.consent.currencies import is_currency_shape, is_known_currency
from attestgate.consent.fx import FxRateTable
from attestgate.consent.model import OwnerId, require_utc
from attestgate.sdk.reasons import DomainError, FieldViolation, Reason

_EMPTY: Mapping[str, object] = MappingProxyType({})


class ParamType(StrEnum):
    """Types of predicate parameters."""

    AMOUNT = "amount"
    """Non-negative integer in minor units."""
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


class PredicateRegistry:
    """An immutable set of predicates by name."""

    def __init__(self, predicates: Iterable[Predicate]) -> None:
        table: dict[str, Predicate] = {}
        for item in predicates:
            if item.name in table:
                raise ValueError(f"predicate {item.name!r} registered twice")
            table[item.name] = item
        self._table: Mapping[str, Predicate] = MappingProxyType(table)

    @classmethod
    def default(cls) -> PredicateRegistry:
        """The built-in predicates (covers_amount, unencumbered, owned_by_subject, ...)."""
        from attestgate.consent.builtin_predicates import BUILTIN_PREDICATES  # noqa: PLC0415 - avoids a cycle

        return cls(BUILTIN_PREDICATES)

    def with_predicates(self, *extra: Predicate) -> PredicateRegistry:
        """A new registry with ``extra`` added (names must not clash)."""
        return PredicateRegistry([*self._table.values(), *extra])

    def __contains__(self, name: object) -> bool:
        return name in self._table

    @property
    def names(self) -> frozenset[str]:
        """Names of every registered predicate."""
        return frozenset(self._table)

    def get(self, name: str) -> Predicate:
        """The predicate ``name``; ``DomainError(UNKNOWN_CLAIM)`` if none is registered."""
        try:
            return self._table[name]
        except KeyError:
            raise DomainError(Reason.UNKNOWN_CLAIM, f"no predicate named {name!r}") from None

    def validate_params(self, name: str, params: Mapping[str, object]) -> dict[str, object]:
        """Checked parameters; ``DomainError(INVALID_PREDICATE_PARAMS)`` listing every problem."""
        spec = self.get(name).params
        violations = [
            FieldViolation(f"params.{key}", "unknown parameter")
            for key in params
            if key not in spec
        ]
        for key, param in spec.items():
            if key not in params:
                if param.required:
                    violations.append(FieldViolation(f"params.{key}", "required"))
                continue
            problem = _param_problem(param, params[key])
            if problem:
                violations.append(FieldViolation(f"params.{key}", problem))
        if violations:
            raise DomainError(
                Reason.INVALID_PREDICATE_PARAMS,
                f"invalid parameters for predicate {name}",
                violations=violations,
            )
        return {key: params[key] for key in spec if key in params}

    def evaluate(
        self,
        name: str,
        fields: Mapping[str, object],
        params: Mapping[str, object],
        ctx: PredicateContext,
        *,
        options: Mapping[str, object] | None = None,
    ) -> PredicateResult:
        """Validate ``params`` and run predicate ``name`` over a record's ``fields``."""
        checked = self.validate_params(name, params)
        return self.get(name).fn(fields, checked, ctx, options or _EMPTY)


def _param_problem(spec: ParamSpec, value: object) -> str:
    """What is wrong with ``value`` for ``spec`` ("" when nothing); never quotes the value."""
    if spec.type in (ParamType.AMOUNT, ParamType.INT):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        if spec.type is ParamType.AMOUNT and value < 0:
            return "must not be negative"
        return "out of range" if abs(value) > 2**63 - 1 else ""
    if spec.type is ParamType.BOOL:
        return "" if isinstance(value, bool) else "must be a boolean"
    if not isinstance(value, str):
        return "must be a string"
    if spec.type is ParamType.CURRENCY:
        if not is_currency_shape(value):
            return "must be an ISO 4217 code (three uppercase letters)"
        return "" if is_known_currency(value) else "not a known ISO 4217 currency"
    return f"longer than {spec.max_length} characters" if len(value) > spec.max_length else ""


def evaluate(
    name: str,
    fields: Mapping[str, object],
    params: Mapping[str, object],
    ctx: PredicateContext,
    *,
    options: Mapping[str, object] | None = None,
    registry: PredicateRegistry | None = None,
) -> PredicateResult:
    """Evaluate ``name`` with ``registry`` (the built-ins by default); see ``Catalog.evaluate``."""
    chosen = registry if registry is not None else PredicateRegistry.default()
    return chosen.evaluate(name, fields, params, ctx, options=options)
