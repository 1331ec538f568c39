"""Attestations issued before issue 17 item 1 stay verifiable (tests/vectors/persisted/README.md).

``sdjwt_legacy_status.json`` is an attestation issued by the code of commit ``fed5fc8``, before
claim names were kept clear of the registered JWT / SD-JWT VC names: ``iss`` ``attestgate``, a
``urn:attestgate:`` ``vct``, and the registration status disclosed under the name ``status``
(now ``registration_status``). The current verifier must accept it as it is.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from attestgate.protocol.jose import Jwks, load_public_jwk
from attestgate.protocol.sdjwt import KeyBindingPolicy, verify_sd_jwt
from attestgate.protocol.sdjwt_format import SdJwtError

VECTOR = Path(__file__).resolve().parents[2] / "vectors" / "persisted" / "sdjwt_legacy_status.json"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR.read_text(encoding="utf-8"))
    return data


def _verify(vector: dict[str, Any], token: str) -> Any:
    jwk = vector["issuer_jwk"]
    return verify_sd_jwt(
        token,
        jwks=Jwks({jwk["kid"]: load_public_jwk(jwk)}),
        issuer=("https://gateway.example", vector["issuer"]),
        now=datetime.fromisoformat(vector["verify_at"]),
        key_binding=KeyBindingPolicy(required=False),
        expected_vct_prefix=("https://gateway.example/types/", vector["vct_prefix"]),
    )


def test_an_attestation_disclosing_status_still_verifies(vector: dict[str, Any]) -> None:
    verified = _verify(vector, vector["token"])
    assert dict(verified.claims) == vector["claims"]
    assert verified.claims["status"] == "CLOSURE"
    assert "status" not in verified.payload  # disclosed, not a Token Status List reference


def test_the_vector_is_not_accepted_blindly(vector: dict[str, Any]) -> None:
    """The same check refuses the vector with one disclosure altered."""
    jwt, *disclosures = vector["token"].split("~")
    tampered = "~".join([jwt, disclosures[0][:-2] + "AA", *disclosures[1:]])
    with pytest.raises(SdJwtError):
        _verify(vector, tampered)
