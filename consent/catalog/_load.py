"""Parse and validate catalog TOML files; a mistake is a ``CatalogError`` naming file, domain, key.

File format (one domain per file)::

    domain = "income"            # [a-z][a-z0-9_]*
    description = "..."
    provider_role = "tax_bureau"
    record_id_public = false     # true: record ids are public asset ids, in clear in the log
    [fields.<name>]              type, sensitivity, max_length, values, required, currency,
                                 description, claim (the name it is disclosed under; default:
                                 the field name; never a registered JWT / SD-JWT VC claim name)
    [predicates.<name>]          options = {...}, description  (name must be registered)
    [purposes.<name>]            description, claims (claim names), predicates, max_uses,
                                 max_validity_days, default_validity_days, data_life_days,
                                 consumption,
                                 evaluation_budget = { count = 4, period = "30d" } (period: Nd
                                 or Nh; required when a predicate takes the bank's parameters),
                                 required_bounds = ["amount", "currency"] (parameters of its
                                 predicates every consent request asking for such a predicate
                                 must bound)
    [[rules]]                    kind = "date_span" (start, end, max_years)
                                 | kind = "required_when" (field, equals, require)

Unknown keys are errors, so a typo cannot silently drop a limit.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from attestgate.consent.catalog._model import (
    CatalogError,
    DomainSpec,
    EvaluationBudget,
    PredicateBinding,
    PurposeSpec,
)
from attestgate.consent.currencies import is_known_currency
from attestgate.consent.fields import (
    DEFAULT_MAX_LENGTH,
    DateSpanRule,
    FieldSpec,
    FieldType,
    RecordRule,
    RequiredWhenRule,
    Sensitivity,
)
from attestgate.consent.predicates import ConsumptionKind, ParamType, PredicateRegistry
from attestgate.protocol.sdjwt_format import REGISTERED_CLAIM_NAMES

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_DOMAIN_KEYS = {
    "domain",
    "description",
    "provider_role",
    "record_id_public",
    "fields",
    "predicates",
    "purposes",
    "rules",
}
_FIELD_KEYS = {
    "type",
    "sensitivity",
    "max_length",
    "values",
    "required",
    "currency",
    "description",
    "claim",
}
_PURPOSE_KEYS = {
    "description",
    "claims",
    "predicates",
    "max_uses",
    "max_validity_days",
    "default_validity_days",
    "data_life_days",
    "consumption",
    "evaluation_budget",
    "required_bounds",
}
_PERIOD = re.compile(r"([1-9][0-9]{0,4})([dh])")


@dataclass(frozen=True)
class _Where:
    """Error context: which file and domain is being read."""

    file: str
    domain: str = ""

    def error(self, key: str, message: str) -> CatalogError:
        return CatalogError(message, file=self.file, domain=self.domain, key=key)

    def table(self, value: object, key: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        extras = sorted(set(value) - allowed) if allowed is not None else []
        if extras:
            raise self.error(f"{key}.{extras[0]}" if key else extras[0], "unknown key")
        return value

    def text(
        self, table: Mapping[str, Any], key: str, path: str, default: str | None = None
    ) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.error(path, "required string" if value is None else "must be a string")
        return value

    def integer(self, table: Mapping[str, Any], key: str, path: str, *, low: int) -> int:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, "required integer" if value is None else "must be an integer")
        if value < low:
            raise self.error(path, f"must be at least {low}")
        return value

    def flag(self, table: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(path, "must be a boolean")
        return value

    def names(self, table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(path, "must be a list of strings")
        for item in value:
            if value.count(item) > 1:
                raise self.error(path, f"duplicate name {item!r}")
        return tuple(value)


def load_domains(
    sources: Sequence[tuple[str, bytes]], registry: PredicateRegistry
) -> dict[str, DomainSpec]:
    """Parse every ``(file name, TOML bytes)``; domains must be unique across files."""
    domains: dict[str, DomainSpec] = {}
    origin: dict[str, str] = {}
    for file_name, data in sources:
        spec = parse_domain(file_name, data, registry)
        if spec.name in domains:
            raise CatalogError(
                f"duplicate domain, already defined in {origin[spec.name]}",
                file=file_name,
                domain=spec.name,
            )
        domains[spec.name], origin[spec.name] = spec, file_name
    return domains


def parse_domain(file_name: str, data: bytes, registry: PredicateRegistry) -> DomainSpec:
    """One domain file, fully validated."""
    where = _Where(file_name)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise where.error("", f"not valid UTF-8 TOML ({exc})") from None
    name = where.text(doc, "domain", "domain")
    if not _NAME.fullmatch(name):
        raise where.error("domain", "must match [a-z][a-z0-9_]*")
    where = _Where(file_name, name)
    where.table(doc, "", _DOMAIN_KEYS)
    fields = {
        key: _field(where, key, value)
        for key, value in where.table(doc.get("fields"), "fields").items()
    }
    if not fields:
        raise where.error("fields", "a domain needs at least one field")
    claim_names = _claim_names(where, where.table(doc.get("fields"), "fields"), fields)
    predicates = _predicates(where, doc.get("predicates", {}), fields, registry)
    for predicate in predicates:
        if predicate in claim_names.values():
            raise where.error(f"predicates.{predicate}", "duplicate name: a field's claim has it")
    claims = {claim_names.get(field, field): field for field in fields}
    purposes = {
        key: _purpose(
            where,
            key,
            value,
            fields=fields,
            claims=claims,
            predicates=predicates,
            registry=registry,
        )
        for key, value in where.table(doc.get("purposes", {}), "purposes").items()
    }
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise where.error("rules", "must be an array of tables ([[rules]])")
    rules = tuple(_rule(where, i, value, fields) for i, value in enumerate(raw_rules))
    provider_role = where.text(doc, "provider_role", "provider_role")
    if not _NAME.fullmatch(provider_role):  # a role name the provider registry can store
        raise where.error("provider_role", "must match [a-z][a-z0-9_]*")
    return DomainSpec(
        name=name,
        description=where.text(doc, "description", "description", ""),
        provider_role=provider_role,
        fields=MappingProxyType(fields),
        predicates=MappingProxyType(predicates),
        purposes=MappingProxyType(purposes),
        rules=rules,
        record_id_public=where.flag(doc, "record_id_public", "record_id_public", default=False),
        claim_names=MappingProxyType(claim_names),
    )


def _claim_names(
    where: _Where, raw_fields: Mapping[str, Any], fields: Mapping[str, FieldSpec]
) -> dict[str, str]:
    """Field -> claim name, for the fields with a ``claim`` of their own; names checked unique."""
    renamed: dict[str, str] = {}
    for name, table in raw_fields.items():
        path = f"fields.{name}.claim"
        claim = where.text(table, "claim", path, "")
        if not claim or claim == name:
            continue
        if not _NAME.fullmatch(claim):
            raise where.error(path, "claim names must match [a-z][a-z0-9_]*")
        if claim in fields:
            raise where.error(path, f"{claim!r} is the name of another field")
        if claim in renamed.values():
            raise where.error(path, f"{claim!r} is already another field's claim name")
        renamed[name] = claim
    return renamed


def _field(where: _Where, name: str, raw: object) -> FieldSpec:
    path = f"fields.{name}"
    table = where.table(raw, path, _FIELD_KEYS)
    if not _NAME.fullmatch(name):
        raise where.error(path, "field names must match [a-z][a-z0-9_]*")
    type_text = where.text(table, "type", f"{path}.type")
    if type_text not in set(FieldType):
        raise where.error(f"{path}.type", f"unknown field type {type_text!r}")
    sensitivity = where.text(table, "sensitivity", f"{path}.sensitivity")
    if sensitivity not in set(Sensitivity):
        raise where.error(f"{path}.sensitivity", f"unknown sensitivity {sensitivity!r}")
    field_type = FieldType(type_text)
    values = where.names(table, "values", f"{path}.values")
    if (field_type is FieldType.ENUM) != bool(values):
        raise where.error(f"{path}.values", "required for enum fields and only for them")
    currency = where.text(table, "currency", f"{path}.currency", "")
    if (field_type is FieldType.AMOUNT) != bool(currency) or (
        currency and not is_known_currency(currency)
    ):
        raise where.error(f"{path}.currency", "amount fields need a known ISO 4217 currency")
    max_length = DEFAULT_MAX_LENGTH
    if "max_length" in table:
        max_length = where.integer(table, "max_length", f"{path}.max_length", low=1)
    required = where.flag(table, "required", f"{path}.required", default=True)
    return FieldSpec(
        name=name,
        type=field_type,
        sensitivity=Sensitivity(sensitivity),
        max_length=max_length,
        values=values,
        required=required,
        currency=currency,
        description=where.text(table, "description", f"{path}.description", ""),
    )


def _predicates(
    where: _Where, raw: object, fields: Mapping[str, FieldSpec], registry: PredicateRegistry
) -> dict[str, PredicateBinding]:
    bindings: dict[str, PredicateBinding] = {}
    for name, value in where.table(raw, "predicates").items():
        path = f"predicates.{name}"
        table = where.table(value, path, {"options", "description"})
        if name not in registry:
            raise where.error(path, f"predicate {name!r} is not registered")
        if name in fields:
            raise where.error(path, "duplicate name: a field has the same name")
        registered = registry.get(name)
        for needed in registered.requires_fields:
            if needed not in fields:
                raise where.error(path, f"predicate reads field {needed!r}, not in the domain")
        options = where.table(table.get("options", {}), f"{path}.options")
        for key, option in options.items():
            expected = registered.options.get(key)
            if expected is None:
                raise where.error(f"{path}.options.{key}", "unknown option")
            if not isinstance(option, expected) or isinstance(option, bool) != (expected is bool):
                raise where.error(f"{path}.options.{key}", f"must be {expected.__name__}")
        bindings[name] = PredicateBinding(name, MappingProxyType(dict(options)))
    return bindings


def _purpose(
    where: _Where,
    name: str,
    raw: object,
    *,
    fields: Mapping[str, FieldSpec],
    claims: Mapping[str, str],
    predicates: Mapping[str, PredicateBinding],
    registry: PredicateRegistry,
) -> PurposeSpec:
    path = f"purposes.{name}"
    table = where.table(raw, path, _PURPOSE_KEYS)
    if not _NAME.fullmatch(name):
        raise where.error(path, "purpose names must match [a-z][a-z0-9_]*")
    disclosed, evaluated = _purpose_claims(
        where, path, table=table, fields=fields, claims=claims, predicates=predicates
    )
    max_validity = where.integer(table, "max_validity_days", f"{path}.max_validity_days", low=1)
    default = where.integer(table, "default_validity_days", f"{path}.default_validity_days", low=1)
    if default > max_validity:
        raise where.error(f"{path}.default_validity_days", "exceeds max_validity_days")
    consumption = where.text(table, "consumption", f"{path}.consumption", "none")
    if consumption not in set(ConsumptionKind):
        raise where.error(f"{path}.consumption", f"unknown consumption kind {consumption!r}")
    kind = ConsumptionKind(consumption)
    if kind is ConsumptionKind.AMOUNT and not any(
        registry.get(p).consumes is ConsumptionKind.AMOUNT for p in evaluated
    ):
        raise where.error(f"{path}.consumption", "amount consumption needs an amount predicate")
    return PurposeSpec(
        name=name,
        domain=where.domain,
        description=where.text(table, "description", f"{path}.description", ""),
        claims=disclosed,
        predicates=evaluated,
        max_uses=where.integer(table, "max_uses", f"{path}.max_uses", low=1),
        max_validity=timedelta(days=max_validity),
        default_validity=timedelta(days=default),
        data_life=timedelta(
            days=where.integer(table, "data_life_days", f"{path}.data_life_days", low=0)
        ),
        consumption=kind,
        evaluation_budget=_budget(where, path, table, evaluated, registry),
        required_bounds=_required_bounds(where, path, table, evaluated, registry),
    )


def _required_bounds(
    where: _Where,
    path: str,
    table: Mapping[str, Any],
    evaluated: Sequence[str],
    registry: PredicateRegistry,
) -> tuple[str, ...]:
    """Parameters of the purpose's predicates that every consent request must bound; an amount
    needs its predicate's currency listed too (a maximum in no currency bounds nothing)."""
    key = f"{path}.required_bounds"
    listed = where.names(table, "required_bounds", key)
    params = {name: spec for p in evaluated for name, spec in registry.get(p).params.items()}
    for name in listed:
        if name not in params:
            known = ", ".join(
                f"{p}: {', '.join(registry.get(p).params) or 'none'}" for p in evaluated
            )
            raise where.error(
                key, f"{name!r} is not a parameter of the purpose's predicates ({known or 'none'})"
            )
        if (
            params[name].type is ParamType.AMOUNT
            and "currency" in params
            and "currency" not in listed
        ):
            raise where.error(key, f"{name!r} is an amount: list 'currency' too")
    return listed


