"""attestgate.sdk.sdjwt (the documented path for banks) re-exports the kernel's SD-JWT objects."""

from __future__ import annotations

import attestgate.protocol.jose as jose
import attestgate.protocol.sdjwt as kernel
import attestgate.protocol.sdjwt_format as sd_format
import attestgate.sdk.sdjwt as sdk_sdjwt

PUBLIC = {
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
}


def test_every_public_name_stays_and_is_the_kernel_object() -> None:
    assert set(sdk_sdjwt.__all__) == PUBLIC
    for name in PUBLIC:
        source = next(m for m in (kernel, sd_format, jose) if hasattr(m, name))
        assert getattr(sdk_sdjwt, name) is getattr(source, name), name
