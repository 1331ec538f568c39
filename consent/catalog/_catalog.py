"""The catalog: every domain the gateway serves, loaded from TOML and bound to a predicate registry.

The values it holds are in ``_model``, the TOML parser in ``_load``; this module uses both (and
neither imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from attestgate.consent.catalog._load import load_domains
from attestgate.consent.catalog._model import DomainSpec, PurposeSpec
from attestgate.consent.predicates import PredicateContext, PredicateRegistry, PredicateResult
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason


class Catalog:
    """Every domain the gateway serves, validated against a predicate registry."""

    def __init__(self, domains: Mapping[str, DomainSpec], predicates: PredicateRegistry) -> None:
        self._domains = dict(domains)
        self.predicates = predicates

    @classmethod
    def load_default(cls, *, predicates: PredicateRegistry | None = None) -> Catalog:
        """The catalog shipped in ``consent/catalog/*.toml``."""
        root = resources.files("attestgate.consent.catalog")
        sources = [
            (entry.name, entry.read_bytes())
            for entry in root.iterdir()
            if entry.name.endswith(".toml") and entry.is_file()
        ]
        return cls._build(sources, predicates)

    @classmethod
    def from_dir(cls, path: str | Path, *, predicates: PredicateRegistry | None = None) -> Catalog:
        """A catalog from every ``*.toml`` file in ``path``."""
        files = sorted(Path(path).glob("*.toml"))
        return cls._build([(f.name, f.read_bytes()) for f in files], predicates)

    @classmethod
    def _build(
        cls, sources: list[tuple[str, bytes]], predicates: PredicateRegistry | None
    ) -> Catalog:
        registry = predicates if predicates is not None else PredicateRegistry.default()
        return cls(load_domains(sorted(sources), registry), registry)

    @property
    def domains(self) -> Mapping[str, DomainSpec]:
        """Domains by name."""
        return dict(self._domains)

    def domain(self, name: str) -> DomainSpec:
        """The domain ``name``; ``DomainError(UNKNOWN_DOMAIN)`` otherwise."""
        try:
            return self._domains[name]
        except KeyError:
            raise DomainError(
                Reason.UNKNOWN_DOMAIN,
                f"unknown domain {name!r}",
                violations=[FieldViolation("domain", "unknown domain")],
            ) from None

    def purpose(self, domain: str, purpose: str) -> PurposeSpec:
        """The purpose of a domain; UNKNOWN_DOMAIN or UNKNOWN_PURPOSE otherwise."""
        return self.domain(domain).purpose(purpose)

    def evaluate(
        self,
        domain: str,
        name: str,
        fields: Mapping[str, object],
        params: Mapping[str, object],
        ctx: PredicateContext,
    ) -> PredicateResult:
        """Evaluate predicate ``name`` as bound in ``domain`` (its options applied)."""
        binding = self.domain(domain).predicates.get(name)
        if binding is None:
            raise DomainError(Reason.UNKNOWN_CLAIM, f"domain {domain} has no predicate {name!r}")
        return self.predicates.evaluate(name, fields, params, ctx, options=binding.options)