def _budget(
    where: _Where,
    path: str,
    table: Mapping[str, Any],
    evaluated: Sequence[str],
    registry: PredicateRegistry,
) -> EvaluationBudget | None:
    """The purpose's evaluation budget; required when a predicate takes the bank's parameters
    (those can be bisected: docs/catalog.md "Evaluation budgets")."""
    key = f"{path}.evaluation_budget"
    if "evaluation_budget" not in table:
        chosen = [name for name in evaluated if registry.get(name).params]
        if chosen:
            raise where.error(key, f"required: predicate {chosen[0]!r} takes the bank's parameters")
        return None
    budget = where.table(table["evaluation_budget"], key, {"count", "period"})
    period = where.text(budget, "period", f"{key}.period")
    match = _PERIOD.fullmatch(period)
    if match is None:
        raise where.error(f"{key}.period", 'must be a number of days or hours: "30d", "12h"')
    unit = timedelta(days=1) if match[2] == "d" else timedelta(hours=1)
    count = where.integer(budget, "count", f"{key}.count", low=1)
    return EvaluationBudget(count=count, period=int(match[1]) * unit)


def _purpose_claims(
    where: _Where,
    path: str,
    *,
    table: Mapping[str, Any],
    fields: Mapping[str, FieldSpec],
    claims: Mapping[str, str],
    predicates: Mapping[str, PredicateBinding],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The claim names of the fields a purpose discloses and the predicates it evaluates,
    checked; ``claims`` maps every claim name of the domain to its field."""
    listed = where.names(table, "claims", f"{path}.claims")
    for claim in listed:
        if claim in predicates:
            raise where.error(f"{path}.claims", f"{claim!r} is a predicate: list it in predicates")
        if claim not in claims and claim in fields:
            raise where.error(
                f"{path}.claims",
                f"field {claim!r} is disclosed as claim {_claim_of(claims, claim)!r}: list that",
            )
        if claim not in claims:
            raise where.error(f"{path}.claims", f"unknown claim {claim!r}")
        if fields[claims[claim]].never_disclosed:
            raise where.error(f"{path}.claims", f"never-disclose field {claim!r} is listed")
    evaluated = where.names(table, "predicates", f"{path}.predicates")
    for item in evaluated:
        if item not in predicates:
            raise where.error(f"{path}.predicates", f"predicate {item!r} is not in the domain")
    _refuse_registered_names(where, path, (*listed, *evaluated))
    if not listed and not evaluated:
        raise where.error(path, "a purpose must allow at least one claim or predicate")
    return listed, evaluated


def _claim_of(claims: Mapping[str, str], field_name: str) -> str:
    return next(claim for claim, name in claims.items() if name == field_name)


def _refuse_registered_names(where: _Where, path: str, disclosed: Sequence[str]) -> None:
    """No purpose discloses a registered JWT / SD-JWT VC claim name (``status``, ``iss``, ``exp``,
    ...: ``protocol.sdjwt_format.REGISTERED_CLAIM_NAMES``) under a meaning of its own."""
    for claim in disclosed:
        if claim in REGISTERED_CLAIM_NAMES:
            purpose = path.removeprefix("purposes.")
            raise where.error(
                f"{path}.claims",
                f"purpose {purpose!r} would disclose {claim!r}, a registered JWT / SD-JWT VC "
                "claim name with a meaning of its own (SD-JWT VC verifiers refuse or misread "
                f'it); give the field another claim name: [fields.{claim}] claim = "..."',
            )


def _rule(where: _Where, index: int, raw: object, fields: Mapping[str, FieldSpec]) -> RecordRule:
    path = f"rules[{index}]"
    table = where.table(raw, path)
    kind = where.text(table, "kind", f"{path}.kind")
    if kind == "date_span":
        where.table(table, path, {"kind", "start", "end", "max_years"})
        rule_fields = (where.text(table, "start", path), where.text(table, "end", path))
        for name in rule_fields:
            if name not in fields or fields[name].type is not FieldType.DATE:
                raise where.error(path, f"{name!r} is not a date field of the domain")
        years = where.integer(table, "max_years", f"{path}.max_years", low=1)
        return DateSpanRule(rule_fields[0], rule_fields[1], years)
    if kind == "required_when":
        where.table(table, path, {"kind", "field", "equals", "require"})
        field, equals = where.text(table, "field", path), where.text(table, "equals", path)
        if field not in fields or equals not in fields[field].values:
            raise where.error(path, f"{field!r} is not an enum field with value {equals!r}")
        require = where.names(table, "require", f"{path}.require")
        for name in require:
            if name not in fields:
                raise where.error(f"{path}.require", f"unknown field {name!r}")
        return RequiredWhenRule(field, equals, require)
    raise where.error(f"{path}.kind", f"unknown rule kind {kind!r}")
