"""Minimum sufficiency: what a purpose allows, what a request may ask, what a record may hold.

DESIGN.md "Minimum sufficiency": disclosed = requested ∩ consented ∩ purpose-allowed, every withheld
claim reported with a reason, never-disclose fields never leave. Purpose templates cap validity,
uses and claims when a consent is requested (DESIGN.md "Consent"). Bad input is refused before any
state changes, with a stable reason and ``FieldViolation``s naming the request field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from attestgate.consent.catalog import Catalog, DomainSpec, PurposeSpec
from attestgate.consent.fields import normalize_value
from attestgate.protocol.reasons import DomainError, FieldViolation, Reason, invalid_argument


class WithheldReason(StrEnum):
    """Why a requested claim was not disclosed."""

    NOT_CONSENTED = "NOT_CONSENTED"
    NOT_ALLOWED_FOR_PURPOSE = "NOT_ALLOWED_FOR_PURPOSE"
    UNKNOWN_CLAIM = "UNKNOWN_CLAIM"
    NEVER_DISCLOSED = "NEVER_DISCLOSED"


@dataclass(frozen=True)
class Withheld:
    """One requested claim that is not disclosed, and why."""

    claim: str
    reason: WithheldReason


@dataclass(frozen=True)
class Disclosure:
    """The outcome of minimum sufficiency: what is disclosed, what is withheld and why."""

    disclosed: tuple[str, ...]
    withheld: tuple[Withheld, ...]


@dataclass(frozen=True)
class ValidatedRequest:
    """A consent request's terms after the purpose limits were applied."""

    purpose: PurposeSpec
    claims: tuple[str, ...]
    valid_for: timedelta
    max_uses: int


def decide(
    catalog: Catalog,
    *,
    domain: str,
    purpose: str,
    requested: Sequence[str],
    consented: Sequence[str],
) -> Disclosure:
    """Disclosed = requested ∩ consented ∩ allowed, in request order; NOTHING_TO_DISCLOSE if empty.

    A claim is checked most-fundamental first, so it gets exactly one reason: unknown to the domain,
    then never-disclose, then outside the purpose, then outside the owner's consent.
    """
    spec = catalog.domain(domain)
    allowed = spec.purpose(purpose).allowed
    # Consents and requests from before a claim was renamed name it by its former name.
    granted = {spec.current_claim(claim) for claim in consented}
    disclosed: list[str] = []
    withheld: list[Withheld] = []
    for claim in dict.fromkeys(spec.current_claim(c) for c in requested):  # de-duplicate
        if not spec.is_claim(claim):
            withheld.append(Withheld(claim, WithheldReason.UNKNOWN_CLAIM))
        elif spec.never_disclosed(claim):
            withheld.append(Withheld(claim, WithheldReason.NEVER_DISCLOSED))
        elif claim not in allowed:
            withheld.append(Withheld(claim, WithheldReason.NOT_ALLOWED_FOR_PURPOSE))
        elif claim not in granted:
            withheld.append(Withheld(claim, WithheldReason.NOT_CONSENTED))
        else:
            disclosed.append(claim)
    if not disclosed:
        raise DomainError(
            Reason.NOTHING_TO_DISCLOSE,
            "none of the requested claims may be disclosed",
            metadata={"withheld": ",".join(f"{w.claim}:{w.reason.value}" for w in withheld)},
        )
    return Disclosure(tuple(disclosed), tuple(withheld))


def validate_request(
    catalog: Catalog,
    *,
    domain: str,
    purpose: str,
    claims: Sequence[str],
    valid_for: timedelta | None,
    max_uses: int,
) -> ValidatedRequest:
    """Check a consent request against its purpose template; ``valid_for=None`` takes the default.

    Every problem is listed as a ``FieldViolation``; the reason is the first by precedence
    (unknown claim, claim not allowed, validity, uses, other).
    """
    spec = catalog.purpose(domain, purpose)
    domain_spec = catalog.domain(domain)
    claims = [domain_spec.current_claim(claim) for claim in claims]  # a former name still works
    found: list[tuple[Reason, FieldViolation]] = []
    if not claims:
        found.append((Reason.INVALID_ARGUMENT, FieldViolation("claims", "at least one claim")))
    found.extend(_claim_problems(domain_spec, spec, claims))
    validity = spec.default_validity if valid_for is None else valid_for
    if validity <= timedelta(0):
        found.append((Reason.INVALID_ARGUMENT, FieldViolation("valid_for", "must be positive")))
    elif validity > spec.max_validity:
        text = f"at most {spec.max_validity.days} days for purpose {spec.name}"
        found.append((Reason.VALIDITY_EXCEEDS_PURPOSE, FieldViolation("valid_for", text)))
    if max_uses < 1:
        found.append((Reason.INVALID_ARGUMENT, FieldViolation("max_uses", "must be at least 1")))
    elif max_uses > spec.max_uses:
        text = f"at most {spec.max_uses} for purpose {spec.name}"
        found.append((Reason.USES_EXCEED_PURPOSE, FieldViolation("max_uses", text)))
    if found:
        _raise_first(found, _request_message(domain_spec, spec, claims, found))
    return ValidatedRequest(spec, tuple(claims), validity, max_uses)


