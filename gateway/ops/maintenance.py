"""Operator maintenance that touches the database: key rotation, recorded in the audit log.

Runs from the CLI next to (or without) a running gateway: it opens the same storage, runs one unit
of work through its own short-lived sequencer, and closes. Writers of different processes are
serialized by the database (SQLite ``BEGIN IMMEDIATE``, the PostgreSQL coordination row), and
every sequencer re-reads the log's head before a batch, so a running gateway and this command share
one log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from attestgate.audit.events import AuditEvent, EventType
from attestgate.audit.sequencer import Tx
from attestgate.gateway.app import GatewayParts, build_parts, start_writes
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.usecases.trail import Trail

OPERATOR_ACTOR = "attestgate-cli"
"""The actor id of every event an operator command writes."""


@contextmanager
def operator_parts(
    config: GatewayConfig, keyring: KeyRing, *, clock: Clock
) -> Iterator[GatewayParts]:
    """The gateway's storage and audit log for one operator command, closed afterwards."""
    parts = build_parts(config, clock=clock, keyring=keyring)
    start_writes(parts)
    try:
        yield parts
    finally:
        parts.storage.close()


def operator_event(
    trail: Trail,
    clock: Clock,
    kind: EventType,
    objects: Mapping[str, str],
    *,
    reason: str | None = None,
) -> AuditEvent:
    """An audit event of an operator command (role ``operator``, no subject)."""
    return trail.event(
        kind,
        now=clock.now(),
        role="operator",
        actor=OPERATOR_ACTOR,
        subject=None,
        objects=objects,
        reason=reason,
    )


def record_key_rotation(
    config: GatewayConfig, keyring: KeyRing, *, clock: Clock, key: str, kid: str, rewrap: bool
) -> int:
    """Log a ``key.rotated`` event; with ``rewrap``, re-wrap every data key under the current KEK
    in the same transaction. Returns how many data keys were re-wrapped."""
    with operator_parts(config, keyring, clock=clock) as parts:

        def unit(tx: Tx) -> int:
            rewrapped = parts.vault.rewrap(tx.conn) if rewrap else 0
            objects = {"key": key, "kid": kid, "rewrapped": str(rewrapped)}
            tx.emit(operator_event(parts.trail, clock, EventType.KEY_ROTATED, objects))
            return rewrapped

        return parts.storage.write(unit).value
