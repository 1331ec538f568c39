"""What an owner reads of their own records before deciding (no gRPC here).

The consent screen says which record a request is about in the owner's words ("your 2025
after-tax income"): the plain claims the request would disclose (``tax_year``), read from the
record the consent would cover (the named one, or the owner's latest in the domain). Only the
owner sees them, only claims the bank would learn anyway, and nothing is logged or changed: this
is the owner looking at their own data. Predicates are not evaluated here (they depend on the
bank's parameters at issue time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attestgate.consent.catalog import Catalog
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.gateway.usecases.caller import Caller
from attestgate.protocol.reasons import DomainError, Reason

UNREADABLE = frozenset({Reason.RECORD_NOT_FOUND, Reason.RECORD_TRANSFERRED, Reason.DATA_ERASED})
"""Reasons a record has nothing to show: the screen then names no value, as before."""


class OwnerRecords:
    """The owner's own record values, for the consent screen."""

    def __init__(self, *, storage: Storage, catalog: Catalog, vault: RecordVault) -> None:
        self._storage = storage
        self._catalog = catalog
        self._vault = vault

    def disclosed_values(
        self,
        caller: Caller,
        *,
        domain: str,
        purpose: str,
        record_id: str | None,
        claims: Sequence[str],
    ) -> Mapping[str, object]:
        """The values of the plain claims among ``claims`` that ``purpose`` discloses, from the
        caller's record ``record_id`` (None: their latest in ``domain``); empty when there is no
        such record (not uploaded yet, erased, or now held by someone else)."""
        spec = self._catalog.domain(domain)
        plain = set(self._catalog.purpose(domain, purpose).claims)
        wanted = [name for name in map(spec.current_claim, claims) if name in plain]
        if not wanted:
            return {}
        try:
            record = self._vault.get(
                self._storage.read(), domain=domain, subject=caller.subject, record_id=record_id
            )
        except DomainError as error:
            if error.reason in UNREADABLE:
                return {}
            raise
        return {name: record.fields[name] for name in wanted if name in record.fields}
