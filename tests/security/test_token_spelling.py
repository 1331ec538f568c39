"""Bearer tokens follow the kernel's one rule for every token (issue 15, item 2).

Each attack is a token correctly signed by a trusted issuer that a lenient JWT reader (PyJWT's
``get_unverified_header``, ``json.loads``, padded base64) reads one way and another reader may
read another: duplicate members (the last ``role`` wins in Python, the first elsewhere), a
duplicate ``alg``, padded or non-canonical base64url, NaN dates, nesting that overflows a
recursive parser. Every one is refused with ``TOKEN_MALFORMED`` and never accepted.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.config import TrustedIssuer
from attestgate.protocol.encoding import b64url_encode
from attestgate.protocol.reasons import DomainError, Reason


def _verifier(keyring: KeyRing, clock: FixedClock) -> TokenVerifier:
    issuer = TrustedIssuer(issuer=keyring.dev_issuer_name, jwks=keyring.dev_issuer_jwks())
    return TokenVerifier([issuer], audience="attestgate", leeway=timedelta(seconds=30), clock=clock)


def _claims(keyring: KeyRing, clock: FixedClock) -> str:
    now = int(clock.now().timestamp())
    return (
        f'"iss":{json.dumps(keyring.dev_issuer_name)},"sub":"bank-1","aud":"attestgate",'
        f'"role":"bank","iat":{now},"nbf":{now},"exp":{now + 300}'
    )


def _raw_signed(keyring: KeyRing, header: bytes, payload: bytes, *, pad: str = "") -> str:
    """A token over exactly these bytes, signed by the trusted dev issuer's key."""
    head, body = b64url_encode(header) + pad, b64url_encode(payload) + pad
    _, key = keyring.dev_issuer_key
    return f"{head}.{body}.{b64url_encode(key.sign(f'{head}.{body}'.encode()))}"


def _signed(keyring: KeyRing, header: str, payload: str, *, pad: str = "") -> str:
    return _raw_signed(keyring, header.encode(), payload.encode(), pad=pad)


def _header(keyring: KeyRing, extra: str = "") -> str:
    kid, _ = keyring.dev_issuer_key
    return '{"alg":"EdDSA","kid":' + json.dumps(kid) + ',"typ":"JWT"' + extra + "}"


def test_the_hand_made_control_token_is_accepted(keyring: KeyRing, clock: FixedClock) -> None:
    token = _signed(keyring, _header(keyring), "{" + _claims(keyring, clock) + "}")
    assert _verifier(keyring, clock).verify(token).subject == "bank-1"


ATTACKS = {
    "duplicate role claim": lambda k, c: _signed(
        k, _header(k), "{" + _claims(k, c) + ',"role":"regulator"}'
    ),
    "duplicate sub claim": lambda k, c: _signed(
        k, _header(k), "{" + _claims(k, c) + ',"sub":"bank-2"}'
    ),
    "duplicate alg header": lambda k, c: _signed(
        k, _header(k, ',"alg":"none"'), "{" + _claims(k, c) + "}"
    ),
    "padded segments": lambda k, c: _signed(k, _header(k), "{" + _claims(k, c) + " }", pad="="),
    "NaN expiry": lambda k, c: _signed(k, _header(k), "{" + _claims(k, c) + ',"exp":NaN}'),
    "nesting deeper than a recursive parser allows": lambda k, c: _signed(
        k, _header(k), "{" + _claims(k, c) + ',"x":' + "[" * 3000 + "]" * 3000 + "}"
    ),
    "invalid UTF-8 in the claims": lambda k, c: _raw_signed(
        k, _header(k).encode(), b"{" + _claims(k, c).encode() + b',"x":"\xff"}'
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_ambiguous_spellings_are_malformed(
    keyring: KeyRing, clock: FixedClock, attack: str
) -> None:
    token = ATTACKS[attack](keyring, clock)
    with pytest.raises(DomainError) as caught:
        _verifier(keyring, clock).verify(token)
    assert caught.value.reason is Reason.TOKEN_MALFORMED


def test_non_canonical_base64url_is_malformed(keyring: KeyRing, clock: FixedClock) -> None:
    token = _signed(keyring, _header(keyring), "{" + _claims(keyring, clock) + "}")
    head, body, signature = token.split(".")
    # The header is a multiple of 3 bytes only by chance; find a segment with spare bits.
    for index, segment in enumerate((head, body, signature)):
        if len(segment) % 4 in (2, 3):
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            bumped = segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]
            parts = [head, body, signature]
            parts[index] = bumped  # decodes to the same bytes with PyJWT's lenient decoder
            with pytest.raises(DomainError) as caught:
                _verifier(keyring, clock).verify(".".join(parts))
            assert caught.value.reason is Reason.TOKEN_MALFORMED
            return
    pytest.fail("no segment with spare bits")  # pragma: no cover
