"""Benchmark 3: our SD-JWT issuance and offline verification vs the IETF reference ``sd_jwt``.

Equivalent tokens: the same plain claims (iss, iat, exp, jti, vct, consent hash, holder
``cnf.jwk``), the same three selectively disclosable claims, the same number of decoy digests
(3: the reference picks 2 to 5 at random, so a subclass pins it), ES256 for the issuer and the
holder. Verification checks one and the same presentation (our issuance + a KB-JWT) with both
verifiers, key binding required (aud, nonce, sd_hash). The reference verifier checks less (it
has no exp/iat checks), which only favours it. Keys are converted once, outside the timing.
Target: ours >= 3x faster for each.

Rates alternate between the two implementations for a few rounds; the median round counts.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from attestgate.gateway.usecases.attestations.sdjwt_issuer import issue_sd_jwt
from attestgate.protocol.jose import JsonInput, public_jwk
from attestgate.sdk.sdjwt import KeyBindingPolicy, VerifiedSdJwt, create_presentation, verify_sd_jwt
from bench.common import Settings, progress, verdict

TARGET = 3.0
ROUNDS = 3
ISSUER = "attestgate"
KID = "k1"
VCT = "urn:attestgate:business_registration:counterparty_check:v1"
AUDIENCE = "attestgate"
NONCE = "bench-nonce-0123456789abcdef"
DECOYS = 3
DISCLOSED: dict[str, JsonInput] = {
    "name": "Company 7",
    "registration_status": "ACTIVE",
    "in_good_standing": True,
}
PLAIN: dict[str, JsonInput] = {"consent_hash": "cxXtmgsM9tNw2e02_4xXeHiXOYJ8rdHEf5MgkvmV4Y4"}


class _ReferenceIssuer(SDJWTIssuer):  # type: ignore[misc]
    """The reference issuer with a fixed decoy count, so both tokens carry the same digests."""

    DECOY_MIN_ELEMENTS = DECOYS
    DECOY_MAX_ELEMENTS = DECOYS


class CryptoCase:
    """Keys (in both libraries' forms), one moment, and one presentation to verify."""

    def __init__(self) -> None:
        self.issuer_key = ec.generate_private_key(ec.SECP256R1())
        self.holder_key = ec.generate_private_key(ec.SECP256R1())
        self.issuer_jwk = JWK.from_pyca(self.issuer_key)
        self.issuer_public_jwk = JWK.from_json(
            json.dumps(public_jwk(self.issuer_key.public_key(), kid=KID))
        )
        self.holder_jwk = JWK.from_pyca(self.holder_key)
        self.holder_public = public_jwk(self.holder_key.public_key())
        self.now = datetime.now(UTC)
        self.jwks = {KID: self.issuer_key.public_key()}
        self.policy = KeyBindingPolicy.require(audience=AUDIENCE, nonce=NONCE)
        self.issued = self.ours_issue()
        self.presentation = create_presentation(
            self.issued,
            holder_key=self.holder_key,
            audience=AUDIENCE,
            nonce=NONCE,
            now=self.now,
        )

    def ours_issue(self) -> str:
        """Our issuer, as the gateway calls it."""
        return issue_sd_jwt(
            signing_key=self.issuer_key,
            kid=KID,
            issuer=ISSUER,
            vct=VCT,
            holder_jwk=self.holder_public,
            disclosed=DISCLOSED,
            plain=PLAIN,
            now=self.now,
            ttl=timedelta(minutes=10),
            decoys=DECOYS,
        ).token

    def reference_issue(self) -> str:
        """The reference issuer on the equivalent claims."""
        iat = int(self.now.timestamp())
        claims: dict[Any, Any] = {
            "iss": ISSUER,
            "iat": iat,
            "exp": iat + 600,
            "jti": "bench-jti-0123456789",
            "vct": VCT,
            **PLAIN,
            **{SDObj(name): value for name, value in DISCLOSED.items()},
        }
        issuer = _ReferenceIssuer(
            claims,
            self.issuer_jwk,
            holder_key=self.holder_jwk,
            add_decoy_claims=True,
            extra_header_parameters={"typ": "dc+sd-jwt", "kid": KID},
        )
        return str(issuer.sd_jwt_issuance)

    def ours_verify(self) -> VerifiedSdJwt:
        """Our offline verifier (the SDK's and the gateway's), key binding required."""
        return verify_sd_jwt(
            self.presentation, jwks=self.jwks, issuer=ISSUER, now=self.now, key_binding=self.policy
        )

    def reference_verify(self) -> dict[str, Any]:
        """The reference verifier on the same presentation, key binding required."""
        verifier = SDJWTVerifier(
            self.presentation,
            self._issuer_key_for,
            expected_aud=AUDIENCE,
            expected_nonce=NONCE,
        )
        payload: dict[str, Any] = verifier.get_verified_payload()
        return payload

    def _issuer_key_for(self, issuer: str, header: Mapping[str, Any]) -> JWK:
        return self.issuer_public_jwk

    def ours_present(self) -> str:
        """Holder side: select disclosures and sign a KB-JWT."""
        return create_presentation(
            self.issued,
            holder_key=self.holder_key,
            audience=AUDIENCE,
            nonce=NONCE,
            now=self.now,
        )

    def reference_present(self) -> str:
        """The reference holder on the same issuance."""
        holder = SDJWTHolder(self.issued)
        holder.create_presentation(
            dict.fromkeys(DISCLOSED, True),
            nonce=NONCE,
            aud=AUDIENCE,
            holder_key=self.holder_jwk,
            sign_alg="ES256",
        )
        return str(holder.sd_jwt_presentation)


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()  # warm caches and imports
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def primitive_floor(seconds: float) -> dict[str, float]:
    """Microseconds of one ECDSA P-256 sign and verify (OpenSSL via ``cryptography``): the
    floor under both implementations (issue signs once; verify checks two signatures)."""
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"x" * 600  # about a signing input of this scenario
    algorithm = ec.ECDSA(hashes.SHA256())
    signature, public = key.sign(data, algorithm), key.public_key()
    sign_rate = rate(lambda: key.sign(data, algorithm), seconds)
    verify_rate = rate(lambda: public.verify(signature, data, algorithm), seconds)
    return {
        "es256_sign_us": round(1e6 / sign_rate, 1),
        "es256_verify_us": round(1e6 / verify_rate, 1),
    }


def run_crypto(settings: Settings) -> dict[str, Any]:
    """Benchmark 3: ops/s of ours and the reference, ratio, for issue, verify (and present)."""
    case = CryptoCase()
    pairs = {
        "issue": (case.ours_issue, case.reference_issue, True),
        "verify": (case.ours_verify, case.reference_verify, True),
        "present": (case.ours_present, case.reference_present, False),  # not a target
    }
    results: dict[str, Any] = {}
    for name, (ours_fn, ref_fn, is_target) in pairs.items():
        progress(f"crypto: {name}, ours vs the IETF reference sd_jwt")
        ours, ref = [], []
        for _ in range(ROUNDS):
            ours.append(rate(ours_fn, settings.crypto_seconds / ROUNDS))
            ref.append(rate(ref_fn, settings.crypto_seconds / ROUNDS))
        ratio = statistics.median(ours) / statistics.median(ref)
        results[name] = {
            "ours_per_s": round(statistics.median(ours)),
            "reference_per_s": round(statistics.median(ref)),
            "ours_us": round(1e6 / statistics.median(ours)),
            "reference_us": round(1e6 / statistics.median(ref)),
            "speedup": round(ratio, 2),
            **({"target": f">= {TARGET}x", "holds": ratio >= TARGET} if is_target else {}),
        }
    floor = primitive_floor(settings.crypto_seconds / ROUNDS)
    floor_us = {"issue": floor["es256_sign_us"], "verify": 2 * floor["es256_verify_us"]}
    for name, us in floor_us.items():
        results[name]["floor_us"] = us
        results[name]["max_speedup_at_floor"] = round(results[name]["reference_us"] / us, 2)
    return {
        "settings": {"decoys": DECOYS, "disclosed_claims": len(DISCLOSED), "rounds": ROUNDS},
        "primitives": floor,
        "results": results,
        "targets": {
            f"{name}_speedup": {"value": results[name]["speedup"], "holds": results[name]["holds"]}
            for name in ("issue", "verify")
        },
    }


def crypto_rows(data: dict[str, Any]) -> list[list[object]]:
    """Table rows: operation, ours us, reference us, speedup (verdict)."""
    rows: list[list[object]] = []
    for name, r in data["results"].items():
        mark = f" ({verdict(r['holds'])})" if "holds" in r else " (info)"
        rows.append([name, r["ours_us"], r["reference_us"], f"{r['speedup']:.2f}x{mark}"])
    return rows
