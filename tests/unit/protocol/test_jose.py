"""attestgate.protocol.jose (and the encodings it re-exports): strict base64url and JSON,
P-256 JWKs, JWKS, ES256 compact JWS."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto.jwk import JWK

from attestgate.protocol.jose import (
    JoseError,
    Jwks,
    b64url_decode,
    b64url_encode,
    json_dumps,
    json_loads,
    json_object,
    json_text,
    jwk_thumbprint,
    load_public_jwk,
    parse_compact_jws,
    public_jwk,
    raw_p256_signature,
    sign_es256,
    verify_eddsa,
    verify_es256,
)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class TestBase64url:
    def test_round_trip_without_padding(self) -> None:
        for size in range(8):
            data = bytes(range(250, 250 + size % 6)) + b"\xff" * size
            text = b64url_encode(data)
            assert "=" not in text
            assert b64url_decode(text) == data

    def test_rfc4648_test_vector(self) -> None:
        # RFC 4648 §10 "foobar", alphabet of §5.
        assert b64url_encode(b"foobar") == "Zm9vYmFy"
        assert b64url_encode(b"\xfb\xff") == "-_8"

    @pytest.mark.parametrize("text", ["Zm9vYg==", "Zm9vYg=", "Zm9v+g", "Zm9v/g", "Zm 9v", "Z", "é"])
    def test_rejects_padding_wrong_alphabet_and_bad_length(self, text: str) -> None:
        with pytest.raises(JoseError):
            b64url_decode(text)

    def test_rejects_non_canonical_trailing_bits(self) -> None:
        # "Zg" is b"f"; "Zh" has the same 8 data bits but non-zero unused bits (RFC 4648 §3.5).
        assert b64url_decode("Zg") == b"f"
        with pytest.raises(JoseError):
            b64url_decode("Zh")


class TestJson:
    def test_rejects_duplicate_member_names(self) -> None:
        with pytest.raises(JoseError):
            json_loads(b'{"a": 1, "a": 2}', max_depth=4)

    @pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b"-Infinity"])
    def test_rejects_non_finite_numbers(self, text: bytes) -> None:
        with pytest.raises(JoseError):
            json_loads(text, max_depth=4)

    def test_rejects_invalid_utf8_and_utf16(self) -> None:
        with pytest.raises(JoseError):
            json_loads(b'"\xff"', max_depth=4)
        with pytest.raises(JoseError):
            json_loads('{"a": 1}'.encode("utf-16"), max_depth=4)

    def test_depth_bound(self) -> None:
        assert json_loads(b'{"a": [[1]]}', max_depth=3) == {"a": [[1]]}
        with pytest.raises(JoseError):
            json_loads(b'{"a": [[[1]]]}', max_depth=3)

    def test_pathological_nesting_is_a_jose_error(self) -> None:
        with pytest.raises(JoseError):
            json_loads(b"[" * 100_000 + b"]" * 100_000, max_depth=8)

    def test_object_required(self) -> None:
        with pytest.raises(JoseError):
            json_object(b"[1]", max_depth=4)


class TestJwk:
    def test_round_trip(self, key: ec.EllipticCurvePrivateKey) -> None:
        jwk = public_jwk(key.public_key(), kid="k1")
        assert set(jwk) == {"kty", "crv", "x", "y", "kid"}
        assert load_public_jwk(jwk).public_numbers() == key.public_key().public_numbers()

    def test_interoperates_with_jwcrypto(self, key: ec.EllipticCurvePrivateKey) -> None:
        theirs = JWK.from_json(json.dumps(public_jwk(key.public_key())))
        assert theirs.export_public(as_dict=True)["x"] == public_jwk(key.public_key())["x"]
        # RFC 7638 thumbprint computed by an independent implementation.
        assert jwk_thumbprint(key.public_key()) == theirs.thumbprint()
        assert jwk_thumbprint(public_jwk(key.public_key(), kid="x")) == theirs.thumbprint()

    def test_rejects_other_curves(self) -> None:
        other = ec.generate_private_key(ec.SECP384R1()).public_key()
        with pytest.raises(JoseError):
            public_jwk(other)
        jwk = json.loads(JWK.from_pyca(other).export_public())
        with pytest.raises(JoseError):
            load_public_jwk(jwk)

    def test_rejects_point_off_curve(self, key: ec.EllipticCurvePrivateKey) -> None:
        jwk = public_jwk(key.public_key())
        y = bytearray(b64url_decode(jwk["y"]))
        y[-1] ^= 1
        with pytest.raises(JoseError):
            load_public_jwk({**jwk, "y": b64url_encode(bytes(y))})

    def test_rejects_private_members_and_short_coordinates(
        self, key: ec.EllipticCurvePrivateKey
    ) -> None:
        jwk = public_jwk(key.public_key())
        with pytest.raises(JoseError):
            load_public_jwk({**jwk, "d": b64url_encode(b"\x01" * 32)})
        with pytest.raises(JoseError):
            load_public_jwk({**jwk, "x": b64url_encode(b64url_decode(jwk["x"])[1:])})
        with pytest.raises(JoseError):
            load_public_jwk({**jwk, "kty": "OKP"})


class TestJwks:
    def test_dict_round_trip(self, key: ec.EllipticCurvePrivateKey) -> None:
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        jwks = Jwks({"a": key.public_key(), "b": other})
        data = jwks.to_dict()
        assert [k["kid"] for k in data["keys"]] == ["a", "b"]
        assert all(k["alg"] == "ES256" and k["use"] == "sig" for k in data["keys"])
        again = Jwks.from_dict(json.loads(json.dumps(data)))
        assert set(again.keys) == {"a", "b"}
        assert again.get("b") is not None
        assert again.get("c") is None

    def test_rejects_duplicate_kid_and_wrong_alg(self, key: ec.EllipticCurvePrivateKey) -> None:
        entry = public_jwk(key.public_key(), kid="a")
        with pytest.raises(JoseError):
            Jwks.from_dict({"keys": [entry, entry]})
        with pytest.raises(JoseError):
            Jwks.from_dict({"keys": [{**entry, "alg": "HS256"}]})
        with pytest.raises(JoseError):
            Jwks.from_dict({"keys": [{**entry, "use": "enc"}]})
        with pytest.raises(JoseError):
            Jwks.from_dict({"keys": [public_jwk(key.public_key())]})

    def test_is_read_only(self, key: ec.EllipticCurvePrivateKey) -> None:
        source = {"a": key.public_key()}
        jwks = Jwks(source)
        source.clear()
        assert jwks.get("a") is not None


class TestEs256:
    def test_pyjwt_accepts_our_jws(self, key: ec.EllipticCurvePrivateKey) -> None:
        token = sign_es256({"alg": "ES256", "kid": "k"}, {"sub": "x"}, key)
        decoded = jwt.api_jws.decode_complete(token, key.public_key(), algorithms=["ES256"])
        assert json.loads(decoded["payload"]) == {"sub": "x"}
        assert decoded["header"] == {"alg": "ES256", "kid": "k"}

    def test_we_accept_pyjwt_jws(self, key: ec.EllipticCurvePrivateKey) -> None:
        token = jwt.encode({"sub": "x"}, key, algorithm="ES256")
        assert verify_es256(parse_compact_jws(token), key.public_key())

    def test_tampered_or_foreign_signature_fails(self, key: ec.EllipticCurvePrivateKey) -> None:
        token = sign_es256({"alg": "ES256"}, {"n": 1}, key)
        head, _, sig = token.split(".")
        body = b64url_encode(b'{"n":2}')
        forged = f"{head}.{body}.{sig}"
        assert not verify_es256(parse_compact_jws(forged), key.public_key())
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        assert not verify_es256(parse_compact_jws(token), other)

    def test_parse_rejects_malformed(self) -> None:
        for token in ["a.b", "a.b.c.d", "!!.e30.AA", "e30.e30.A", "W10.e30.AA"]:
            with pytest.raises(JoseError):
                parse_compact_jws(token)

    def test_sign_requires_es256_and_p256(self) -> None:
        with pytest.raises(JoseError):
            sign_es256({"alg": "none"}, {}, ec.generate_private_key(ec.SECP256R1()))
        with pytest.raises(JoseError):
            sign_es256({"alg": "ES256"}, {}, ec.generate_private_key(ec.SECP384R1()))


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SCALARS = st.one_of(
    st.integers(1, P256_ORDER - 1),
    st.integers(1, 2**64),  # short INTEGERs: the raw form pads them to 32 bytes
    st.integers(2**255, P256_ORDER - 1),  # high bit set: DER adds a leading zero byte
)


@given(SCALARS, SCALARS)
def test_der_signature_to_raw_r_s(r: int, s: int) -> None:
    raw = raw_p256_signature(encode_dss_signature(r, s))
    assert raw == r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x06\x02\x01\x01\x02\x01",  # sequence length says one byte more
        b"\x31\x06\x02\x01\x01\x02\x01\x01",  # SET, not SEQUENCE
        b"\x30\x06\x03\x01\x01\x02\x01\x01",  # r is not an INTEGER
        b"\x30\x06\x02\x01\x01\x04\x01\x01",  # s is not an INTEGER
        b"\x30\x06\x02\x09\x01\x02\x01\x01",  # r overruns
        b"\x30\x07\x02\x01\x01\x02\x01\x01\x00",  # trailing byte after s
        encode_dss_signature(2**256 + 1, 1),  # r wider than P-256
    ],
)
def test_malformed_der_signature_is_refused(der: bytes) -> None:
    with pytest.raises(JoseError):
        raw_p256_signature(der)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(JSON_VALUES)
def test_json_text_is_exactly_json_dumps(value: object) -> None:
    assert json_text(value) == json_dumps(value)  # type: ignore[arg-type]


def test_json_text_refuses_what_json_dumps_refuses() -> None:
    for bad in (float("nan"), float("inf"), {1: b"x"}, object()):
        with pytest.raises(JoseError):
            json_text(bad)  # type: ignore[arg-type]


class TestEdDsa:
    """EdDSA (Ed25519, RFC 8037): the gateway's dev issuer and Ed25519 providers."""

    RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # RFC 8037 §A.2
    RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 §A.3

    def test_rfc8037_jwk_and_thumbprint(self) -> None:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": self.RFC8037_X}
        key = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(self.RFC8037_X))
        assert public_jwk(key) == jwk
        assert jwk_thumbprint(jwk) == jwk_thumbprint(key) == self.RFC8037_THUMBPRINT

    def test_bad_okp_jwk_is_refused(self) -> None:
        with pytest.raises(JoseError):
            jwk_thumbprint({"kty": "OKP", "crv": "X25519", "x": self.RFC8037_X})
        with pytest.raises(JoseError):
            jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})

    def test_verify(self) -> None:
        key = ed25519.Ed25519PrivateKey.generate()
        head, body = b64url_encode(b'{"alg":"EdDSA"}'), b64url_encode(b"{}")
        signature = key.sign(f"{head}.{body}".encode())
        jws = parse_compact_jws(f"{head}.{body}.{b64url_encode(signature)}")
        assert verify_eddsa(jws, key.public_key())
        assert not verify_eddsa(jws, ed25519.Ed25519PrivateKey.generate().public_key())
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        for bad in (flipped, signature[:-1], b""):
            tampered = parse_compact_jws(f"{head}.{body}.{b64url_encode(bad)}")
            assert not verify_eddsa(tampered, key.public_key())
