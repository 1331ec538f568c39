"""Operator maintenance that touches the database: key rotation, recorded in the audit log.

Runs from the CLI next to (or without) a running gateway: it opens the same storage, runs one unit
of work through its own short-lived sequencer, and closes. Writers of different processes are
serialized by the database (SQLite ``BEGIN IMMEDIATE``, the PostgreSQL coordination row), and
every sequencer re-reads the log's head before a batch, so a running gateway and this command share
one log.
"""

from __future__ import annotations

from audit.events import EventType
from audit.sequencer import Tx
from gateway.app import build_core, start_core
from gateway.clock import Clock
from gateway.config import GatewayConfig
from gateway.keys import KeyRing


def record_key_rotation(
    config: GatewayConfig, keyring: KeyRing, *, clock: Clock, key: str, kid: str, rewrap: bool
) -> int:
    """Log a ``key.rotated`` event; with ``rewrap``, re-wrap every data key under the current KEK
    in the same transaction. Returns how many data keys were re-wrapped."""
    core = build_core(config, clock=clock, keyring=keyring)
    start_core(core)

    def unit(tx: Tx) -> int:
        rewrapped = core.vault.rewrap(tx.conn) if rewrap else 0
        tx.emit(
            core.trail.event(
                EventType.KEY_ROTATED,
                now=clock.now(),
                role="operator",
                actor="attestgate-cli",
                subject=None,
                objects={"key": key, "kid": kid, "rewrapped": str(rewrapped)},
            )
        )
        return rewrapped

    try:
        return core.storage.write(unit).value
    finally:
        core.storage.close()
