"""Property: a mutated key-bound presentation never verifies, and only ever raises SdJwtError.

With a KB-JWT every byte before it is covered by ``sd_hash`` and every byte of it by the holder's
signature, and strict base64url leaves no two spellings of one value, so any change must fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from attestgate.gateway.usecases.attestations.sdjwt_issuer import issue_sd_jwt
from attestgate.protocol.jose import Jwks, public_jwk
from attestgate.protocol.sdjwt import KeyBindingPolicy, create_presentation, verify_sd_jwt
from attestgate.protocol.sdjwt_format import SdJwtError

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ISSUER = "https://gateway.attestgate.test"
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = Jwks({"k1": ISSUER_KEY.public_key()})
POLICY = KeyBindingPolicy.require(audience="gw", nonce="n1")
PRESENTATION = create_presentation(
    issue_sd_jwt(
        signing_key=ISSUER_KEY,
        kid="k1",
        issuer=ISSUER,
        vct="urn:attestgate:income:fx_purchase:v1",
        holder_jwk=public_jwk(HOLDER_KEY.public_key()),
        disclosed={"covers_amount": True, "tax_year": 2025},
        plain={"consent_hash": "abc"},
        now=NOW,
        ttl=timedelta(minutes=10),
        decoys=2,
    ).token,
    holder_key=HOLDER_KEY,
    audience="gw",
    nonce="n1",
    now=NOW,
)
_ALPHABET = st.sampled_from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~=+/ é\x00"
)
_INDEX = st.integers(min_value=0, max_value=len(PRESENTATION) - 1)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The KB-JWT signature (64 bytes, 86 characters) ends in a character whose 4 low bits are unused:
# setting one gives a string that a lenient decoder maps to the very same signature.
NON_CANONICAL = PRESENTATION[:-1] + _B64[_B64.index(PRESENTATION[-1]) + 1]


def _verify(candidate: str) -> None:
    verify_sd_jwt(candidate, jwks=JWKS, issuer=ISSUER, now=NOW, key_binding=POLICY)


@st.composite
def mutations(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap", "splice"]))
    text, i = PRESENTATION, draw(_INDEX)
    if kind == "replace":
        return text[:i] + draw(_ALPHABET) + text[i + 1 :]
    if kind == "insert":
        return text[:i] + draw(st.text(_ALPHABET, min_size=1, max_size=4)) + text[i:]
    if kind == "delete":
        return text[:i] + text[i + draw(st.integers(1, 8)) :]
    if kind == "truncate":
        return text[:i]
    if kind == "swap":
        j = draw(_INDEX)
        chars = list(text)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    parts = PRESENTATION.split("~")
    order = draw(st.permutations(range(1, len(parts) - 1)))
    return "~".join([parts[0], *(parts[k] for k in order), parts[-1]])


def test_the_unmutated_presentation_verifies() -> None:
    _verify(PRESENTATION)


@settings(max_examples=400, deadline=None)
@given(mutations())
@example(NON_CANONICAL)
@example(PRESENTATION + "=")
def test_mutations_never_verify(candidate: str) -> None:
    if candidate == PRESENTATION:
        return  # a no-op mutation (for example swapping two equal characters)
    try:
        _verify(candidate)
    except SdJwtError:
        return
    raise AssertionError("a mutated presentation verified")
