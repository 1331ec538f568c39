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
from attestgate.gateway.app import build_core, start_core
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.usecases.context import Core

OPERATOR_ACTOR = "attestgate-cli"
"""The actor id of every event an operator command writes."""


@contextmanager
def operator_core(config: GatewayConfig, keyring: KeyRing, *, clock: Clock) -> Iterator[Core]:
    """The gateway's storage and audit log for one operator command, closed afterwards."""
    core = build_core(config, clock=clock, keyring=keyring)
    start_core(core)
    try:
        yield core
    finally:
        core.storage.close()


def operator_event(
    core: Core, kind: EventType, objects: Mapping[str, str], *, reason: str | None = None
) -> AuditEvent:
    """An audit event of an operator command (role ``operator``, no subject)."""
    return core.trail.event(
        kind,
        now=core.clock.now(),
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
    with operator_core(config, keyring, clock=clock) as core:

        def unit(tx: Tx) -> int:
            rewrapped = core.vault.rewrap(tx.conn) if rewrap else 0
            objects = {"key": key, "kid": kid, "rewrapped": str(rewrapped)}
            tx.emit(operator_event(core, EventType.KEY_ROTATED, objects))
            return rewrapped

        return core.storage.write(unit).value
