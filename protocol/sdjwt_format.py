"""SD-JWT wire format (RFC 9901 §4): disclosures, digests, the ``~`` serialization, failures.

Shared by the issuer (the gateway) and the verifier (``protocol.sdjwt``), so that both write and
read one format; ``attestgate.sdk.sdjwt`` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

from attestgate.protocol.encoding import sha256_b64url
from attestgate.protocol.jose import (
    JoseError,
    JsonInput,
    JsonValue,
    b64url_decode,
    b64url_encode,
    json_loads,
    json_text,
)
from attestgate.protocol.reasons import DomainError, Reason

Jti = NewType("Jti", str)
"""The ``jti`` of an attestation: its identity for single use."""

SD_JWT_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
SD_ALG = "sha-256"
MAX_PRESENTATION_CHARS = 64 * 1024
MAX_DISCLOSURES = 64
MAX_DIGESTS = 256
MAX_DEPTH = 8
MAX_ID_CHARS = 256
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z; larger values cannot be datetimes.
RESERVED_NAMES = frozenset({"_sd", "..."})  # RFC 9901 §4.2.1

# draft-ietf-oauth-sd-jwt-vc (section "Registered JWT Claims"):
#   "The following registered JWT claims are used within the SD-JWT component of the SD-JWT VC
#   and MUST NOT be included in the Disclosures, i.e., cannot be selectively disclosed:
#   iss, nbf, exp, cnf, vct, vct#integrity, status"
#   "The following registered JWT claims are used within the SD-JWT component of the SD-JWT VC
#   and MAY be included in Disclosures, i.e., can be selectively disclosed: sub, iat"
# and RFC 7519 §4.1 registers jti and aud. An attestation uses none of these names for a claim
# of its own meaning: the catalog gives record fields with such names another claim name
# (``[fields.status] claim = "registration_status"``), and the catalog loader and the issuer
# refuse them. Attestations issued before that disclosed ``status``; verifiers still accept them.
NEVER_DISCLOSED_CLAIMS = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
"""Registered claims the SD-JWT VC draft forbids in a disclosure."""
REGISTERED_CLAIM_NAMES = NEVER_DISCLOSED_CLAIMS | {"sub", "iat", "jti", "aud"}
"""Every registered JWT / SD-JWT VC claim name: no attestation claim of ours may take one."""
REDEEM_DOMAIN = b"attestgate-redeem\x00"


class VerifyFailure(StrEnum):
    """The precise reason a presentation was refused (for logs and audit, never for callers)."""

    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    ALG_NOT_ALLOWED = "ALG_NOT_ALLOWED"
    BAD_TYP = "BAD_TYP"
    BAD_HEADER = "BAD_HEADER"
    UNKNOWN_KID = "UNKNOWN_KID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_ISSUER = "WRONG_ISSUER"
    BAD_CLAIMS = "BAD_CLAIMS"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    VCT_MISMATCH = "VCT_MISMATCH"
    BAD_SD_ALG = "BAD_SD_ALG"
    BAD_CNF = "BAD_CNF"
    BAD_DISCLOSURE = "BAD_DISCLOSURE"
    RESERVED_CLAIM_NAME = "RESERVED_CLAIM_NAME"
    CLAIM_COLLISION = "CLAIM_COLLISION"
    DUPLICATE_DIGEST = "DUPLICATE_DIGEST"
    DUPLICATE_DISCLOSURE = "DUPLICATE_DISCLOSURE"
    UNREFERENCED_DISCLOSURE = "UNREFERENCED_DISCLOSURE"
    KB_MISSING = "KB_MISSING"
    KB_UNEXPECTED = "KB_UNEXPECTED"
    KB_MALFORMED = "KB_MALFORMED"
    KB_ALG_NOT_ALLOWED = "KB_ALG_NOT_ALLOWED"
    KB_BAD_TYP = "KB_BAD_TYP"
    KB_BAD_SIGNATURE = "KB_BAD_SIGNATURE"
    KB_STALE = "KB_STALE"
    KB_IAT_IN_FUTURE = "KB_IAT_IN_FUTURE"
    NONCE_MISMATCH = "NONCE_MISMATCH"
    AUD_MISMATCH = "AUD_MISMATCH"
    SD_HASH_MISMATCH = "SD_HASH_MISMATCH"


class SdJwtError(DomainError):
    """An attestation was refused. ``str()`` is opaque; the precise reason is ``.code``."""

    def __init__(self, code: VerifyFailure) -> None:
        super().__init__(Reason.ATTESTATION_INVALID, "attestation invalid")
        self.code = code

    def __repr__(self) -> str:
        return f"SdJwtError({self.code.value})"


@dataclass(frozen=True)
class Disclosure:
    """One decoded object-property disclosure ``[salt, name, value]`` (RFC 9901 §4.2.1)."""

    encoded: str
    salt: str
    name: str
    value: JsonValue

    @property
    def digest(self) -> str:
        """The disclosure's SHA-256 digest as it appears in ``_sd``."""
        return disclosure_digest(self.encoded)


