"""gateway.usecases.attestations.sdjwt_issuer: the token's exact shape, salts, decoys, and input
checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.usecases.attestations.sdjwt_issuer import (
    SALT_BYTES,
    IssuedSdJwt,
    issue_sd_jwt,
)
from attestgate.protocol.jose import b64url_decode, b64url_encode, json_dumps, public_jwk
from attestgate.protocol.reasons import DomainError, Reason
from attestgate.protocol.sdjwt import KeyBindingPolicy, verify_sd_jwt
from attestgate.protocol.sdjwt_format import (
    REGISTERED_CLAIM_NAMES,
    decode_disclosure,
    disclosure_digest,
    encode_disclosure,
)

NOW = datetime(2026, 3, 1, 9, 30, 15, 987654, tzinfo=UTC)
ISSUER = "https://gateway.attestgate.test"
VCT = "urn:attestgate:income:fx_purchase:v1"
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())
DISCLOSED = {"covers_amount": "covers-amount-value-7f3a", "holder_name": "Name-Value-91bd"}


def issue(**overrides: Any) -> IssuedSdJwt:
    args: dict[str, Any] = {
        "signing_key": ISSUER_KEY,
        "kid": "k-2026-03",
        "issuer": ISSUER,
        "vct": VCT,
        "holder_jwk": public_jwk(HOLDER_KEY.public_key()),
        "disclosed": DISCLOSED,
        "plain": {"consent_hash": "sha256-abc"},
        "now": NOW,
        "ttl": timedelta(minutes=10),
    }
    args.update(overrides)
    return issue_sd_jwt(**args)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str, list[str]]:
    jwt, *disclosures, last = token.split("~")
    head, body, _ = jwt.split(".")
    header = json.loads(b64url_decode(head))
    payload = json.loads(b64url_decode(body))
    return header, payload, body, disclosures + ([last] if last else [])


def test_header_is_exactly_es256_dc_sd_jwt_with_kid() -> None:
    header, _, _, _ = parts(issue().token)
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k-2026-03"}


def test_payload_carries_only_the_plain_claims() -> None:
    issued = issue(jti="jti-77", decoys=3)
    _, payload, _, disclosures = parts(issued.token)
    iat = int(NOW.timestamp())
    assert set(payload) == {
        "iss",
        "iat",
        "exp",
        "jti",
        "vct",
        "cnf",
        "consent_hash",
        "_sd_alg",
        "_sd",
    }
    assert payload["iss"] == ISSUER
    assert (payload["iat"], payload["exp"]) == (iat, iat + 600)
    assert payload["jti"] == issued.jti == "jti-77"
    assert payload["vct"] == VCT
    assert payload["cnf"] == {"jwk": public_jwk(HOLDER_KEY.public_key())}
    assert payload["_sd_alg"] == "sha-256"
    assert issued.issued_at == NOW.replace(microsecond=0)
    assert issued.expires_at == NOW.replace(microsecond=0) + timedelta(minutes=10)
    assert issued.token.endswith("~")
    assert disclosures == list(issued.disclosures.values())


def test_every_disclosure_is_referenced_and_sd_is_sorted_with_decoys() -> None:
    issued = issue(decoys=3)
    _, payload, _, _ = parts(issued.token)
    digests = payload["_sd"]
    assert digests == sorted(digests)
    assert len(digests) == len(DISCLOSED) + 3
    real = {disclosure_digest(d) for d in issued.disclosures.values()}
    assert real < set(digests)
    for name, encoded in issued.disclosures.items():
        decoded = decode_disclosure(encoded)
        assert (decoded.name, decoded.value) == (name, DISCLOSED[name])


def test_default_decoys_are_random_between_one_and_four() -> None:
    counts = {len(parts(issue().token)[1]["_sd"]) - len(DISCLOSED) for _ in range(60)}
    assert counts <= {1, 2, 3, 4}
    assert len(counts) > 1


def test_salts_have_at_least_128_bits_and_never_repeat() -> None:
    salts = []
    for _ in range(20):
        for encoded in issue().disclosures.values():
            salt = decode_disclosure(encoded).salt
            assert len(b64url_decode(salt)) >= SALT_BYTES >= 16
            salts.append(salt)
    assert len(set(salts)) == len(salts)


def test_no_disclosed_value_appears_in_clear() -> None:
    issued = issue()
    head_body = issued.token.split("~")[0].rsplit(".", 1)[0]
    _, _, body, _ = parts(issued.token)
    clear = b64url_decode(body).decode()
    for name, value in DISCLOSED.items():
        assert value not in clear
        assert name not in clear
        assert b64url_encode(value.encode()) not in head_body


def test_the_shared_verifier_accepts_it() -> None:
    result = verify_sd_jwt(
        issue().token,
        jwks={"k-2026-03": ISSUER_KEY.public_key()},
        issuer=ISSUER,
        now=NOW,
        key_binding=KeyBindingPolicy.none(),
    )
    assert dict(result.claims) == DISCLOSED
    assert result.payload["consent_hash"] == "sha256-abc"


def test_default_jti_is_random_at_least_128_bits() -> None:
    first, second = issue().jti, issue().jti
    assert first != second
    assert len(b64url_decode(first)) == SALT_BYTES >= 16


def test_holder_jwk_keeps_only_public_members() -> None:
    jwk = {**public_jwk(HOLDER_KEY.public_key(), kid="bank-key"), "use": "sig", "alg": "ES256"}
    _, payload, _, _ = parts(issue(holder_jwk=jwk).token)
    assert payload["cnf"]["jwk"] == public_jwk(HOLDER_KEY.public_key())


@pytest.mark.parametrize(
    "bad",
    [
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()) | {"d": "AAAA"},
        {},
    ],
)
def test_bad_holder_jwk_is_invalid_argument(bad: dict[str, str]) -> None:
    with pytest.raises(DomainError) as info:
        issue(holder_jwk=bad)
    assert info.value.reason is Reason.INVALID_ARGUMENT
    assert [v.field for v in info.value.violations] == ["holder_jwk"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"disclosed": {"_sd": 1}},
        {"disclosed": {"iss": "x"}},
        {"disclosed": {"": 1}},
        {"plain": {"exp": 1}},
        {"plain": {"vct#integrity": "sha256-x"}},  # only through vct_integrity
        {"plain": {"covers_amount": 1}},
        {"disclosed": {"when": datetime(2026, 1, 1)}},
        {"plain": {"nan": float("nan")}},
        {"now": NOW.replace(tzinfo=None)},
        {"ttl": timedelta(0)},
        {"decoys": -1},
        {"decoys": 17},
        {"jti": ""},
    ],
)
def test_programming_errors_are_value_errors(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        issue(**overrides)


@pytest.mark.parametrize("name", sorted(REGISTERED_CLAIM_NAMES))
def test_no_registered_claim_name_is_disclosed(name: str) -> None:
    """draft-ietf-oauth-sd-jwt-vc "Registered JWT Claims" (issue 17 item 1)."""
    with pytest.raises(ValueError, match=r"reserved|registered claim"):
        issue(disclosed={name: "x"})


def test_status_may_be_carried_in_clear() -> None:
    """As the Token Status List reference, never as a disclosure."""
    reference = {"status_list": {"idx": 7, "uri": ISSUER + "/status/1"}}
    issued = issue(plain={"status": reference})
    payload = json.loads(b64url_decode(issued.token.split(".")[1]))
    assert payload["status"] == reference


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"plain": {}},
        {"disclosed": {}, "decoys": 0},
        {"issuer": 'Iss "quoted" \\ 发行人\u2028', "jti": 'j"\\\n1', "vct": "urn:x:\u00e9"},
        {"plain": {"n": 1, "f": 1.5, "b": False, "z": None, "l": [1, "a"], "o": {"k": "v"}}},
        {"vct": ISSUER + "/types/income/fx_purchase/v1", "vct_integrity": "sha256-a+b/c="},
    ],
)
def test_claims_set_is_byte_for_byte_the_compact_json_of_its_members(
    overrides: dict[str, Any],
) -> None:
    # The issuer writes the claims set by hand (hot path); it must equal the general encoder's.
    _, payload, body, _ = parts(issue(**overrides).token)
    assert b64url_decode(body) == json_dumps(payload).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    ["plain", 'quote " and \\ backslash', "控制\u0001字符\u2028", "", 7, -1.25, True, None, [1]],
)
def test_disclosure_encoding_matches_the_general_encoder(value: Any) -> None:
    encoded = encode_disclosure("c2FsdA", "name", value)
    assert b64url_decode(encoded) == json_dumps(["c2FsdA", "name", value]).encode("utf-8")


def test_vct_integrity_is_in_clear_beside_vct() -> None:
    vct = ISSUER + "/types/income/fx_purchase/v1"
    _, payload, _, disclosures = parts(issue(vct=vct, vct_integrity="sha256-abc=").token)
    assert (payload["vct"], payload["vct#integrity"]) == (vct, "sha256-abc=")
    assert {decode_disclosure(d).name for d in disclosures} == set(DISCLOSED)
    assert "vct#integrity" not in parts(issue().token)[1]  # absent unless given
