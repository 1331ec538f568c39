"""A per-caller bound on refusal leaves in the audit log (issue 14, "audit-log spam").

Refused attempts stay audited, but a caller cannot turn the permanent log into its scratch space:
each caller (token subject and role) has a token bucket of refusal leaves, ``per_minute`` on
average and bursts of up to ``burst``. A refusal beyond the budget is still answered with its
reason, but written as no leaf of its own: it is counted (``suppressed_total``, the metric
``attestgate_audit_refusals_unlogged_total``) and the caller's next refusal leaf carries the count
of the ones left out before it (object ``suppressed_refusals``), so the log still tells how many
there were. ``per_minute = 0`` turns the bound off (every refusal is a leaf).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from attestgate.audit.events import AuditEvent
from attestgate.gateway.common.limits import MAX_BUCKETS, Monotonic, RateLimiter
from attestgate.gateway.usecases.trail import audits_refusal
from attestgate.protocol.reasons import DomainError

DEFAULT_PER_MINUTE = 60.0
DEFAULT_BURST = 20
SUPPRESSED_OBJECT = "suppressed_refusals"
"""Object name of the count of a caller's refusals left out of the log before this leaf."""


class RefusalBudget:
    """Decides whether a caller's refusal becomes a leaf; thread-safe."""

    def __init__(self, per_minute: float, burst: int, *, now: Monotonic = time.monotonic) -> None:
        if per_minute < 0 or burst < 0:
            raise ValueError("per_minute and burst must not be negative")
        self._buckets = (
            RateLimiter(per_minute / 60.0, max(burst, 1), now=now) if per_minute > 0 else None
        )
        self._pending: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()
        self.suppressed_total = 0
        self.on_suppressed: Callable[[], None] | None = None
        """Called once per refusal left out of the log (metrics)."""

    @classmethod
    def default(cls) -> RefusalBudget:
        """The shipped bound (``GatewayConfig.refusal_audit_per_minute`` / ``_burst``)."""
        return cls(DEFAULT_PER_MINUTE, DEFAULT_BURST)

    def take(self, role: str, subject: str) -> int | None:
        """``None``: over budget, write no leaf (counted here). Otherwise write one leaf, which
        carries the returned number of this caller's refusals left out since its last leaf."""
        if self._buckets is None:
            return 0
        key = (role, subject)
        admitted = self._buckets.wait_time(subject, role) == 0.0
        with self._lock:
            if admitted:
                return self._pending.pop(key, 0)
            self._pending[key] = self._pending.pop(key, 0) + 1
            while len(self._pending) > MAX_BUCKETS:  # the metric still counted the dropped ones
                self._pending.popitem(last=False)
            self.suppressed_total += 1
            hook = self.on_suppressed
        if hook is not None:
            hook()
        return None


def with_suppressed(objects: Mapping[str, str], suppressed: int) -> Mapping[str, str]:
    """``objects`` plus the count of refusals the budget left out before this leaf, if any."""
    return {**objects, SUPPRESSED_OBJECT: str(suppressed)} if suppressed else objects


def budgeted_hook(
    budget: RefusalBudget,
    role: str,
    subject: str,
    build: Callable[[DomainError, Mapping[str, str]], AuditEvent],
    objects: Mapping[str, str],
) -> Callable[[DomainError], list[AuditEvent]]:
    """A sequencer ``on_refusal`` hook: ``build(error, objects)`` as the refusal's leaf, within
    the caller's budget (``objects`` with the count left out before it). The budget is taken
    once, however often the writer runs the refused unit."""
    taken: list[int | None] = []

    def events(error: DomainError) -> list[AuditEvent]:
        if not audits_refusal(error):
            return []
        if not taken:
            taken.append(budget.take(role, subject))
        suppressed = taken[0]
        return [] if suppressed is None else [build(error, with_suppressed(objects, suppressed))]

    return events
