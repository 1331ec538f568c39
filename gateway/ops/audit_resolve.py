"""``attestgate audit resolve``: a regulator's lawful request for the id behind a pseudonym.

The audit log holds pseudonyms only (``gateway.usecases.trail``). With the data dir's audit key the
operator
recomputes the pseudonym of every id of that kind the database still holds (subjects: the owners of
consent requests and consents; records: the ids of stored records, consents and attestations;
transaction refs and ``jti``\\s: those of attestations) and prints the one that matches. Every
resolution, found or not, is itself an audit event (``pseudonym.resolved``, actor role
``operator``) carrying the pseudonym and the stated reason, never the resolved id; it is written
through the same group-commit path as the gateway's own steps, so it works next to a running
gateway on its SQLite file or PostgreSQL database (like ``attestgate keys rotate``).
"""

from __future__ import annotations

import re
import sys

from attestgate.audit.events import EventType, Pseudonymizer, PseudonymKind
from attestgate.audit.sequencer import Tx
from attestgate.audit.sql import Connection
from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.cli_audit import CliError
from attestgate.gateway.ops.config import GatewayConfig
from attestgate.gateway.ops.maintenance import operator_event, operator_parts

MAX_REASON = 200
_PSEUDONYM = re.compile(r"p[srtj]_[A-Za-z0-9_-]{22}")

_CANDIDATES: dict[PseudonymKind, str] = {
    PseudonymKind.SUBJECT: "SELECT owner FROM consent_requests UNION SELECT owner FROM consents",
    PseudonymKind.RECORD: (
        "SELECT domain, record_id FROM records"
        " UNION SELECT domain, record_id FROM attestations"
        " UNION SELECT record_domain, record_id FROM consents WHERE record_id IS NOT NULL"
        " UNION SELECT domain, record_id FROM consent_requests WHERE record_id IS NOT NULL"
    ),
    PseudonymKind.TRANSACTION: (
        "SELECT transaction_ref FROM attestations WHERE transaction_ref IS NOT NULL"
    ),
    PseudonymKind.UNVERIFIED_JTI: "SELECT jti FROM attestations",
}
_LABELS = {
    PseudonymKind.SUBJECT: "subject",
    PseudonymKind.RECORD: "record",
    PseudonymKind.TRANSACTION: "transaction_ref",
    PseudonymKind.UNVERIFIED_JTI: "attestation_jti",
}


def check_request(pseudonym: str, reason: str) -> PseudonymKind:
    """The pseudonym's kind; ``CliError`` (exit 2) for a malformed pseudonym or reason."""
    kind = PseudonymKind.of(pseudonym)
    if kind is None or not _PSEUDONYM.fullmatch(pseudonym):
        raise CliError(
            f"{pseudonym!r} is not a pseudonym (ps_, pr_, pt_ or pj_ and 22 base64url characters)"
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON or not reason.isprintable():
        raise CliError(
            f"--reason must be 1 to {MAX_REASON} printable characters "
            "(cite the request, e.g. a case number; no names)"
        )
    return kind


def find(conn: Connection, pseudonymizer: Pseudonymizer, pseudonym: str) -> str | None:
    """The id behind ``pseudonym`` among the stored candidates of its kind (records print as
    ``domain/record_id``), or None."""
    kind = PseudonymKind.of(pseudonym)
    if kind is None:
        return None
    for row in conn.execute(_CANDIDATES[kind]).fetchall():
        parts = [str(part) for part in row]
        if pseudonymizer.of_kind(kind, "\x00".join(parts)) == pseudonym:
            return "/".join(parts)
    return None


def run_resolve(
    config: GatewayConfig, keyring: KeyRing, *, clock: Clock, pseudonym: str, reason: str
) -> int:
    """Resolve and audit; 0 when found (the id printed), 1 when not (audited all the same)."""
    kind = check_request(pseudonym, reason)
    with operator_parts(config, keyring, clock=clock) as parts:
        found = find(parts.storage.read(), parts.trail.pseudonymizer, pseudonym)
        objects = {"pseudonym": pseudonym, "found": "true" if found else "false"}

        def unit(tx: Tx) -> None:
            event = operator_event(
                parts.trail, clock, EventType.PSEUDONYM_RESOLVED, objects, reason=reason.strip()
            )
            tx.emit(event)

        committed = parts.storage.write(unit)  # durable before anything is printed
    index = committed.log_indices[0]
    if found is None:
        print(f"no stored {_LABELS[kind]} has this pseudonym (audited as log entry {index})",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"{_LABELS[kind]}\t{found}")
    print(f"audited as log entry {index}", file=sys.stderr)
    return 0