def encode_disclosure(salt: str, name: str, value: JsonInput) -> str:
    """base64url of the compact JSON array ``[salt, name, value]`` (RFC 9901 §4.2.1)."""
    text = f"[{json_text(salt)},{json_text(name)},{json_text(value)}]"
    return b64url_encode(text.encode("utf-8"))


def sd_digest(data: bytes) -> str:
    """base64url(SHA-256(data)): the one digest of the format (``_sd`` entries, ``sd_hash``)."""
    return sha256_b64url(data)


def disclosure_digest(encoded: str) -> str:
    """base64url(SHA-256(ASCII of the *encoded* disclosure)) (RFC 9901 §4.2.3)."""
    return sd_digest(encoded.encode("ascii"))


def decode_disclosure(encoded: str) -> Disclosure:
    """Decode and check one disclosure; raises ``SdJwtError(BAD_DISCLOSURE)`` if malformed."""
    try:
        value = json_loads(b64url_decode(encoded), max_depth=MAX_DEPTH)
    except JoseError:
        raise SdJwtError(VerifyFailure.BAD_DISCLOSURE) from None
    # RFC 9901 §7.1 step 3: an object-property disclosure is an array of three elements.
    if not (isinstance(value, list) and len(value) == 3):
        raise SdJwtError(VerifyFailure.BAD_DISCLOSURE)
    salt, name, claim = value
    if not isinstance(salt, str) or not isinstance(name, str) or has_sd_keys(claim):
        raise SdJwtError(VerifyFailure.BAD_DISCLOSURE)
    if name in RESERVED_NAMES:
        raise SdJwtError(VerifyFailure.RESERVED_CLAIM_NAME)
    return Disclosure(encoded, salt, name, claim)


def has_sd_keys(value: JsonValue) -> bool:
    """Whether any object inside ``value`` uses the reserved keys ``_sd`` or ``...``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if RESERVED_NAMES.intersection(item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def sd_hash(prefix: str) -> str:
    """The KB-JWT's ``sd_hash``: over the presentation up to its last "~" (RFC 9901 §4.3.1)."""
    return sd_digest(prefix.encode("ascii"))


def join_sd_jwt(jwt: str, disclosures: Iterable[str], kb: str = "") -> str:
    """``<jwt>~<d1>~...~<kb>`` (RFC 9901 §4): an issuance when ``kb`` is empty; the inverse of
    ``split_presentation``."""
    return "~".join([jwt, *disclosures, kb])


def split_presentation(presentation: str) -> tuple[str, list[str], str]:
    """``<jwt>~<d1>~...~<kb or empty>`` -> (jwt, disclosures, kb) (RFC 9901 §4)."""
    if not isinstance(presentation, str):
        raise SdJwtError(VerifyFailure.MALFORMED)
    if len(presentation) > MAX_PRESENTATION_CHARS:
        raise SdJwtError(VerifyFailure.TOO_LARGE)
    parts = presentation.split("~")
    if len(parts) < 2 or not presentation.isascii():
        raise SdJwtError(VerifyFailure.MALFORMED)
    if len(parts) - 2 > MAX_DISCLOSURES:
        raise SdJwtError(VerifyFailure.TOO_LARGE)
    jwt, *disclosures, kb = parts
    if not all(disclosures):
        raise SdJwtError(VerifyFailure.MALFORMED)
    return jwt, disclosures, kb
