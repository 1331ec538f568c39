"""The signed consent artefact: JWS ES256 with kid, canonical payload, hash, verification.

Signatures are also checked with ``cryptography`` alone (RFC 7518 §3.4: the JWS signature is the
raw R || S concatenation), so the test does not only trust PyJWT to agree with itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attestgate.consent.artefact import (
    ARTEFACT_TYP,
    ArtefactError,
    artefact_hash,
    artefact_payload,
    canonical_json,
    check_consent_artefact,
    seal_consent,
    sign_artefact,
    verify_artefact,
)
from attestgate.consent.model import Consent, RecordId, RecordSelector

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KEYS = {"gw-2025-06": KEY.public_key()}


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_jws_structure_and_independent_signature_check(
    make_consent: Callable[..., Consent],
) -> None:
    payload = artefact_payload(make_consent())
    jws = sign_artefact(payload, private_key=KEY, kid="gw-2025-06")
    header_b64, payload_b64, signature_b64 = jws.split(".")
    assert json.loads(b64decode(header_b64)) == {
        "alg": "ES256",
        "kid": "gw-2025-06",
        "typ": ARTEFACT_TYP,
    }
    assert b64decode(payload_b64) == canonical_json(payload)
    raw = b64decode(signature_b64)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    KEY.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))


def test_payload_is_canonical_and_carries_the_terms(make_consent: Callable[..., Consent]) -> None:
    consent = make_consent(record=RecordSelector("income", RecordId("rec-7")))
    payload = artefact_payload(consent)
    assert payload["valid_until"] == "2025-07-30T08:00:00Z"
    assert payload["record"] == {"domain": "income", "record_id": "rec-7"}
    assert payload["claims"] == ["tax_year", "covers_amount"]
    assert (payload["separate_consent"], payload["cross_border"]) == (True, False)
    assert "state" not in payload
    assert "uses" not in payload
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()


def test_hash_is_base64url_sha256_of_the_ascii_jws() -> None:
    jws = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
    digest = hashlib.sha256(jws.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert artefact_hash(jws) == expected
    assert len(expected) == 43
    assert "=" not in expected


def test_seal_and_verify(make_consent: Callable[..., Consent]) -> None:
    sealed = seal_consent(make_consent(), private_key=KEY, kid="gw-2025-06")
    assert sealed.artefact_hash == artefact_hash(sealed.artefact_jws)
    assert verify_artefact(sealed.artefact_jws, KEYS) == artefact_payload(sealed)
    check_consent_artefact(sealed, KEYS)
    used = replace(sealed, uses=1)  # usage is not part of the signed terms
    check_consent_artefact(used, KEYS)


def test_changed_terms_or_hash_fail(make_consent: Callable[..., Consent]) -> None:
    sealed = seal_consent(make_consent(), private_key=KEY, kid="gw-2025-06")
    longer = replace(sealed, valid_until=sealed.valid_until + timedelta(days=1))
    with pytest.raises(ArtefactError, match="terms differ"):
        check_consent_artefact(longer, KEYS)
    with pytest.raises(ArtefactError, match="hash"):
        check_consent_artefact(replace(sealed, artefact_hash="A" * 43), KEYS)


def _tamper_payload(jws: str) -> str:
    header, payload, signature = jws.split(".")
    terms = json.loads(b64decode(payload))
    terms["max_uses"] = 99
    forged = base64.urlsafe_b64encode(canonical_json(terms)).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def _resign_with(jws: str, **headers: str) -> str:
    payload = b64decode(jws.split(".")[1])
    return jwt.api_jws.encode(payload, OTHER, algorithm="ES256", headers=headers)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (_tamper_payload, "signature or payload"),
        (lambda jws: _resign_with(jws, kid="gw-2025-06", typ=ARTEFACT_TYP), "signature"),
        (lambda jws: _resign_with(jws, kid="gw-2024-01", typ=ARTEFACT_TYP), "unknown"),
        (lambda jws: _resign_with(jws, kid="gw-2025-06", typ="JWT"), "header"),
        (lambda jws: jws.split(".", 1)[1], "malformed"),
        (
            lambda jws: jwt.api_jws.encode(
                b"{}", b"k" * 32, algorithm="HS256", headers={"kid": "gw-2025-06"}
            ),
            "header",
        ),
    ],
)
def test_verification_failures(
    make_consent: Callable[..., Consent], mangle: Callable[[str], str], message: str
) -> None:
    jws = sign_artefact(artefact_payload(make_consent()), private_key=KEY, kid="gw-2025-06")
    with pytest.raises(ArtefactError, match=message):
        verify_artefact(mangle(jws), KEYS)


def test_non_object_payload_is_refused() -> None:
    jws = jwt.api_jws.encode(
        b"[1]", KEY, algorithm="ES256", headers={"kid": "k", "typ": ARTEFACT_TYP}
    )
    with pytest.raises(ArtefactError, match="not a JSON object"):
        verify_artefact(jws, {"k": KEY.public_key()})


def test_signing_needs_a_p256_key_and_a_kid(make_consent: Callable[..., Consent]) -> None:
    payload = artefact_payload(make_consent())
    with pytest.raises(ValueError, match="P-256"):
        sign_artefact(payload, private_key=ec.generate_private_key(ec.SECP384R1()), kid="k")
    with pytest.raises(ValueError, match="kid"):
        sign_artefact(payload, private_key=KEY, kid="")
