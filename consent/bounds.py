"""Consented parameter bounds: what the owner approved a bank may later ask a predicate.

A consent request may carry ``bounds``, keyed like ``IssueAttestation``'s ``params``: for an
``amount`` or ``int`` parameter a maximum, for any other parameter (``currency``, ``string``,
``bool``) the exact value, e.g. ``{"amount": 5000000, "currency": "USD"}`` for ``covers_amount``
(USD 50,000.00 at most). The owner sees them before approving and may narrow them (a lower
maximum); they are signed in the consent artefact, and an issue outside them is refused with
``PARAMS_EXCEED_CONSENT``. A purpose's ``required_bounds`` (catalog) names the parameters every new
request must bound; consents from before keep issuing without (docs/consent.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from attestgate.consent.catalog import Catalog
from attestgate.consent.currencies import format_amount
from attestgate.consent.predicates import ParamSpec, ParamType, param_problem
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument

BoundValue = int | str | bool
Bounds = Mapping[str, BoundValue]

_MAXIMUM_TYPES = frozenset({ParamType.AMOUNT, ParamType.INT})


def is_maximum(spec: ParamSpec) -> bool:
    """True when a bound on a parameter of this type is a maximum (else the exact value)."""
    return spec.type in _MAXIMUM_TYPES


def purpose_params(catalog: Catalog, domain: str, purpose: str) -> dict[str, ParamSpec]:
    """Every parameter the purpose's predicates take, by name (the first declaration wins)."""
    found: dict[str, ParamSpec] = {}
    for name in catalog.purpose(domain, purpose).predicates:
        for key, spec in catalog.predicates.get(name).params.items():
            found.setdefault(key, spec)
    return found


def _taken(catalog: Catalog, predicates: Collection[str]) -> set[str]:
    """The names of the parameters these predicates take."""
    return {key for name in predicates for key in catalog.predicates.get(name).params}


def _required(
    catalog: Catalog, domain: str, purpose: str, asked: Collection[str]
) -> tuple[str, ...]:
    """The purpose's ``required_bounds`` taken by a predicate among the ``asked`` claims (a
    request that evaluates no such predicate has no parameter to bound)."""
    spec = catalog.purpose(domain, purpose)
    current = {catalog.domain(domain).current_claim(c) for c in asked}
    taken = _taken(catalog, current & set(spec.predicates))
    return tuple(key for key in spec.required_bounds if key in taken)


def describe(name: str, bounds: Bounds, specs: Mapping[str, ParamSpec]) -> str:
    """``at most 5000000 (50,000.00 USD)`` or ``exactly 'USD'``: one bound, for messages."""
    value = bounds[name]
    spec = specs.get(name)
    if spec is not None and is_maximum(spec):
        text = f"at most {value}"
        currency = bounds.get("currency")
        if spec.type is ParamType.AMOUNT and isinstance(currency, str) and isinstance(value, int):
            text += f" ({format_amount(value, currency)})"
        return text
    return f"exactly {value!r}"


def validate_bounds(
    catalog: Catalog,
    domain: str,
    purpose: str,
    bounds: Bounds,
    *,
    asked: Collection[str] | None = None,
) -> dict[str, BoundValue]:
    """``bounds`` checked against the purpose's predicates (``INVALID_ARGUMENT`` listing every
    problem); with the claims ``asked`` for (a new request), the purpose's ``required_bounds``
    that a predicate among them takes must all be present."""
    specs = purpose_params(catalog, domain, purpose)
    violations: list[FieldViolation] = []
    for key, value in bounds.items():
        if key not in specs:
            known = ", ".join(specs) or "none"
            violations.append(
                FieldViolation(
                    f"bounds.{key}", f"not a parameter of purpose {purpose}'s predicates ({known})"
                )
            )
            continue
        problem = param_problem(specs[key], value)
        if problem:
            violations.append(FieldViolation(f"bounds.{key}", problem))
    for key, param in specs.items():
        amount = param.type is ParamType.AMOUNT and key in bounds
        if amount and "currency" in specs and "currency" not in bounds:
            violations.append(
                FieldViolation("bounds.currency", f"required with bounds.{key}: the amount's")
            )
    required = _required(catalog, domain, purpose, asked) if asked is not None else ()
    missing = [key for key in required if key not in bounds]
    for key in missing:
        violations.append(
            FieldViolation(
                f"bounds.{key}", f"required: purpose {purpose} shows the owner this bound"
            )
        )
    if violations:
        if missing:
            message = (
                f"purpose {domain}/{purpose} requires bounds on {', '.join(required)}"
                " (the owner sees them before approving): add bounds to the consent request"
            )
        else:
            message = f"invalid bounds for purpose {domain}/{purpose}"
        raise invalid_argument(*violations, message=message)
    return dict(bounds)


