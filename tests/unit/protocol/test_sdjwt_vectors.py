"""RFC 9901 disclosure vectors (tests/vectors/sdjwt/README.md): our encoding and digests match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attestgate.protocol.sdjwt_format import (
    SdJwtError,
    VerifyFailure,
    decode_disclosure,
    disclosure_digest,
    encode_disclosure,
    join_sd_jwt,
    sd_digest,
    split_presentation,
)

_VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "sdjwt" / "rfc9901_disclosures.json").read_text(
        encoding="utf-8"
    )
)
_OBJECT = _VECTORS["object_property_disclosures"]


@pytest.mark.parametrize("vector", _OBJECT, ids=[v["name"] + "@" + v["section"] for v in _OBJECT])
def test_digest_of_rfc_disclosure(vector: dict[str, str]) -> None:
    assert disclosure_digest(vector["disclosure"]) == vector["digest"]


@pytest.mark.parametrize("vector", _OBJECT, ids=[v["name"] + "@" + v["section"] for v in _OBJECT])
def test_decode_rfc_disclosure(vector: dict[str, str]) -> None:
    decoded = decode_disclosure(vector["disclosure"])
    assert (decoded.salt, decoded.name, decoded.value) == (
        vector["salt"],
        vector["name"],
        vector["value"],
    )
    assert decoded.digest == vector["digest"]


@pytest.mark.parametrize("vector", _OBJECT, ids=[v["name"] + "@" + v["section"] for v in _OBJECT])
def test_our_encoding_round_trips_and_digest_is_over_the_encoded_string(
    vector: dict[str, str],
) -> None:
    # Our encoder writes compact JSON (the RFC's examples have spaces), so the strings differ,
    # yet both are valid and each digest follows its own encoded string (RFC 9901 §4.2.1).
    ours = encode_disclosure(vector["salt"], vector["name"], vector["value"])
    decoded = decode_disclosure(ours)
    assert (decoded.salt, decoded.name, decoded.value) == (
        vector["salt"],
        vector["name"],
        vector["value"],
    )
    assert ours != vector["disclosure"]
    assert disclosure_digest(ours) != vector["digest"]


def test_equivalent_encodings_decode_alike_with_distinct_digests() -> None:
    variants = _VECTORS["equivalent_encodings"]
    digests = set()
    for encoded in variants["disclosures"]:
        decoded = decode_disclosure(encoded)
        assert (decoded.salt, decoded.name, decoded.value) == (
            variants["salt"],
            variants["name"],
            variants["value"],
        )
        digests.add(disclosure_digest(encoded))
    assert len(digests) == 3
    assert _OBJECT[0]["digest"] not in digests


def test_array_element_disclosure_digest_matches_but_profile_refuses_it() -> None:
    vector = _VECTORS["array_element_disclosure"]
    assert disclosure_digest(vector["disclosure"]) == vector["digest"]
    with pytest.raises(SdJwtError) as info:
        decode_disclosure(vector["disclosure"])
    assert info.value.code is VerifyFailure.BAD_DISCLOSURE


def test_sd_digest_is_unpadded_base64url_of_sha256() -> None:
    # SHA-256("abc") (FIPS 180-2 appendix B.1) in base64url without padding.
    assert sd_digest(b"abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


@pytest.mark.parametrize(
    ("disclosures", "kb", "joined"),
    [
        ([], "", "h.p.s~"),
        (["WyJh"], "", "h.p.s~WyJh~"),
        (["WyJh", "WyJi"], "k.b.s", "h.p.s~WyJh~WyJi~k.b.s"),
    ],
)
def test_join_sd_jwt_is_the_inverse_of_split(disclosures: list[str], kb: str, joined: str) -> None:
    assert join_sd_jwt("h.p.s", disclosures, kb) == joined
    assert split_presentation(joined) == ("h.p.s", disclosures, kb)
