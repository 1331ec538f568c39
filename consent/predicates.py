"""Predicates: named, typed computations over a record that disclose one boolean, not the data.

DESIGN.md "Minimum sufficiency": a predicate is a registered function with typed parameters. The
catalog binds predicates to domains by name (with static ``options``, e.g. which statuses count as
unencumbered) and purposes list which ones they may evaluate. A bank supplies ``params`` (amount,
currency); they are validated here before anything is read.

Registries are plain values: ``PredicateRegistry.default()`` holds the built-ins
(``consent.builtin_predicates``); a deployment may add its own with ``registry.with_predicates``.
What a predicate is (``Predicate``, ``ParamSpec``, ``PredicateContext``, the ``predicate``
decorator, ...) is defined in ``consent.predicate_types``, which the built-ins import too, and
re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from attestgate.consent.builtin_predicates import BUILTIN_PREDICATES
from attestgate.consent.currencies import is_currency_shape, is_known_currency
from attestgate.consent.predicate_types import (
    Consumption,
    ConsumptionKind,
    ParamSpec,
    ParamType,
    Predicate,
    PredicateContext,
    PredicateFn,
    PredicateResult,
    predicate,
)
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason

__all__ = [
    "Consumption",
    "ConsumptionKind",
    "ParamSpec",
    "ParamType",
    "Predicate",
    "PredicateContext",
    "PredicateFn",
    "PredicateRegistry",
    "PredicateResult",
    "evaluate",
    "param_problem",
    "predicate",
]

_EMPTY: Mapping[str, object] = MappingProxyType({})


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
        if spec.type is ParamType.AMOUNT and value <= 0:
            return "must be positive (integer minor units of the currency)"
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


def param_problem(spec: ParamSpec, value: object) -> str:
    """What is wrong with ``value`` for a parameter of type ``spec`` (``""``: nothing)."""
    return _param_problem(spec, value)


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
