"""``attestgate demo`` end to end, and its evidence bundle checked by a third party.

The bundle is verified with standard tools only, no attestgate code: the SD-JWT presentations by
the IETF reference implementation (``sd_jwt``), the issuer JWT and the KB-JWT by plain PyJWT
against ``gateway.jwks``, the signed checkpoint note with ``cryptography`` Ed25519 straight from
``gateway.log_vkey`` (c2sp.org/signed-note), and the proofs with the RFC 9162 §2.1.3.2 and
§2.1.4.2 algorithms written out below."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from attestgate.gateway.demo.run import STEPS
from attestgate.gateway.ops.cli import main
from attestgate.protocol.sdjwt_format import REGISTERED_CLAIM_NAMES

REPO = Path(__file__).resolve().parents[2]
DOMAINS = ["income", "warehouse_receipt", "patent", "business_registration"]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    """One ``attestgate demo --json`` run as a user runs it: a separate process, JSON on stdout."""
    out = subprocess.run(
        [sys.executable, "-m", "attestgate.gateway.ops.cli", "demo", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'proto'}"},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[FAIL]" not in out.stderr
    assert "all " in out.stderr
    assert "expectations held" in out.stderr
    document = json.loads(out.stdout)  # stdout holds the document, nothing else
    assert isinstance(document, dict)
    return document


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- shape -------------------------------------------------------------------------------------


def test_the_bundle_has_the_issue_s_shape(bundle: dict[str, Any]) -> None:
    assert set(bundle) == {"gateway", "cases", "audit"}
    assert set(bundle["gateway"]) == {"target", "issuer", "jwks", "log_origin", "log_vkey"}
    case_fields = {
        "domain", "purpose", "consent_id", "attestation", "presentation", "kb_aud", "kb_nonce",
        "disclosed", "withheld", "redeemed", "second_redeem",
    }  # fmt: skip
    assert [case["domain"] for case in bundle["cases"]] == DOMAINS
    for case in bundle["cases"]:
        assert set(case) == case_fields
        assert case["second_redeem"] == {
            "code": "FAILED_PRECONDITION",
            "reason": "ATTESTATION_ALREADY_REDEEMED",
        }
    assert set(bundle["audit"]) == {"checkpoint", "inclusion", "consistency"}
    assert set(bundle["audit"]["consistency"]) == {"old_checkpoint", "new_checkpoint", "hashes"}
    for proof in bundle["audit"]["inclusion"]:
        assert set(proof) == {"index", "leaf", "tree_size", "hashes"}


def test_minimum_disclosure(bundle: dict[str, Any]) -> None:
    income, _, _, company = bundle["cases"]
    assert income["disclosed"] == {"tax_year": 2025, "covers_amount": True}
    assert {"claim": "after_tax_income", "reason": "NOT_ALLOWED_FOR_PURPOSE"} in income["withheld"]
    assert "61234500" not in json.dumps(bundle)  # the income appears nowhere in the evidence
    assert income["redeemed"]["consumed_amount"] == 35_617_000  # USD 50,000 at 7.1234, in fen
    assert company["disclosed"]["registration_status"] == "CLOSURE"
    for case in bundle["cases"]:  # no registered JWT / SD-JWT VC name is disclosed
        assert not set(case["disclosed"]) & REGISTERED_CLAIM_NAMES, case["domain"]
    assert company["disclosed"]["in_good_standing"] is True
    assert "legal_rep_id" in {w["claim"] for w in company["withheld"]}


# --- SD-JWT: the IETF reference implementation and PyJWT ----------------------------------------


def issuer_jwk(bundle: dict[str, Any], kid: str) -> dict[str, Any]:
    keys = [key for key in bundle["gateway"]["jwks"]["keys"] if key["kid"] == kid]
    assert len(keys) == 1
    key: dict[str, Any] = keys[0]
    return key


def test_presentations_verify_with_the_reference_implementation(bundle: dict[str, Any]) -> None:
    for case in bundle["cases"]:

        def issuer_key(issuer: str, header: dict[str, Any]) -> JWK:
            assert issuer == bundle["gateway"]["issuer"]
            assert header["typ"] == "dc+sd-jwt"
            assert header["alg"] == "ES256"
            return JWK(**issuer_jwk(bundle, header["kid"]))

        verifier = SDJWTVerifier(
            case["presentation"],
            issuer_key,
            expected_aud=case["kb_aud"],
            expected_nonce=case["kb_nonce"],
        )
        payload = verifier.get_verified_payload()
        for name, value in case["disclosed"].items():
            assert payload[name] == value
        issuer = bundle["gateway"]["issuer"]
        assert payload["vct"] == f"{issuer}/types/{case['domain']}/{case['purpose']}/v1"
        assert payload["vct#integrity"].startswith("sha256-")
        assert case["presentation"].startswith(case["attestation"])


def test_issuer_jwt_and_kb_jwt_verify_with_pyjwt(bundle: dict[str, Any]) -> None:
    for case in bundle["cases"]:
        issuer_jwt, *disclosures = case["attestation"].split("~")
        header = jwt.get_unverified_header(issuer_jwt)
        key = jwt.PyJWK(issuer_jwk(bundle, header["kid"]))
        claims = jwt.decode(
            issuer_jwt, key, algorithms=["ES256"], issuer=bundle["gateway"]["issuer"]
        )
        digests = {base64.urlsafe_b64encode(sha256(d.encode())).rstrip(b"=").decode()
                   for d in disclosures if d}  # fmt: skip
        assert digests <= set(claims["_sd"])  # every disclosure is signed over (RFC 9901 §4.2.4)
        presented = case["presentation"]
        kb_jwt = presented.rsplit("~", 1)[1]
        assert jwt.get_unverified_header(kb_jwt)["typ"] == "kb+jwt"
        kb = jwt.decode(
            kb_jwt, jwt.PyJWK(claims["cnf"]["jwk"]), algorithms=["ES256"], audience=case["kb_aud"]
        )
        assert kb["nonce"] == case["kb_nonce"]
        sd_hash = sha256(presented[: presented.rindex("~") + 1].encode())
        assert b64url(kb["sd_hash"]) == sd_hash
        # docs/protocol.md: nonce = base64url(SHA-256("attestgate-redeem" NUL jti NUL tx_ref))
        tx = case["redeemed"]["transaction_ref"].encode()
        expected = sha256(b"attestgate-redeem\x00" + claims["jti"].encode() + b"\x00" + tx)
        assert b64url(kb["nonce"]) == expected


# --- the signed checkpoint note ---------------------------------------------------------------


def open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Verify a C2SP signed note with an Ed25519 vkey; (origin, size, root hash)."""
    name, key_id_hex, encoded = vkey.split("+", 2)  # base64 may contain "+" too
    key_bytes = base64.b64decode(encoded)
    assert key_bytes[0] == 0x01  # Ed25519
    assert sha256(name.encode() + b"\n" + key_bytes)[:4].hex() == key_id_hex
    text, signatures = note.split("\n\n", 1)
    body = (text + "\n").encode()
    verified = False
    for line in signatures.strip("\n").split("\n"):
        dash, signer, signature_b64 = line.split(" ")
        signature = base64.b64decode(signature_b64)
        if dash == "\u2014" and signer == name and signature[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(key_bytes[1:]).verify(signature[4:], body)
            verified = True
    assert verified, "no signature by the pinned key"
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def test_checkpoints_verify_with_plain_ed25519(bundle: dict[str, Any]) -> None:
    vkey, audit = bundle["gateway"]["log_vkey"], bundle["audit"]
    origin, size, root = open_note(audit["checkpoint"], vkey)
    assert origin == bundle["gateway"]["log_origin"]
    assert len(root) == 32
    assert audit["consistency"]["new_checkpoint"] == audit["checkpoint"]
    assert open_note(audit["consistency"]["old_checkpoint"], vkey)[1] < size
    forged = audit["checkpoint"].replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    with pytest.raises(InvalidSignature):
        open_note(forged, vkey)


# --- RFC 9162 proofs, written out -----------------------------------------------------------------


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def inclusion_root(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root a proof leads to, or None when the proof is malformed."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, sha256(b"\x00" + leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def consistent(m: int, n: int, old: bytes, new: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 for 0 < m < n."""
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is the first node
        path.insert(0, old)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


def test_every_redemption_is_included_in_the_final_checkpoint(bundle: dict[str, Any]) -> None:
    _, size, root = open_note(bundle["audit"]["checkpoint"], bundle["gateway"]["log_vkey"])
    proofs = bundle["audit"]["inclusion"]
    assert len(proofs) == len(bundle["cases"])
    for case, proof in zip(bundle["cases"], proofs, strict=True):
        leaf = base64.b64decode(proof["leaf"])
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        assert proof["tree_size"] == size
        assert proof["index"] == case["redeemed"]["log_index"]
        assert inclusion_root(proof["index"], size, leaf, hashes) == root
        event = json.loads(leaf)
        assert event["type"] == "attestation.redeemed"
        jti = jwt.decode(case["attestation"].split("~")[0], options={"verify_signature": False})
        assert event["objects"]["attestation_jti"] == jti["jti"]
        # The checks can fail: a changed leaf or a neighbour's index leads elsewhere.
        assert inclusion_root(proof["index"], size, leaf + b" ", hashes) != root
        assert inclusion_root(proof["index"] ^ 1, size, leaf, hashes) != root


def test_the_final_checkpoint_extends_the_mid_demo_one(bundle: dict[str, Any]) -> None:
    vkey, consistency = bundle["gateway"]["log_vkey"], bundle["audit"]["consistency"]
    _, m, old = open_note(consistency["old_checkpoint"], vkey)
    _, n, new = open_note(consistency["new_checkpoint"], vkey)
    hashes = [base64.b64decode(h) for h in consistency["hashes"]]
    assert 0 < m < n
    assert consistent(m, n, old, new, hashes)
    assert not consistent(m, n, new, old, hashes)
    assert not consistent(m, n, old, new, hashes[:-1])


# --- the text mode -------------------------------------------------------------------------------


def test_text_mode_prints_every_step_and_exits_zero() -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo"])
    text = out.getvalue()
    assert code == 0, text
    for step in range(1, STEPS + 1):
        assert f"[{step}/{STEPS}]" in text
    for expected in (
        "covers_amount=true",
        "after_tax_income withheld (NOT_ALLOWED_FOR_PURPOSE)",
        "356,170.00 CNY consumed",
        "reuse refused: FAILED_PRECONDITION ATTESTATION_ALREADY_REDEEMED",
        "beyond the remaining income is refused: FAILED_PRECONDITION CAPACITY_EXHAUSTED",
        "pledge of the same receipt is refused",
        "in closure and within its window",
        "releases its pledge of",
        "the released receipt is free again",
        "the warehouse records the sale",
        "history, 6 events each checked against a signed checkpoint",
        "the patent's verified history ends with its release",
        "is in the final tree (inclusion proof)",
        "cosigned by both witnesses",
        "without the witnesses' cosignatures is refused: DATA_LOSS LOG_WITNESS_POLICY",
        "missing: witness.bank.example/w1+",
        "expectations held",
    ):
        assert expected in text
    assert "[FAIL]" not in text
    assert "61234500" not in text
    assert "612,345" not in text
