"""protocol.status_list: the draft's encoding examples, bit packing, ZLIB bounds, and the signed
Status List Token (ES256 and EdDSA), checked as a relying party must."""

from __future__ import annotations

import json
import math
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.protocol.encoding import b64url_encode
from attestgate.protocol.jose import parse_compact_jws, sign_jws
from attestgate.protocol.status_list import (
    TYP,
    PublicKey,
    Status,
    StatusList,
    StatusListError,
    compress,
    decompress,
    parse_reference,
    reference_claim,
    sign_status_list_token,
    verify_status_list_token,
)

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "status_list" / "draft_examples.json").read_text(
        encoding="utf-8"
    )
)["vectors"]
URI = "https://issuer.example/status/1"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_drafts_examples_decode_to_their_byte_arrays_and_statuses(
    vector: dict[str, Any],
) -> None:
    parsed = StatusList.from_json({"bits": vector["bits"], "lst": vector["lst"]})
    assert parsed.to_bytes().hex() == vector["byte_array"]
    assert [parsed.get(i) for i in range(len(vector["statuses"]))] == vector["statuses"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_setting_the_drafts_statuses_builds_its_byte_array_and_round_trips(
    vector: dict[str, Any],
) -> None:
    built = StatusList.new(len(vector["statuses"]), vector["bits"])
    for index, status in enumerate(vector["statuses"]):
        built.set(index, status)
    assert built.to_bytes().hex() == vector["byte_array"]
    assert StatusList.from_json(built.to_json()).to_bytes() == built.to_bytes()


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_every_width_sets_one_entry_without_touching_its_neighbours(bits: int) -> None:
    lst = StatusList.new(64, bits)
    top = (1 << bits) - 1
    for index in range(64):
        lst.set(index, top)
    lst.set(9, 0)
    assert [lst.get(i) for i in (8, 9, 10)] == [top, 0, top]
    assert lst.size == 64


def test_bounds_and_widths_are_refused() -> None:
    lst = StatusList.new(16, 1)
    with pytest.raises(StatusListError, match="outside"):
        lst.get(16)
    with pytest.raises(StatusListError, match="does not fit"):
        lst.set(0, 2)
    with pytest.raises(StatusListError, match="bits"):
        StatusList.new(8, 3)
    for bad in ({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}, {"bits": True, "lst": "x"}, {"bits": 1}):
        with pytest.raises(StatusListError):
            StatusList.from_json(bad)


def test_decompression_is_bounded_and_refuses_trailing_or_truncated_streams() -> None:
    bomb = zlib.compress(bytes(1 << 20), 9)
    with pytest.raises(StatusListError, match="inflates beyond"):
        decompress(bomb, max_bytes=1 << 19)
    assert len(decompress(bomb, max_bytes=1 << 20)) == 1 << 20
    with pytest.raises(StatusListError, match="complete"):
        decompress(bomb + b"x")
    with pytest.raises(StatusListError, match="complete"):
        decompress(bomb[:-3])
    with pytest.raises(StatusListError, match="ZLIB"):
        decompress(b"not zlib")


def test_the_reference_claim_round_trips_and_refuses_bad_members() -> None:
    ref = parse_reference(reference_claim(URI, 7))
    assert (ref.uri, ref.idx) == (URI, 7)
    for bad in ({}, {"status_list": {"idx": -1, "uri": URI}}, {"status_list": {"idx": 1}}):
        with pytest.raises(StatusListError):
            parse_reference(bad)


def _keys() -> list[tuple[Any, PublicKey]]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    return [(p256, p256.public_key()), (ed, ed.public_key())]


@pytest.mark.parametrize("pair", _keys(), ids=["ES256", "EdDSA"])
def test_a_signed_token_verifies_with_typ_sub_iat_exp_ttl(pair: tuple[Any, PublicKey]) -> None:
    private, public = pair
    lst = StatusList.new(1 << 17, 2)
    lst.set(4242, Status.SUSPENDED)
    token = sign_status_list_token(
        private, kid="k1", uri=URI, iat=1000, exp=2000, ttl=60, status_list=lst, iss="https://i"
    )
    assert parse_compact_jws(token).header["typ"] == TYP
    verified = verify_status_list_token(
        token, {"k1": public}.get, uri=URI, now=1500, iss="https://i"
    )
    assert (verified.sub, verified.iat, verified.exp, verified.ttl) == (URI, 1000, 2000, 60)
    assert verified.status(4242) is Status.SUSPENDED
    assert verified.status(4241) is Status.VALID
    with pytest.raises(StatusListError, match="expired"):
        verify_status_list_token(token, {"k1": public}.get, uri=URI, now=2000)
    with pytest.raises(StatusListError, match="sub"):
        verify_status_list_token(token, {"k1": public}.get, uri=URI + "x", now=1500)
    with pytest.raises(StatusListError, match="unknown key"):
        verify_status_list_token(token, lambda _kid: None, uri=URI, now=1500)
    with pytest.raises(StatusListError, match="iss"):
        verify_status_list_token(token, {"k1": public}.get, uri=URI, now=1500, iss="other")


def test_a_tampered_token_or_wrong_typ_or_wrong_key_is_refused() -> None:
    (private, public), (_, other) = _keys()
    lst = StatusList.new(16, 1)
    token = sign_status_list_token(private, kid="k", uri=URI, iat=1, status_list=lst)
    head, _, sig = token.split(".")
    forged_lst = StatusList.new(16, 1)
    forged_lst.set(3, 1)
    body = b64url_encode(
        json.dumps({"sub": URI, "iat": 1, "status_list": forged_lst.to_json()}).encode()
    )
    with pytest.raises(StatusListError, match="signature"):
        verify_status_list_token(f"{head}.{body}.{sig}", {"k": public}.get, uri=URI, now=2)
    with pytest.raises(StatusListError, match="signature"):
        verify_status_list_token(token, {"k": other}.get, uri=URI, now=2)
    plain = sign_jws(
        {"alg": "ES256", "kid": "k", "typ": "JWT"},
        {"sub": URI, "iat": 1, "status_list": lst.to_json()},
        private,
    )
    with pytest.raises(StatusListError, match="typ"):
        verify_status_list_token(plain, {"k": public}.get, uri=URI, now=2)


@pytest.mark.parametrize("invalid", [0.0, 0.01, 0.5, 0.99])
def test_compression_stays_within_twice_the_information_content(invalid: float) -> None:
    size = 1 << 18
    rng = random.Random(7)
    lst = StatusList.new(size, 2)
    for idx in rng.sample(range(size), int(size * invalid)):
        lst.set(idx, Status.INVALID)
    compressed = len(compress(lst.to_bytes()))
    entropy = -sum(p * math.log2(p) for p in (invalid, 1 - invalid) if p > 0)
    assert compressed <= max(2 * size * entropy / 8, 512)
    assert StatusList.from_json(lst.to_json()).to_bytes() == lst.to_bytes()