def narrow_bounds(
    catalog: Catalog,
    domain: str,
    purpose: str,
    requested: Bounds,
    approved: Bounds | None,
) -> dict[str, BoundValue]:
    """The bounds an owner approves: ``requested`` with each bound in ``approved`` narrowed.

    A maximum may only be lowered, an exact value only kept; a parameter the request left open
    may be bounded. Widening is refused (``INVALID_ARGUMENT``, naming the requested bound).
    """
    if not approved:
        return dict(requested)
    specs = purpose_params(catalog, domain, purpose)
    merged = dict(requested)
    violations: list[FieldViolation] = []
    for key, value in approved.items():
        spec = specs.get(key)
        if key not in requested or spec is None:
            merged[key] = value
            continue
        asked = requested[key]
        if is_maximum(spec):
            if isinstance(value, int) and isinstance(asked, int) and value > asked:
                violations.append(
                    FieldViolation(
                        f"bounds.{key}",
                        f"above the requested bound ({describe(key, requested, specs)}): "
                        "approval may only lower it",
                    )
                )
                continue
        elif value != asked:
            violations.append(
                FieldViolation(
                    f"bounds.{key}",
                    f"differs from the requested bound ({describe(key, requested, specs)}): "
                    "approval may not change it",
                )
            )
            continue
        merged[key] = value
    if violations:
        raise invalid_argument(
            *violations, message="approved bounds must narrow the request, never widen it"
        )
    return validate_bounds(catalog, domain, purpose, merged)


def check_params(
    catalog: Catalog,
    domain: str,
    purpose: str,
    bounds: Bounds,
    *,
    params: Mapping[str, object],
    evaluated: Sequence[str],
) -> None:
    """Refuse (``PARAMS_EXCEED_CONSENT``) issue parameters outside the consent's bounds.

    Checked: every bounded parameter the bank gives, and every bounded parameter of a predicate
    that will be evaluated (absent, it would escape its bound).
    """
    if not bounds:
        return
    specs = purpose_params(catalog, domain, purpose)
    taken = _taken(catalog, evaluated)
    violations: list[FieldViolation] = []
    for key in bounds:
        if key not in params and key not in taken:
            continue
        shown = describe(key, bounds, specs)
        value = params.get(key)
        spec = specs.get(key)
        if value is not None and spec is not None and param_problem(spec, value):
            continue  # malformed ("usd"): the predicate's own check refuses it (INVALID_ARGUMENT)
        if value is None:
            violations.append(
                FieldViolation(f"params.{key}", f"required: the consent allows {shown}")
            )
        elif spec is not None and is_maximum(spec):
            limit = bounds[key]
            if not isinstance(value, int) or not isinstance(limit, int):
                continue  # not comparable: the bound is malformed (never stored)
            if value > limit:
                violations.append(
                    FieldViolation(f"params.{key}", f"above the consent's bound: {shown}")
                )
        elif value != bounds[key]:
            violations.append(
                FieldViolation(f"params.{key}", f"outside the consent's bound: {shown}")
            )
    if violations:
        first = violations[0].field.removeprefix("params.")
        raise DomainError(
            Reason.PARAMS_EXCEED_CONSENT,
            f"params.{first} exceeds the consent: the owner approved {first} "
            f"{describe(first, bounds, specs)}; issue within the consent's bounds or ask for a "
            "new consent",
            violations=violations,
            metadata={"param": first, "bound": str(bounds[first])},
        )
