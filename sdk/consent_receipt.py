"""An owner's consent receipt, checked offline with the regulator's own receipt check.

The portal gives owners, after each approval or revocation, a receipt (docs/consent.md "Consent
receipts"): the signed consent artefact and the C2SP tlog-proof of the audit event that approved
or revoked it. ``verify_consent_receipt`` checks the tlog-proof with ``verify_receipt`` (the
checkpoint's signature under the log's vkey, the inclusion of the event), then that the event is
an approval or revocation of this very artefact: its ``artefact_hash`` is the artefact's SHA-256
and its ``consent_id`` the artefact's. The log's signature thus covers the artefact's terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attestgate.protocol.encoding import sha256_b64url
from attestgate.protocol.jose import JoseError, json_object, parse_compact_jws
from attestgate.sdk._internal import receipt
from attestgate.sdk.log_errors import LogVerificationError
from attestgate.sdk.regulator import verify_receipt
from attestgate.sdk.types import Checkpoint, LogEntry

RECEIPT_EVENTS = frozenset({"consent.approved", "consent.revoked"})
"""The audit events an owner gets a receipt for."""


@dataclass(frozen=True)
class ConsentReceipt:
    """A verified consent receipt."""

    terms: dict[str, Any]
    """The artefact's signed terms (consent_id, owner, grantee, claims, bounds, validity, ...)."""
    artefact_jws: str
    event: str
    """``consent.approved`` or ``consent.revoked``."""
    entry: LogEntry
    checkpoint: Checkpoint


def verify_consent_receipt(text: str, *, vkey: str, origin: str | None = None) -> ConsentReceipt:
    """Check a consent receipt offline against the log's ``vkey`` (``attestgate audit vkey``);
    raises ``LogVerificationError`` saying what failed."""
    try:
        jws, proof = receipt.parse_consent_receipt(text)
    except receipt.ReceiptFormatError as exc:
        raise LogVerificationError(f"malformed consent receipt: {exc}") from None
    entry, checkpoint = verify_receipt(proof, vkey=vkey, origin=origin)
    kind = entry.event.get("type")
    objects = entry.event.get("objects")
    if kind not in RECEIPT_EVENTS or not isinstance(objects, dict):
        raise LogVerificationError(f"the log entry is not a consent approval or revocation: {kind}")
    if objects.get("artefact_hash") != sha256_b64url(jws.encode("ascii")):
        raise LogVerificationError("the artefact is not the one the log entry names (hash differs)")
    try:
        terms = json_object(parse_compact_jws(jws).payload, max_depth=4)
    except JoseError as exc:
        raise LogVerificationError(f"the artefact is malformed: {exc}") from None
    if terms.get("consent_id") != objects.get("consent_id"):
        raise LogVerificationError("the artefact's consent_id differs from the log entry's")
    return ConsentReceipt(dict(terms), jws, str(kind), entry, checkpoint)