def _request_message(
    domain: DomainSpec,
    purpose: PurposeSpec,
    claims: Sequence[str],
    found: list[tuple[Reason, FieldViolation]],
) -> str:
    """What is wrong with a refused consent request, naming the claims the purpose allows when
    the claims are the problem (an unknown name, or none at all)."""
    allowed = ", ".join((*purpose.claims, *purpose.predicates))
    unknown = [claim for claim in claims if not domain.is_claim(claim)]
    where = f"{domain.name}/{purpose.name}"
    if unknown:
        names = ", ".join(repr(claim) for claim in dict.fromkeys(unknown))
        verb = "is not a claim" if len(set(unknown)) == 1 else "are not claims"
        return f"{names} {verb} of {where}; allowed: {allowed}"
    if not claims:
        return f"the consent request names no claim; ask for some of {where}'s: {allowed}"
    if any(reason in _PURPOSE_LIMITS for reason, _ in found):
        return "the consent request exceeds what the purpose allows"
    return "the consent request is invalid"


_PURPOSE_LIMITS = frozenset(
    {
        Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE,
        Reason.VALIDITY_EXCEEDS_PURPOSE,
        Reason.USES_EXCEED_PURPOSE,
    }
)


def _claim_problems(
    domain: DomainSpec, purpose: PurposeSpec, claims: Sequence[str]
) -> list[tuple[Reason, FieldViolation]]:
    """Per-claim problems of a consent request, each naming ``claims[i]``."""
    found: list[tuple[Reason, FieldViolation]] = []
    for index, claim in enumerate(claims):
        where = f"claims[{index}]"
        if not domain.is_claim(claim):
            found.append((Reason.UNKNOWN_CLAIM, FieldViolation(where, "unknown claim")))
        elif claim not in purpose.allowed:
            text = "never disclosed" if domain.never_disclosed(claim) else "not for purpose"
            found.append((Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE, FieldViolation(where, text)))
        elif claim in claims[:index]:
            found.append((Reason.INVALID_ARGUMENT, FieldViolation(where, "duplicate claim")))
    return found


_PRECEDENCE = (
    Reason.UNKNOWN_CLAIM,
    Reason.CLAIM_NOT_ALLOWED_FOR_PURPOSE,
    Reason.VALIDITY_EXCEEDS_PURPOSE,
    Reason.USES_EXCEED_PURPOSE,
    Reason.INVALID_ARGUMENT,
)


def _raise_first(found: list[tuple[Reason, FieldViolation]], message: str) -> None:
    reasons = {reason for reason, _ in found}
    reason = next(r for r in _PRECEDENCE if r in reasons)
    raise DomainError(reason, message, violations=[violation for _, violation in found])


def narrow_claims(
    requested: Sequence[str],
    approved: Sequence[str] | None,
    current: Callable[[str], str] = str,
) -> tuple[str, ...]:
    """The claims an owner approves: all requested when ``approved`` is None, else a subset.

    Narrowing may only remove claims; approving a claim the bank did not request is refused.
    ``current`` maps a claim to its current name (``DomainSpec.current_claim``), so a request
    made before a rename can be narrowed by either name.
    """
    if approved is None:
        return tuple(requested)
    allowed = {current(claim) for claim in requested}
    violations = [
        FieldViolation(f"claims[{i}]", "not in the consent request")
        for i, claim in enumerate(approved)
        if current(claim) not in allowed
    ]
    if not approved:
        violations.append(FieldViolation("claims", "approve at least one claim, or reject"))
    if violations:
        raise invalid_argument(*violations, message="approved claims must narrow the request")
    return tuple(dict.fromkeys(current(claim) for claim in approved))


def validate_record(
    catalog: Catalog, domain: str, fields: Mapping[str, object]
) -> dict[str, object]:
    """A provider's record checked against the domain: types, enums, lengths, rules.

    Returns the normalized fields (dates as ISO text); ``RECORD_INVALID`` lists every problem.
    """
    spec = catalog.domain(domain)
    violations = [
        FieldViolation(f"fields.{name}", "unknown field")
        for name in fields
        if name not in spec.fields
    ]
    normalized: dict[str, object] = {}
    for name, field in spec.fields.items():
        value = fields.get(name)
        if value is None:
            if field.required:
                violations.append(FieldViolation(f"fields.{name}", "required"))
            continue
        try:
            normalized[name] = normalize_value(field, value)
        except ValueError as exc:
            violations.append(FieldViolation(f"fields.{name}", str(exc)))
    if not violations:
        for rule in spec.rules:
            violations.extend(rule.check(normalized))
    if violations:
        raise DomainError(
            Reason.RECORD_INVALID, f"the {domain} record is invalid", violations=violations
        )
    return normalized
