"""The signed consent artefact: canonical JSON terms in a JWS compact (ES256, ``kid``).

The gateway signs the immutable terms of a consent when the owner approves (DESIGN.md "Consent");
every attestation carries ``artefact_hash``, the base64url (no padding) SHA-256 of the ASCII JWS, so
a bank or regulator can tie an attestation to the exact terms the owner agreed to.

The payload is canonical JSON (sorted keys, compact separators, UTF-8: the kernel's
``canonical_json``), so the signed bytes do not depend on dict order; signing and verification
are the kernel's ES256 compact JWS (``attestgate.protocol.jose``). State and use count change
over a consent's life and are therefore not part of the signed terms.
JWS: RFC 7515; ES256: RFC 7518 §3.4; typ: RFC 7515 §4.1.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.consent.model import Consent
from attestgate.protocol.encoding import sha256_b64url
from attestgate.protocol.jose import (
    ES256,
    JoseError,
    b64url_encode,
    json_object,
    json_segment,
    parse_compact_jws,
    sign_es256_segments,
    verify_es256,
)
from attestgate.protocol.jose import canonical_json as _canonical_json

ARTEFACT_TYP = "attestgate-consent+jwt"
ARTEFACT_VERSION = "1"
_MAX_DEPTH = 4  # the terms: an object holding a list (claims) and an object (record)


class ArtefactError(Exception):
    """A consent artefact failed verification (bad structure, header, key or signature)."""


def canonical_json(value: Mapping[str, object]) -> bytes:
    """Sorted-key, compact, UTF-8 JSON: the exact bytes that are signed."""
    return _canonical_json(value)  # type: ignore[arg-type]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def artefact_payload(consent: Consent) -> dict[str, object]:
    """The signed terms of ``consent`` (AA consent artefact fields; no state, no use count).

    ``bounds`` is a member only when the consent has some, so the terms (and hashes) of consents
    without bounds are byte-identical to those signed before bounds existed."""
    payload: dict[str, object] = {
        "ver": ARTEFACT_VERSION,
        "consent_id": consent.id,
        "request_id": consent.request_id,
        "owner": consent.owner,
        "grantee": consent.grantee,
        "domain": consent.domain,
        "purpose": consent.purpose,
        "claims": list(consent.claims),
        "record": {"domain": consent.record.domain, "record_id": consent.record.record_id},
        "valid_from": _rfc3339(consent.valid_from),
        "valid_until": _rfc3339(consent.valid_until),
        "max_uses": consent.max_uses,
        "data_life_seconds": int(consent.data_life.total_seconds()),
        "separate_consent": consent.separate_consent,
        "cross_border": consent.cross_border,
        "created_at": _rfc3339(consent.created_at),
    }
    if consent.bounds:
        payload["bounds"] = dict(consent.bounds)
    return payload


def artefact_bounds(jws: str) -> dict[str, int | str | bool]:
    """The ``bounds`` of a stored artefact's terms (not verified: the gateway's own row)."""
    try:
        payload = json_object(parse_compact_jws(jws).payload, max_depth=_MAX_DEPTH)
    except JoseError as exc:
        raise ArtefactError("malformed artefact") from exc
    bounds = payload.get("bounds", {})
    if not isinstance(bounds, dict):
        raise ArtefactError("artefact bounds are not an object")
    return {str(k): v for k, v in bounds.items() if isinstance(v, int | str | bool)}


def sign_artefact(
    payload: Mapping[str, object], *, private_key: ec.EllipticCurvePrivateKey, kid: str
) -> str:
    """JWS compact over ``canonical_json(payload)`` with header alg ES256, typ and kid."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")
    if not kid:
        raise ValueError("a kid is required")
    # Sorted header members (alg, kid, typ): the bytes every artefact has carried.
    head = json_segment({"alg": ES256, "kid": kid, "typ": ARTEFACT_TYP})
    return sign_es256_segments(head, b64url_encode(canonical_json(payload)), private_key)


def artefact_hash(jws: str) -> str:
    """Base64url (no padding) SHA-256 of the ASCII bytes of the JWS compact."""
    return sha256_b64url(jws.encode("ascii"))


def seal_consent(consent: Consent, *, private_key: ec.EllipticCurvePrivateKey, kid: str) -> Consent:
    """``consent`` with its artefact signed and hashed."""
    jws = sign_artefact(artefact_payload(consent), private_key=private_key, kid=kid)
    return replace(consent, artefact_jws=jws, artefact_hash=artefact_hash(jws))


def verify_artefact(
    jws: str, public_keys_by_kid: Mapping[str, ec.EllipticCurvePublicKey]
) -> dict[str, Any]:
    """The verified payload of an artefact; ``ArtefactError`` on any failure.

    The algorithm is fixed to ES256 by the verifier, never taken from the token (RFC 8725 §3.1).
    """
    try:
        parsed = parse_compact_jws(jws)
    except JoseError as exc:
        raise ArtefactError("malformed artefact") from exc
    header = parsed.header
    if header.get("alg") != ES256 or header.get("typ") != ARTEFACT_TYP:
        raise ArtefactError("unexpected artefact header")
    key = public_keys_by_kid.get(str(header.get("kid", "")))
    if key is None:
        raise ArtefactError("unknown artefact signing key")
    if not verify_es256(parsed, key):
        raise ArtefactError("artefact signature or payload invalid")
    try:
        return json_object(parsed.payload, max_depth=_MAX_DEPTH)
    except JoseError as exc:
        raise ArtefactError("artefact payload is not a JSON object") from exc


def check_consent_artefact(
    consent: Consent, public_keys_by_kid: Mapping[str, ec.EllipticCurvePublicKey]
) -> None:
    """Raise ``ArtefactError`` unless the artefact is valid, hashed and matches the consent."""
    if artefact_hash(consent.artefact_jws) != consent.artefact_hash:
        raise ArtefactError("artefact hash does not match the artefact")
    if verify_artefact(consent.artefact_jws, public_keys_by_kid) != artefact_payload(consent):
        raise ArtefactError("artefact terms differ from the consent")
