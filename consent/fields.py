"""Field types, sensitivities and record rules declared by the catalog, and value checks.

A provider uploads a record as a mapping of field name to JSON-like value. Each field's declared
type decides what is accepted and how it is normalized (dates become ISO 8601 ``YYYY-MM-DD`` text so
a record serializes to canonical JSON). Error descriptions never quote the offending value: record
values are personal data (DESIGN.md "Errors": no personal values in messages).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from attestgate.protocol.reasons import FieldViolation

INT64_MAX = 2**63 - 1
DEFAULT_MAX_LENGTH = 256


class FieldType(StrEnum):
    """The value types a catalog field may declare."""

    INT = "int"
    AMOUNT = "amount"
    """A non-negative integer in minor units of the field's currency."""
    STRING = "string"
    DATE = "date"
    ENUM = "enum"
    BOOL = "bool"


class Sensitivity(StrEnum):
    """How sensitive a field is; NEVER_DISCLOSE fields cannot leave the gateway."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    NEVER_DISCLOSE = "never_disclose"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a domain's records."""

    name: str
    type: FieldType
    sensitivity: Sensitivity
    max_length: int = DEFAULT_MAX_LENGTH
    values: tuple[str, ...] = ()
    """Allowed values of an ENUM field."""
    required: bool = True
    currency: str = ""
    """ISO 4217 currency of an AMOUNT field."""
    description: str = ""

    @property
    def never_disclosed(self) -> bool:
        """True when the field may never be disclosed, whatever the purpose or consent."""
        return self.sensitivity is Sensitivity.NEVER_DISCLOSE


def normalize_value(spec: FieldSpec, value: object) -> object:
    """``value`` checked against ``spec`` and normalized; ``ValueError`` says what is wrong."""
    if spec.type in (FieldType.INT, FieldType.AMOUNT):
        return _integer(spec, value)
    if spec.type is FieldType.BOOL:
        if not isinstance(value, bool):
            raise ValueError("must be a boolean")
        return value
    if spec.type is FieldType.DATE:
        return _date(value).isoformat()
    text = _text(spec, value)
    if spec.type is FieldType.ENUM and text not in spec.values:
        raise ValueError(f"must be one of {', '.join(spec.values)}")
    return text


def parse_date(value: object) -> date:
    """A date from ``YYYY-MM-DD`` text or a ``date``; ``ValueError`` otherwise."""
    return _date(value)


def _integer(spec: FieldSpec, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    low = 0 if spec.type is FieldType.AMOUNT else -INT64_MAX - 1
    if not low <= value <= INT64_MAX:
        raise ValueError("out of range" if value >= 0 else "must not be negative")
    return value


def _date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError("must be a date without a time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)") from None


def _text(spec: FieldSpec, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > spec.max_length:
        raise ValueError(f"longer than {spec.max_length} characters")
    # Control characters have no place in a registry value and break log and display safety.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("contains control characters")
    return value


def add_years(start: date, years: int) -> date:
    """``start`` plus whole calendar years; 29 February falls back to 28 February."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


@dataclass(frozen=True)
class DateSpanRule:
    """``end`` must not precede ``start`` and lies at most ``max_years`` after it.

    Example: a business closure lasts at most three years (Shenzhen Special Economic Zone Commercial
    Registration Provisions, 2021; see docs context seed "closure registration system").
    """

    start: str
    end: str
    max_years: int

    def check(self, fields: Mapping[str, object]) -> list[FieldViolation]:
        """Violations of this rule in normalized ``fields`` (absent dates are not checked)."""
        start, end = fields.get(self.start), fields.get(self.end)
        if start is None or end is None:
            return []
        first, last = parse_date(start), parse_date(end)
        if last < first:
            return [FieldViolation(f"fields.{self.end}", f"must not precede {self.start}")]
        if last > add_years(first, self.max_years):
            text = f"must be at most {self.max_years} years after {self.start}"
            return [FieldViolation(f"fields.{self.end}", text)]
        return []


@dataclass(frozen=True)
class RequiredWhenRule:
    """When ``field`` equals ``equals``, every field in ``require`` must be present."""

    field: str
    equals: str
    require: tuple[str, ...]

    def check(self, fields: Mapping[str, object]) -> list[FieldViolation]:
        """Violations of this rule in normalized ``fields``."""
        if fields.get(self.field) != self.equals:
            return []
        return [
            FieldViolation(f"fields.{name}", f"required when {self.field} is {self.equals}")
            for name in self.require
            if fields.get(name) is None
        ]


RecordRule = DateSpanRule | RequiredWhenRule
"""A cross-field rule checked on every uploaded record."""
