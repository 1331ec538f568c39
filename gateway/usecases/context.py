"""What every use case needs, built once by the composition root (``gateway.app``).

No module-level singletons: the servicers receive one ``Core`` and pass it to the use cases.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from attestgate.audit.sql import Connection
from attestgate.audit.tree import AuditLog
from attestgate.consent.catalog import Catalog
from attestgate.consent.store import ConsentStore
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.gateway.usecases.refusal_budget import RefusalBudget
from attestgate.gateway.usecases.trail import Trail


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a use case: the token's ``sub`` and role."""

    subject: str
    role: str


@dataclass
class Core:
    """The gateway's shared collaborators."""

    config: GatewayConfig
    clock: Clock
    storage: Storage
    catalog: Catalog
    keyring: KeyRing
    vault: RecordVault
    log: AuditLog
    trail: Trail
    providers: ProviderRegistry
    refusal_budget: RefusalBudget = field(default_factory=RefusalBudget.default)
    _consent_changed: threading.Condition = field(default_factory=threading.Condition)
    _checkpoint_changed: threading.Condition = field(default_factory=threading.Condition)

    def consents(self, conn: Connection) -> ConsentStore:
        """The consent store of the configured backend over ``conn`` (a read connection from
        ``storage.read()`` or a unit of work's ``tx.conn``)."""
        return self.storage.consents(conn)

    def notify_consent_events(self) -> None:
        """Wake consent-event streams (called when a change is staged; they re-read storage)."""
        with self._consent_changed:
            self._consent_changed.notify_all()

    def wait_consent_events(self, timeout: float) -> None:
        """Block until a consent change or ``timeout`` seconds."""
        with self._consent_changed:
            self._consent_changed.wait(timeout)

    def notify_commit(self, _size: int = 0) -> None:
        """Sequencer hook after each commit: wake every waiting stream."""
        with self._checkpoint_changed:
            self._checkpoint_changed.notify_all()
        self.notify_consent_events()

    def wait_commit(self, timeout: float) -> None:
        """Block until the next commit or ``timeout`` seconds."""
        with self._checkpoint_changed:
            self._checkpoint_changed.wait(timeout)
