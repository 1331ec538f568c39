"""The one parser of numeric cursors: page tokens' positions, ``WatchConsentEvents`` cursors, the
portal's ``after``/``before`` query values and log indices in its URLs.

A cursor is what this server handed out: ASCII digits (``str.isdigit`` also accepts ``"²"`` and
other Unicode digits that ``int`` then refuses) and at most the largest SQLite/PostgreSQL
``BIGINT`` (a bigger value overflows the database driver). Anything else is bad input, refused
with a reason and a field violation, never an internal error.
"""

from __future__ import annotations

from attestgate.protocol.reasons import DomainError, FieldViolation, Reason

MAX_CURSOR = 2**63 - 1
"""The largest value a 64-bit signed database integer holds."""
_MAX_DIGITS = len(str(MAX_CURSOR))


def parse_cursor(text: str, *, field: str, reason: Reason = Reason.INVALID_ARGUMENT) -> int:
    """The non-negative integer ``text`` spells in ASCII digits, at most ``MAX_CURSOR``;
    ``DomainError(reason)`` naming ``field`` otherwise."""
    if (
        not text
        or len(text) > _MAX_DIGITS
        or not (text.isascii() and text.isdigit())
        or int(text) > MAX_CURSOR
    ):
        raise DomainError(
            reason,
            f"{field} is not one this server issued; omit it to start from the beginning",
            violations=[FieldViolation(field, f"ASCII digits, at most {MAX_CURSOR}")],
        )
    return int(text)
