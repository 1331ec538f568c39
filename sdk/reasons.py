"""The stable error reasons, as the SDK's public name (docs/errors.md).

The table lives in the protocol kernel, ``attestgate.protocol.reasons``; this module re-exports
the same objects (not copies), so ``attestgate.sdk.reasons.Reason is
attestgate.protocol.reasons.Reason``.
"""

from __future__ import annotations

from attestgate.protocol.reasons import (
    ERROR_DOMAIN,
    REASON_STATUS,
    DomainError,
    FieldViolation,
    Reason,
    invalid_argument,
)

__all__ = [
    "ERROR_DOMAIN",
    "REASON_STATUS",
    "DomainError",
    "FieldViolation",
    "Reason",
    "invalid_argument",
]
