"""protocol.sdjwt.verify_sd_jwt: accepted tokens, and every refusal with its precise code."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.usecases.attestations.sdjwt_issuer import IssuedSdJwt, issue_sd_jwt
from attestgate.protocol.jose import (
    JsonInput,
    Jwks,
    b64url_encode,
    json_dumps,
    public_jwk,
    sign_es256,
)
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.protocol.sdjwt import (
    KeyBindingPolicy,
    VerifiedSdJwt,
    create_presentation,
    redemption_nonce,
    unverified_jti,
    verify_sd_jwt,
)
from attestgate.protocol.sdjwt_format import (
    MAX_DISCLOSURES,
    MAX_PRESENTATION_CHARS,
    SdJwtError,
    VerifyFailure,
    decode_disclosure,
    disclosure_digest,
    encode_disclosure,
)

ISSUER = "https://gateway.attestgate.test"
AUDIENCE = "attestgate-gateway"
NONCE = "n-0123456789abcdef"
VCT = "urn:attestgate:income:fx_purchase:v1"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = Jwks({"k1": ISSUER_KEY.public_key()})
KB = KeyBindingPolicy.require(audience=AUDIENCE, nonce=NONCE)
NO_KB = KeyBindingPolicy.none()
SD_HEADER: dict[str, JsonInput] = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}


def issue(**overrides: object) -> IssuedSdJwt:
    args: dict[str, object] = {
        "signing_key": ISSUER_KEY,
        "kid": "k1",
        "issuer": ISSUER,
        "vct": VCT,
        "holder_jwk": public_jwk(HOLDER_KEY.public_key()),
        "disclosed": {"covers_amount": True, "tax_year": 2025},
        "plain": {"consent_hash": "c0ffee", "fx_rate": "CNY-USD-2026-03-01"},
        "now": NOW,
        "ttl": timedelta(minutes=10),
    }
    args.update(overrides)
    return issue_sd_jwt(**args)  # type: ignore[arg-type]


def present(token: str, **overrides: object) -> str:
    args: dict[str, object] = {
        "holder_key": HOLDER_KEY,
        "audience": AUDIENCE,
        "nonce": NONCE,
        "now": NOW,
    }
    args.update(overrides)
    return create_presentation(token, **args)  # type: ignore[arg-type]


def verify(
    token: str, policy: KeyBindingPolicy = KB, now: datetime = NOW, **kw: object
) -> VerifiedSdJwt:
    return verify_sd_jwt(
        token,
        jwks=JWKS,
        issuer=ISSUER,
        now=now,
        key_binding=policy,
        **kw,  # type: ignore[arg-type]
    )


def code_of(token: str, policy: KeyBindingPolicy = KB, **kw: object) -> VerifyFailure:
    with pytest.raises(SdJwtError) as info:
        verify(token, policy, **kw)  # type: ignore[arg-type]
    return info.value.code


def claims_set(**overrides: JsonInput) -> dict[str, JsonInput]:
    iat = int(NOW.timestamp())
    payload: dict[str, JsonInput] = {
        "iss": ISSUER,
        "iat": iat,
        "exp": iat + 600,
        "jti": "jti-1",
        "vct": VCT,
        "cnf": {"jwk": public_jwk(HOLDER_KEY.public_key())},
        "_sd_alg": "sha-256",
        "_sd": [],
    }
    payload.update(overrides)
    return payload


def forge(
    payload: Mapping[str, JsonInput],
    disclosures: tuple[str, ...] = (),
    header: Mapping[str, JsonInput] = SD_HEADER,
    key: ec.EllipticCurvePrivateKey = ISSUER_KEY,
) -> str:
    return "~".join([sign_es256(header, payload, key), *disclosures]) + "~"


def unsigned(header: Mapping[str, JsonInput], payload: Mapping[str, JsonInput], sig: bytes) -> str:
    head = b64url_encode(json_dumps(header).encode())
    body = b64url_encode(json_dumps(payload).encode())
    return f"{head}.{body}.{b64url_encode(sig)}"


class TestAccepts:
    def test_issuance_without_key_binding(self) -> None:
        issued = issue()
        result = verify(issued.token, NO_KB)
        assert dict(result.claims) == {"covers_amount": True, "tax_year": 2025}
        assert result.payload["consent_hash"] == "c0ffee"
        assert "_sd" not in result.payload
        assert "_sd_alg" not in result.payload
        assert result.jti == issued.jti
        assert result.issuer == ISSUER
        assert result.issued_at == NOW
        assert result.expires_at == NOW + timedelta(minutes=10)
        assert result.holder_jwk == public_jwk(HOLDER_KEY.public_key())
        assert result.header == SD_HEADER
        assert result.kb_payload is None

    def test_presentation_with_key_binding_and_selection(self) -> None:
        presentation = present(issue().token, disclose=["covers_amount"])
        result = verify(presentation)
        assert dict(result.claims) == {"covers_amount": True}
        assert result.kb_payload is not None
        assert result.kb_payload["nonce"] == NONCE
        assert result.kb_payload["aud"] == AUDIENCE

    def test_presentation_disclosing_nothing(self) -> None:
        assert dict(verify(present(issue().token, disclose=[])).claims) == {}

    def test_plain_mapping_of_keys_and_vct_prefix(self) -> None:
        result = verify_sd_jwt(
            issue().token,
            jwks={"k1": ISSUER_KEY.public_key()},
            issuer=ISSUER,
            now=NOW,
            key_binding=NO_KB,
            expected_vct_prefix="urn:attestgate:income:",
        )
        assert result.claims["tax_year"] == 2025

    def test_expiry_leeway(self) -> None:
        token = issue().token
        assert verify(token, NO_KB, now=NOW + timedelta(minutes=10, seconds=30)).jti
        assert verify(token, NO_KB, now=NOW - timedelta(seconds=30)).jti

    def test_kb_iat_window_edges(self) -> None:
        token = issue().token
        assert verify(present(token, now=NOW - timedelta(minutes=5)))
        assert verify(present(token, now=NOW + timedelta(seconds=30)))


class TestTime:
    def test_expired(self) -> None:
        token = issue().token
        assert code_of(token, NO_KB, now=NOW + timedelta(minutes=10, seconds=31)) == "EXPIRED"

    def test_issued_in_the_future(self) -> None:
        assert code_of(issue().token, NO_KB, now=NOW - timedelta(seconds=31)) == "NOT_YET_VALID"

    def test_nbf_in_the_future(self) -> None:
        token = forge(claims_set(nbf=int(NOW.timestamp()) + 120))
        assert code_of(token, NO_KB) == VerifyFailure.NOT_YET_VALID

    @pytest.mark.parametrize("exp", [True, "1767225600", 1e300, -1, None])
    def test_bad_numeric_dates(self, exp: JsonInput) -> None:
        assert code_of(forge(claims_set(exp=exp)), NO_KB) == VerifyFailure.BAD_CLAIMS

    def test_stale_kb(self) -> None:
        presentation = present(issue().token, now=NOW - timedelta(minutes=5, seconds=1))
        assert code_of(presentation) == VerifyFailure.KB_STALE

    def test_kb_from_the_future(self) -> None:
        presentation = present(issue().token, now=NOW + timedelta(seconds=31))
        assert code_of(presentation) == VerifyFailure.KB_IAT_IN_FUTURE


class TestIssuerJwt:
    def test_alg_none(self) -> None:
        header = {**SD_HEADER, "alg": "none"}
        token = unsigned(header, claims_set(), b"") + "~"
        assert code_of(token, NO_KB) == VerifyFailure.ALG_NOT_ALLOWED

    def test_hs256_with_public_key_as_secret(self) -> None:
        # The classic algorithm-confusion attack (RFC 8725 §2.1): HMAC keyed with the public key.
        secret = ISSUER_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {**SD_HEADER, "alg": "HS256"}
        head_body = unsigned(header, claims_set(), b"").rsplit(".", 1)[0]
        mac = hmac.new(secret, head_body.encode(), hashlib.sha256).digest()
        token = f"{head_body}.{b64url_encode(mac)}~"
        assert code_of(token, NO_KB) == VerifyFailure.ALG_NOT_ALLOWED

    def test_unknown_or_missing_kid(self) -> None:
        assert code_of(issue(kid="k2").token, NO_KB) == VerifyFailure.UNKNOWN_KID
        header = {"alg": "ES256", "typ": "dc+sd-jwt"}
        assert code_of(forge(claims_set(), header=header), NO_KB) == VerifyFailure.UNKNOWN_KID

    @pytest.mark.parametrize("typ", ["JWT", "example+sd-jwt", "vc+sd-jwt", None])
    def test_wrong_typ(self, typ: str | None) -> None:
        header = {**SD_HEADER, "typ": typ}
        assert code_of(forge(claims_set(), header=header), NO_KB) == VerifyFailure.BAD_TYP

    def test_crit_header(self) -> None:
        header = {**SD_HEADER, "crit": ["exp"]}
        assert code_of(forge(claims_set(), header=header), NO_KB) == VerifyFailure.BAD_HEADER

    def test_signed_by_another_key(self) -> None:
        token = issue(signing_key=OTHER_KEY).token
        assert code_of(token, NO_KB) == VerifyFailure.BAD_SIGNATURE

    def test_tampered_payload(self) -> None:
        head, _, sig = issue().token.split("~")[0].split(".")
        body = b64url_encode(json_dumps(claims_set(iss=ISSUER)).encode())
        assert code_of(f"{head}.{body}.{sig}~", NO_KB) == VerifyFailure.BAD_SIGNATURE

    def test_wrong_issuer(self) -> None:
        assert code_of(issue(issuer="https://evil.test").token, NO_KB) == "WRONG_ISSUER"

    def test_vct_mismatch(self) -> None:
        code = code_of(issue().token, NO_KB, expected_vct_prefix="urn:attestgate:patent:")
        assert code == VerifyFailure.VCT_MISMATCH

    def test_sd_alg(self) -> None:
        assert code_of(forge(claims_set(_sd_alg="sha-512")), NO_KB) == VerifyFailure.BAD_SD_ALG
        payload = claims_set()
        del payload["_sd_alg"]
        assert code_of(forge(payload), NO_KB) == VerifyFailure.BAD_SD_ALG

    def test_missing_jti(self) -> None:
        payload = claims_set()
        del payload["jti"]
        assert code_of(forge(payload), NO_KB) == VerifyFailure.BAD_CLAIMS

    def test_nested_sd_is_outside_the_profile(self) -> None:
        token = forge(claims_set(address={"_sd": ["x"]}))
        assert code_of(token, NO_KB) == VerifyFailure.MALFORMED


class TestDisclosures:
    def test_tampered_disclosure(self) -> None:
        issued = issue()
        original = issued.disclosures["covers_amount"]
        tampered = encode_disclosure(decode_disclosure(original).salt, "covers_amount", False)
        token = issued.token.replace(original, tampered)
        assert code_of(token, NO_KB) == VerifyFailure.UNREFERENCED_DISCLOSURE
        assert code_of(present(token)) == VerifyFailure.UNREFERENCED_DISCLOSURE

    def test_unreferenced_disclosure(self) -> None:
        extra = encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "extra", 1)
        assert code_of(issue().token + extra + "~", NO_KB) == "UNREFERENCED_DISCLOSURE"

    def test_duplicate_digest(self) -> None:
        disclosure = encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "a", 1)
        digest = disclosure_digest(disclosure)
        token = forge(claims_set(_sd=[digest, digest]), (disclosure,))
        assert code_of(token, NO_KB) == VerifyFailure.DUPLICATE_DIGEST

    def test_duplicate_disclosure(self) -> None:
        issued = issue()
        again = issued.disclosures["tax_year"]
        assert code_of(issued.token + again + "~", NO_KB) == VerifyFailure.DUPLICATE_DISCLOSURE

    @pytest.mark.parametrize("name", ["_sd", "..."])
    def test_reserved_names(self, name: str) -> None:
        disclosure = encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", name, ["x"])
        token = forge(claims_set(_sd=[disclosure_digest(disclosure)]), (disclosure,))
        assert code_of(token, NO_KB) == VerifyFailure.RESERVED_CLAIM_NAME

    def test_name_colliding_with_plain_claim_or_other_disclosure(self) -> None:
        iss = encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "iss", "https://evil.test")
        token = forge(claims_set(_sd=[disclosure_digest(iss)]), (iss,))
        assert code_of(token, NO_KB) == VerifyFailure.CLAIM_COLLISION
        one = encode_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "a", 1)
        two = encode_disclosure("b3RoZXJzYWx0b3RoZXJzYQ", "a", 2)
        token = forge(claims_set(_sd=sorted(map(disclosure_digest, (one, two)))), (one, two))
        assert code_of(token, NO_KB) == VerifyFailure.CLAIM_COLLISION

    @pytest.mark.parametrize(
        "content",
        [
            ["salt", "FR"],
            ["salt", "a", 1, 2],
            [1, "a", 1],
            ["salt", 2, 1],
            {"salt": "a"},
            ["salt", "a", {"_sd": []}],
            ["salt", "a", [{"...": "x"}]],
        ],
    )
    def test_malformed_but_referenced_disclosure(self, content: JsonInput) -> None:
        disclosure = b64url_encode(json_dumps(content).encode())
        token = forge(claims_set(_sd=[disclosure_digest(disclosure)]), (disclosure,))
        assert code_of(token, NO_KB) == VerifyFailure.BAD_DISCLOSURE

    def test_too_many_disclosures(self) -> None:
        token = issue().token + "WyJhIiwiYiIsMV0~" * (MAX_DISCLOSURES - 1)
        assert code_of(token, NO_KB) == VerifyFailure.TOO_LARGE


class TestKeyBinding:
    def test_stripped_kb(self) -> None:
        presentation = present(issue().token)
        stripped = presentation[: presentation.rindex("~") + 1]
        assert code_of(stripped) == VerifyFailure.KB_MISSING

    def test_kb_present_when_policy_says_none(self) -> None:
        assert code_of(present(issue().token), NO_KB) == VerifyFailure.KB_UNEXPECTED

    def test_wrong_nonce_and_audience(self) -> None:
        token = issue().token
        assert code_of(present(token, nonce="other")) == VerifyFailure.NONCE_MISMATCH
        assert code_of(present(token, audience="other")) == VerifyFailure.AUD_MISMATCH

    def test_kb_signed_by_another_key(self) -> None:
        assert code_of(present(issue().token, holder_key=OTHER_KEY)) == "KB_BAD_SIGNATURE"

    def test_sd_hash_mismatch_when_disclosures_change_under_the_kb(self) -> None:
        token = issue().token
        full = present(token)
        kb_jwt = full.rsplit("~", 1)[1]
        fewer = present(token, disclose=["covers_amount"])
        swapped = fewer[: fewer.rindex("~") + 1] + kb_jwt
        assert code_of(swapped) == VerifyFailure.SD_HASH_MISMATCH

    def test_kb_alg_none(self) -> None:
        token = issue().token
        kb_claims: dict[str, JsonInput] = {
            "iat": int(NOW.timestamp()),
            "aud": AUDIENCE,
            "nonce": NONCE,
            "sd_hash": "x",
        }
        forged = token + unsigned({"alg": "none", "typ": "kb+jwt"}, kb_claims, b"")
        assert code_of(forged) == VerifyFailure.KB_ALG_NOT_ALLOWED

    def test_kb_wrong_typ(self) -> None:
        token = issue().token
        kb_claims: dict[str, JsonInput] = {
            "iat": int(NOW.timestamp()),
            "aud": AUDIENCE,
            "nonce": NONCE,
            "sd_hash": "x",
        }
        forged = token + sign_es256({"alg": "ES256", "typ": "JWT"}, kb_claims, HOLDER_KEY)
        assert code_of(forged) == VerifyFailure.KB_BAD_TYP

    def test_kb_garbage(self) -> None:
        assert code_of(issue().token + "not-a-jwt") == VerifyFailure.KB_MALFORMED

    def test_required_kb_without_cnf(self) -> None:
        payload = claims_set()
        del payload["cnf"]
        token = present(forge(payload))
        assert code_of(token) == VerifyFailure.BAD_CNF
        assert verify(forge(payload), NO_KB).holder_jwk is None

    def test_bad_cnf(self) -> None:
        token = forge(claims_set(cnf={"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}))
        assert code_of(token, NO_KB) == VerifyFailure.BAD_CNF


class TestGarbage:
    @pytest.mark.parametrize(
        "token", ["", "~", "garbage", "a.b.c~", "~~", "a~~b~", "é~", "W10.e30.e30~"]
    )
    def test_malformed(self, token: str) -> None:
        assert code_of(token, NO_KB) == VerifyFailure.MALFORMED

    def test_truncated(self) -> None:
        token = issue().token
        for cut in (10, 40, len(token.split("~")[0]) - 3):
            assert code_of(token[:cut] + "~", NO_KB) in {"MALFORMED", "BAD_SIGNATURE"}
        assert code_of(token.split("~")[0], NO_KB) == VerifyFailure.MALFORMED

    def test_oversize(self) -> None:
        token = issue().token
        padded = token + "A" * (MAX_PRESENTATION_CHARS - len(token) + 1)
        assert code_of(padded, NO_KB) == VerifyFailure.TOO_LARGE

    def test_not_a_string(self) -> None:
        assert code_of(issue().token.encode(), NO_KB) == VerifyFailure.MALFORMED  # type: ignore[arg-type]


class TestErrorsAndPolicy:
    def test_error_is_opaque_with_precise_code(self) -> None:
        with pytest.raises(SdJwtError) as info:
            verify(issue().token, NO_KB, now=NOW + timedelta(days=1))
        error = info.value
        assert str(error) == "attestation invalid"
        assert error.code is VerifyFailure.EXPIRED
        assert isinstance(error, DomainError)
        assert error.reason is Reason.ATTESTATION_INVALID
        assert "EXPIRED" in repr(error)

    def test_policy_requires_audience_and_nonce(self) -> None:
        with pytest.raises(ValueError, match="audience and a nonce"):
            KeyBindingPolicy(required=True, audience=AUDIENCE)
        with pytest.raises(ValueError, match="negative"):
            KeyBindingPolicy(required=False, max_age=timedelta(seconds=-1))

    def test_naive_now_is_a_caller_error(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            verify(issue().token, NO_KB, now=NOW.replace(tzinfo=None))


class TestHelpers:
    def test_redemption_nonce(self) -> None:
        expected = b64url_encode(hashlib.sha256(b"attestgate-redeem\x00j1\x00tx-9").digest())
        assert redemption_nonce("j1", "tx-9") == expected
        assert redemption_nonce("j1", "tx-10") != expected
        # The separator keeps ("j1", "x") and ("j1\x00", "x")-style splits apart.
        assert redemption_nonce("j", "1tx-9") != redemption_nonce("j1", "tx-9")
        with pytest.raises(ValueError, match="NUL"):
            redemption_nonce("j1\x00", "tx")

    def test_redemption_nonce_binds_a_kb_jwt_to_one_transaction(self) -> None:
        issued = issue()
        nonce = redemption_nonce(unverified_jti(issued.token), "tx-1")
        presentation = present(issued.token, nonce=nonce)
        policy = KeyBindingPolicy.require(audience=AUDIENCE, nonce=nonce)
        assert verify(presentation, policy).jti == issued.jti
        replay = KeyBindingPolicy.require(
            audience=AUDIENCE, nonce=redemption_nonce(issued.jti, "tx-2")
        )
        assert code_of(presentation, replay) == VerifyFailure.NONCE_MISMATCH

    def test_unverified_jti(self) -> None:
        issued = issue(jti="my-jti")
        assert unverified_jti(issued.token) == "my-jti"
        assert unverified_jti(present(issued.token)) == "my-jti"
        for junk in ("", "x", "a.b.c", "~"):
            with pytest.raises(SdJwtError):
                unverified_jti(junk)

    def test_create_presentation_refuses_unknown_claims_and_bound_tokens(self) -> None:
        token = issue().token
        with pytest.raises(ValueError, match="no disclosure"):
            present(token, disclose=["salary"])
        with pytest.raises(ValueError, match="already"):
            present(present(token))
