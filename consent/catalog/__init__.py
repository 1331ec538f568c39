"""The catalog: domains, fields, predicates and purposes, shipped as data files in this package.

``Catalog.load_default()`` reads every ``*.toml`` beside this module; ``Catalog.from_dir(path)``
reads a deployment's own directory. Both validate at load time and raise ``CatalogError`` naming the
file, domain and key of the first mistake. Domain, field, predicate and purpose names are public
API.
"""

from attestgate.consent.catalog._catalog import Catalog
from attestgate.consent.catalog._model import (
    CatalogError,
    DomainSpec,
    EvaluationBudget,
    PredicateBinding,
    PurposeSpec,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "DomainSpec",
    "EvaluationBudget",
    "PredicateBinding",
    "PurposeSpec",
]
