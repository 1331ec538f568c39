"""Transfers (issue 19 item 3): a holder's consent covers the asset during their tenure only.

A provider records a change of holder by uploading the record with a new subject
(``gateway.usecases.records``; ``record.transferred``). From then on the previous holder's
consents no longer cover the asset: issue under them is refused, and so is the redemption of an
attestation issued under them before the transfer (``RECORD_TRANSFERRED``). A holder the asset
comes back to needs to consent again.
"""

from __future__ import annotations

from typing import Any

from attestgate.consent.model import Consent
from attestgate.gateway.persistence.vault import RecordVault
from attestgate.protocol.reasons import DomainError, Reason


def refuse_transferred_since(
    vault: RecordVault, conn: Any, consent: Consent, record_id: str
) -> None:
    """``RECORD_TRANSFERRED`` when the asset is not held by the consent's owner, or came (back)
    to them by a transfer after the consent was given: a holder's consent covers their tenure."""
    holds, since = vault.tenure(conn, consent.domain, record_id, consent.owner)
    if not holds or (since is not None and consent.created_at < since):
        raise DomainError(
            Reason.RECORD_TRANSFERRED,
            f"the {consent.domain} record changed holder after this consent was given: it no "
            "longer covers it; ask the current holder for consent",
        )
