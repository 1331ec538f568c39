"""C2SP tlog-proof text (https://c2sp.org/tlog-proof, ``c2sp.org/tlog-proof@v1``): format and parse.

A proof is, line by line (tlog-proof §Format)::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>          optional
    index <decimal, no leading zeros>
    <base64 hash>                       zero or more: the RFC 6962 §2.1.1 inclusion path
    <empty line>
    <the signed checkpoint note, verbatim>

We put the leaf itself (the canonical JSON event) in ``extra`` so that a receipt is
self-contained; the spec says ``extra`` is unauthenticated, and it is: a verifier hashes it and
checks the inclusion proof against the signed checkpoint before believing it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from attestgate.protocol.merkle import HASH_SIZE, MAX_PROOF_LENGTH
from attestgate.protocol.note import NoteError, std_b64decode

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]*)")
_MAX_INDEX = 2**63


class ReceiptFormatError(ValueError):
    """The text is not a well-formed tlog-proof."""


@dataclass(frozen=True)
class ParsedReceipt:
    """The parts of a tlog-proof, not yet verified."""

    extra: bytes | None
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str


def format_receipt(
    *, index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None
) -> str:
    """The tlog-proof text; ``checkpoint_note`` is the signed note, included verbatim."""
    if not 0 <= index < _MAX_INDEX:
        raise ValueError("index out of range")
    lines = [HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode("ascii"))
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode("ascii") for h in proof)
    return "\n".join(lines) + "\n\n" + checkpoint_note


def _decode(text: str, what: str) -> bytes:
    try:  # the kernel's strict standard base64: padded, canonical, nothing outside the alphabet
        return std_b64decode(text)
    except NoteError:
        raise ReceiptFormatError(f"{what} is not standard base64") from None


def parse_receipt(text: str) -> ParsedReceipt:
    """Split a tlog-proof into its parts; raises ``ReceiptFormatError``."""
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise ReceiptFormatError("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ReceiptFormatError(f"first line must be {HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _decode(rest[0].removeprefix("extra "), "extra")
        rest = rest[1:]
    match = _INDEX.fullmatch(rest[0]) if rest else None
    if match is None or int(match.group(1)) >= _MAX_INDEX:
        raise ReceiptFormatError("missing or malformed index line")
    hashes = tuple(_decode(line, "proof hash") for line in rest[1:])
    if len(hashes) > MAX_PROOF_LENGTH or any(len(h) != HASH_SIZE for h in hashes):
        raise ReceiptFormatError("proof hashes must be at most 64 SHA-256 hashes")
    return ParsedReceipt(extra, int(match.group(1)), hashes, note)


CONSENT_HEADER = "attestgate/consent-receipt@v1"
_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_ARTEFACT = 16_384


def format_consent_receipt(*, artefact_jws: str, proof: str) -> str:
    """An owner's consent receipt: the header, ``artefact <JWS compact>``, an empty line, then the
    tlog-proof of the audit event that approved or revoked it, verbatim (docs/consent.md)."""
    if _JWS.fullmatch(artefact_jws) is None:
        raise ValueError("the artefact is not a JWS compact")
    return f"{CONSENT_HEADER}\nartefact {artefact_jws}\n\n{proof}"


def parse_consent_receipt(text: str) -> tuple[str, str]:
    """``(artefact JWS, tlog-proof text)`` of a consent receipt; raises ``ReceiptFormatError``."""
    header, sep, rest = text.partition("\n")
    if header != CONSENT_HEADER or not sep:
        raise ReceiptFormatError(f"first line must be {CONSENT_HEADER}")
    line, sep, proof = rest.partition("\n\n")
    jws = line.removeprefix("artefact ")
    if not sep or jws == line or len(jws) > _MAX_ARTEFACT or _JWS.fullmatch(jws) is None:
        raise ReceiptFormatError("second line must be 'artefact <JWS compact>', then an empty line")
    return jws, proof
