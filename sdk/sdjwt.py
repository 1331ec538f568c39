"""SD-JWT attestations (RFC 9901) for banks: verify offline, present, compute the nonce.

The same objects as the protocol kernel's ``attestgate.protocol.sdjwt`` (the gateway verifies
with that one verifier too), under the SDK's documented import path, for example
``from attestgate.sdk.sdjwt import redemption_nonce``.
"""

from __future__ import annotations

from attestgate.protocol.jose import JsonInput, JsonValue, Jwks
from attestgate.protocol.sdjwt import (
    KeyBindingPolicy,
    VerifiedSdJwt,
    create_presentation,
    redemption_nonce,
    unverified_jti,
    verify_sd_jwt,
)
from attestgate.protocol.sdjwt_format import (
    KB_JWT_TYP,
    MAX_DISCLOSURES,
    MAX_PRESENTATION_CHARS,
    SD_ALG,
    SD_JWT_TYP,
    Disclosure,
    Jti,
    SdJwtError,
    VerifyFailure,
    decode_disclosure,
    disclosure_digest,
    encode_disclosure,
)

__all__ = [
    "KB_JWT_TYP",
    "MAX_DISCLOSURES",
    "MAX_PRESENTATION_CHARS",
    "SD_ALG",
    "SD_JWT_TYP",
    "Disclosure",
    "JsonInput",
    "JsonValue",
    "Jti",
    "Jwks",
    "KeyBindingPolicy",
    "SdJwtError",
    "VerifiedSdJwt",
    "VerifyFailure",
    "create_presentation",
    "decode_disclosure",
    "disclosure_digest",
    "encode_disclosure",
    "redemption_nonce",
    "unverified_jti",
    "verify_sd_jwt",
]
