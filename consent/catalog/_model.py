"""Catalog values: domains, fields, predicate bindings and purposes (``Catalog``: ``_catalog``).

DESIGN.md "Minimum sufficiency": per domain, fields with type and sensitivity; predicates; purposes
with the claims they may disclose, the predicates they may evaluate, limits and consumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from types import MappingProxyType

from attestgate.consent.fields import FieldSpec, RecordRule
from attestgate.consent.predicates import ConsumptionKind
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason


class CatalogError(Exception):
    """The catalog data is wrong; raised at load time, naming the file, domain and key."""

    def __init__(self, message: str, *, file: str, domain: str = "", key: str = "") -> None:
        where = ": ".join(
            part for part in (file, f"domain {domain!r}" if domain else "", key) if part
        )
        super().__init__(f"{where}: {message}")
        self.file = file
        self.domain = domain
        self.key = key


@dataclass(frozen=True)
class PredicateBinding:
    """A registered predicate made available in a domain, with its static options."""

    name: str
    options: Mapping[str, object]


@dataclass(frozen=True)
class EvaluationBudget:
    """How many predicate evaluations one bank may have on one record per period.

    Periods are fixed windows counted from the Unix epoch (UTC): the budget renews at the end of
    each window (``period_start``, ``renews_at``). Every predicate an attestation evaluates costs
    one, whatever its result: a bank learns at most ``count`` bits about a record per window.
    """

    count: int
    period: timedelta

    def period_start(self, now: datetime) -> datetime:
        """The start of the window ``now`` falls in."""
        elapsed = now - _EPOCH
        return _EPOCH + (elapsed // self.period) * self.period

    def renews_at(self, now: datetime) -> datetime:
        """When the window ``now`` falls in ends."""
        return self.period_start(now) + self.period

    def describe(self) -> str:
        """``4 per 30d`` (the catalog's notation)."""
        return f"{self.count} per {format_period(self.period)}"


def format_period(period: timedelta) -> str:
    """A period in the catalog's notation: ``30d`` or ``12h``."""
    if period % timedelta(days=1):
        return f"{period // timedelta(hours=1)}h"
    return f"{period.days}d"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PurposeSpec:
    """A purpose template: what it may disclose and evaluate, its limits and its consumption."""

    name: str
    domain: str
    description: str
    claims: tuple[str, ...]
    """Claim names of the fields it may disclose (``DomainSpec.field_of`` gives the field)."""
    predicates: tuple[str, ...]
    """Predicates it may evaluate (each disclosed as a boolean claim)."""
    max_uses: int
    max_validity: timedelta
    default_validity: timedelta
    data_life: timedelta
    """How long the grantee may keep what it learns (AA consent artefact ``DataLife``)."""
    consumption: ConsumptionKind
    evaluation_budget: EvaluationBudget | None = None
    """Predicate evaluations per (bank, record, period); None: unbounded (see docs/catalog.md)."""
    required_bounds: tuple[str, ...] = ()
    """Predicate parameters every new consent request must bound (the owner sees them before
    approving; ``consent.bounds``). Consents from before keep issuing without."""

    @property
    def allowed(self) -> frozenset[str]:
        """Every claim name (field or predicate) the purpose may disclose."""
        return frozenset(self.claims) | frozenset(self.predicates)


@dataclass(frozen=True)
class DomainSpec:
    """One data domain: its record fields, predicates, record rules and purposes."""

    name: str
    description: str
    provider_role: str
    """Role a provider must hold to upload records of this domain."""
    fields: Mapping[str, FieldSpec]
    predicates: Mapping[str, PredicateBinding]
    purposes: Mapping[str, PurposeSpec]
    rules: tuple[RecordRule, ...] = ()
    record_id_public: bool = False
    """Record ids are public asset identifiers (a receipt or patent number, a company's USCC) and
    appear in clear in the audit log; otherwise (the default) the log holds a record pseudonym."""
    claim_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Field -> the claim name it is disclosed under, for fields whose name is not their claim
    name (``[fields.status] claim = "registration_status"``: a registered JWT / SD-JWT VC claim
    name is never used for a claim of another meaning)."""

    def claim_name(self, field_name: str) -> str:
        """The claim name field ``field_name`` is disclosed under."""
        return self.claim_names.get(field_name, field_name)

    @cached_property
    def _claim_fields(self) -> Mapping[str, str]:
        return MappingProxyType({self.claim_name(name): name for name in self.fields})

    def field_of(self, claim: str) -> str | None:
        """The record field disclosed as ``claim``; None for a predicate or an unknown name."""
        return self._claim_fields.get(claim)

    def current_claim(self, name: str) -> str:
        """``name``, or the claim name of the field formerly disclosed as ``name`` (consents and
        requests from before a rename keep their meaning: ``status`` -> ``registration_status``)."""
        if name in self.claim_names and name not in self._claim_fields:
            return self.claim_names[name]
        return name

    def is_claim(self, name: str) -> bool:
        """True when ``name`` is the claim name of a field, or a predicate, of this domain."""
        return name in self._claim_fields or name in self.predicates

    def never_disclosed(self, name: str) -> bool:
        """True when claim ``name`` is a never-disclose field."""
        field_name = self.field_of(name)
        return field_name is not None and self.fields[field_name].never_disclosed

    def purpose(self, name: str) -> PurposeSpec:
        """The purpose ``name``; ``DomainError(UNKNOWN_PURPOSE)`` otherwise."""
        try:
            return self.purposes[name]
        except KeyError:
            raise DomainError(
                Reason.UNKNOWN_PURPOSE,
                f"domain {self.name} has no purpose {name!r}",
                violations=[FieldViolation("purpose", "unknown purpose for the domain")],
            ) from None
