"""Errors of audit-log verification on the regulator's side (local checks, no gRPC status)::

    AttestgateError                 (sdk.errors)
    └── LogVerificationError        a checkpoint signature, an inclusion or a consistency proof
        │                           failed, or a vkey / receipt is malformed
        ├── SplitViewError          two checkpoints of the log cannot both be true: the log
        │                           showed different trees to different parties (or forked)
        └── WitnessPolicyError      a checkpoint lacks the k valid witness cosignatures the
                                    client's policy requires (``result``: which are missing
                                    or bad)

They live apart from ``sdk.errors`` because they never come from the gateway: the SDK raises them
when what the gateway sent does not verify. ``reason`` is a stable string; ``code`` is
``DATA_LOSS`` (the log's integrity is in doubt).
"""

# The class names are the public API, like sdk.errors. ruff: noqa: N818

from __future__ import annotations

from typing import ClassVar

from attestgate.protocol.cosignature import PolicyResult
from attestgate.sdk.errors import AttestgateError

__all__ = [
    "LOG_SPLIT_VIEW",
    "LOG_VERIFICATION_FAILED",
    "LOG_WITNESS_POLICY",
    "LogVerificationError",
    "SplitViewError",
    "WitnessPolicyError",
]

LOG_VERIFICATION_FAILED = "LOG_VERIFICATION_FAILED"
"""``reason`` of a ``LogVerificationError``."""

LOG_SPLIT_VIEW = "LOG_SPLIT_VIEW"
"""``reason`` of a ``SplitViewError``."""

LOG_WITNESS_POLICY = "LOG_WITNESS_POLICY"
"""``reason`` of a ``WitnessPolicyError``."""


class LogVerificationError(AttestgateError):
    """Something the log sent (or a key, state file or receipt) failed verification."""

    grpc_codes: ClassVar[tuple[str, ...]] = ("DATA_LOSS",)
    log_reason: ClassVar[str] = LOG_VERIFICATION_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message, code="DATA_LOSS", reason=self.log_reason)


class SplitViewError(LogVerificationError):
    """A new checkpoint is not consistent with one verified before: a split view or a fork."""

    log_reason: ClassVar[str] = LOG_SPLIT_VIEW


class WitnessPolicyError(LogVerificationError):
    """A checkpoint does not carry the witness cosignatures the client's policy requires; the
    message and ``result`` name the witnesses whose cosignature verified, is missing or is bad."""

    log_reason: ClassVar[str] = LOG_WITNESS_POLICY

    def __init__(self, message: str, result: PolicyResult) -> None:
        super().__init__(message)
        self.result = result
