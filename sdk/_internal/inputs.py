"""Arguments checked before anything is sent: each mistake an ``InvalidInput`` naming the argument.

Internal. Parameters go on the wire as ``Value``s: integers are amounts in **integer minor units**
(``5_000_000`` is USD 50,000.00); a ``decimal.Decimal`` amount is converted with its currency's
ISO 4217 exponent (``Decimal("50000.00")`` with ``"currency": "USD"``); a ``float`` is refused
(binary floats cannot hold cents exactly). Claims are a list of names; one name given as a ``str``
is that one claim. Ids are checked against their kind: a consent request id (``cr_...``) where a
consent id (``cs_...``) is expected is refused with the way to the right one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from attestgate.protocol.reasons import FieldViolation
from attestgate.sdk.errors import InvalidInput
from attestgate.v1 import common_pb2

INT64 = 2**63 - 1

_TWO = ("CNY", "USD", "EUR", "GBP", "HKD", "CHF", "CAD", "AUD", "SGD", "NZD", "SEK", "NOK", "DKK")
MINOR_UNIT_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(_TWO, 2),
    **dict.fromkeys(("JPY", "KRW", "VND", "CLP", "ISK"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
}
"""ISO 4217 decimal places of the currencies a ``Decimal`` amount may be given in; for any other
currency give integer minor units."""

_ID_KINDS = {"consents": ("cs_", "consent"), "consentRequests": ("cr_", "consent request")}
_WRONG_ID_HINT = {
    "consents": "a request's consent id is ConsentRequest.consent_id once the owner approved "
    "(or see bank.list_consents() / ConsentEvent.consent_id)",
    "consentRequests": "pass ConsentRequest.id (cr_...), e.g. from owner.pending_requests()",
}


def refuse(field: str, description: str, hint: str = "") -> InvalidInput:
    """The ``InvalidInput`` for one bad argument."""
    return InvalidInput(
        f"{field} is invalid", violations=[FieldViolation(field, description)], hint=hint
    )


def claim_names(claims: Iterable[str] | str, field: str = "claims") -> list[str]:
    """A list of claim names; a single ``str`` is one claim (never split into letters)."""
    names = [claims] if isinstance(claims, str) else list(claims)
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise refuse(f"{field}[{index}]", "must be a claim name (str)")
    return names


def check_id(collection: str, bare: str) -> None:
    """Refuse an id of another kind (``cr_...`` for a consent, ``cs_...`` for a request)."""
    expected = _ID_KINDS.get(collection)
    for other, (prefix, kind) in _ID_KINDS.items():
        if expected is not None and other != collection and bare.startswith(prefix):
            raise refuse(
                "consent_id" if collection == "consents" else "request_id",
                f"{bare!r} is a {kind} id ({prefix}...), not a {expected[1]} id ({expected[0]}...)",
                _WRONG_ID_HINT[collection],
            )


def params(
    values: Mapping[str, object] | None, kind: str = "params"
) -> dict[str, common_pb2.Value]:
    """Predicate parameters (or a consent request's ``bounds``, keyed alike) on the wire, each
    checked (see the module doc)."""
    given = dict(values or {})
    return {name: value(given, name, kind) for name in given}


def value(given: Mapping[str, object], name: str, kind: str = "params") -> common_pb2.Value:
    """The wire ``Value`` of ``given[name]``; ``bool`` before ``int`` (a bool is an int)."""
    raw, field = given[name], f"{kind}.{name}"
    if isinstance(raw, Decimal):
        raw = _minor_units(raw, given.get("currency"), field)
    if isinstance(raw, bool):
        return common_pb2.Value(bool_value=raw)
    if isinstance(raw, int):
        if not -INT64 - 1 <= raw <= INT64:
            raise refuse(field, "out of range (a 64-bit integer of minor units)")
        return common_pb2.Value(int_value=raw)
    if isinstance(raw, float):
        raise refuse(
            field,
            "must be an integer (minor units: USD 50,000.00 is 5_000_000)",
            'or give decimal.Decimal("50000.00") with its "currency"',
        )
    if isinstance(raw, datetime):
        raise refuse(field, "must be a datetime.date, not a datetime")
    if isinstance(raw, date):
        return common_pb2.Value(date_value=raw.isoformat())
    if isinstance(raw, str):
        return common_pb2.Value(string_value=raw)
    raise refuse(field, f"unsupported type {type(raw).__name__} (str, int, bool, date, Decimal)")


def _minor_units(amount: Decimal, currency: object, field: str) -> int:
    """``amount`` (major units) in integer minor units of ``currency``."""
    exponent = MINOR_UNIT_EXPONENTS.get(currency) if isinstance(currency, str) else None
    if exponent is None:
        known = ", ".join(sorted(MINOR_UNIT_EXPONENTS))
        raise refuse(
            field,
            f"a Decimal amount needs params.currency, one of {known}",
            "or give the amount in integer minor units",
        )
    try:
        scaled = amount.scaleb(exponent)
        if not amount.is_finite() or scaled != scaled.to_integral_value():
            raise refuse(field, f"{currency} has {exponent} decimal places; {amount} has more")
        return int(scaled)
    except InvalidOperation:
        raise refuse(field, "not a number") from None
