"""The consent receipt's text format: artefact line, then a tlog-proof verbatim."""

from __future__ import annotations

import pytest

from attestgate.sdk._internal.receipt import (
    CONSENT_HEADER,
    ReceiptFormatError,
    format_consent_receipt,
    parse_consent_receipt,
)

JWS = "eyJhbGciOiJFUzI1NiJ9.eyJjb25zZW50X2lkIjoiY3NfMSJ9.c2ln"
PROOF = "c2sp.org/tlog-proof@v1\nindex 0\n\nnote\n"


def test_round_trip() -> None:
    text = format_consent_receipt(artefact_jws=JWS, proof=PROOF)
    assert text.startswith(CONSENT_HEADER + "\nartefact " + JWS + "\n\n")
    assert parse_consent_receipt(text) == (JWS, PROOF)


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"attestgate/consent-receipt@v2\nartefact {JWS}\n\n{PROOF}",
        f"{CONSENT_HEADER}\nartefact {JWS}\n{PROOF}",  # no empty line
        f"{CONSENT_HEADER}\nartifact {JWS}\n\n{PROOF}",
        f"{CONSENT_HEADER}\nartefact a.b\n\n{PROOF}",  # not three segments
        f"{CONSENT_HEADER}\nartefact a.b.c d\n\n{PROOF}",
    ],
)
def test_malformed_receipts_are_refused(text: str) -> None:
    with pytest.raises(ReceiptFormatError):
        parse_consent_receipt(text)


def test_only_a_jws_is_formatted() -> None:
    with pytest.raises(ValueError, match="JWS compact"):
        format_consent_receipt(artefact_jws="not a jws", proof=PROOF)
