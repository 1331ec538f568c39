"""Encodings, implemented once: strict base64url, strict JSON parsing, compact and canonical JSON.

Everything that parses is strict, because a verifier that accepts two spellings of one value
invites confusion: base64url must be unpadded and canonical (RFC 7515 §2, RFC 4648 §3.5), JSON
must be UTF-8 without duplicate member names (RFC 7515 §5.2 step 4) or non-finite numbers, and
nesting is bounded. Failures raise ``EncodingError``; callers translate it into their own error.

``canonical_json`` is the one canonical form attestgate signs, hashes and stores (audit leaves,
consent artefact terms, vault associated data): sorted keys, no whitespace, no NaN; UTF-8 text
as is, or ``\\u`` escapes (``ascii_only``) where the stored bytes always had them (the vault).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate
from typing import TypeAlias

__all__ = [
    "EncodingError",
    "JsonInput",
    "JsonValue",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "json_depth",
    "json_dumps",
    "json_loads",
    "json_object",
    "json_text",
    "json_text_depth",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""A parsed JSON value."""

JsonInput: TypeAlias = (
    "bool | int | float | str | Sequence[JsonInput] | Mapping[str, JsonInput] | None"
)
"""A value that serialises to JSON (read-only container types, so callers' dicts fit)."""

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {char: value for value, char in enumerate(_B64URL_ALPHABET)}
# Unused low bits of the last character, by the unpadded length modulo 4 (RFC 4648 §4).
_SPARE_BITS = {0: 0, 2: 0b1111, 3: 0b11}
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]")


class EncodingError(ValueError):
    """Text or bytes are not in the one strict form (base64url, JSON) or a value cannot be
    encoded. ``attestgate.protocol.jose.JoseError`` is this same class."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def sha256_b64url(data: bytes) -> str:
    """base64url (no padding) of SHA-256(``data``): the digest of SD-JWT disclosures and of consent
    artefacts (``artefact_hash``)."""
    return b64url_encode(hashlib.sha256(data).digest())


def b64url_decode(text: str) -> bytes:
    """Strict base64url decode: no padding, URL-safe alphabet only, canonical trailing bits.

    Canonical means re-encoding gives back ``text``; otherwise two strings would decode to the
    same bytes (RFC 4648 §3.5), which would let a mutated token verify.
    """
    if not isinstance(text, str) or len(text) % 4 == 1 or not _B64URL_RE.fullmatch(text):
        raise EncodingError("invalid base64url")
    # RFC 4648 §3.5: the bits of the last character beyond the data must be zero; checking them
    # is equivalent to re-encoding and comparing, and much cheaper.
    spare_bits = _SPARE_BITS[len(text) % 4]
    if spare_bits and _B64URL_VALUE[text[-1]] & spare_bits:
        raise EncodingError("non-canonical base64url")
    padded = (text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE)
    try:
        return binascii.a2b_base64(padded)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the regex
        raise EncodingError("invalid base64url") from exc


def json_dumps(value: JsonInput) -> str:
    """Compact JSON (no whitespace, UTF-8 text kept as is, no NaN); raises ``EncodingError``."""
    try:
        return _COMPACT_ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise EncodingError("value is not JSON-serialisable") from exc


_COMPACT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_CANONICAL_ASCII_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)


def canonical_json(value: JsonInput, *, ascii_only: bool = False) -> bytes:
    """The canonical bytes of ``value``: sorted keys, no whitespace, no NaN, UTF-8.

    The same value always gives the same bytes, so they can be signed, hashed and stored.
    ``ascii_only`` writes non-ASCII text as ``\\uXXXX`` escapes (the vault's associated data).
    Raises ``EncodingError`` for what JSON cannot hold (a float NaN, a lone surrogate, a set).
    """
    encoder = _CANONICAL_ASCII_ENCODER if ascii_only else _CANONICAL_ENCODER
    try:
        return encoder.encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:  # ValueError covers UnicodeEncodeError
        raise EncodingError("value is not canonical-JSON-serialisable") from exc


_json_string = json.encoder.encode_basestring


def json_text(value: JsonInput) -> str:
    """Exactly ``json_dumps(value)``, without the encoder's per-call cost for a string, a
    boolean, null or an integer: for hot paths that assemble JSON from a few such values."""
    if isinstance(value, str) and type(value) is str:
        return _json_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int) and type(value) is int:
        return int.__repr__(value)
    return json_dumps(value)


def _no_duplicates(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise EncodingError("duplicate JSON member name")
    return result


def _reject_constant(name: str) -> None:
    raise EncodingError("non-finite JSON number")


def _reject_float(text: str) -> None:
    raise EncodingError("JSON number is not an integer")


def json_text_depth(text: str) -> int:
    """Nesting depth of the containers of JSON ``text`` (brackets inside strings ignored)."""
    brackets = _NOT_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def json_depth(value: JsonValue) -> int:
    """Nesting depth of containers: a scalar is 0, ``{}`` is 1, ``{"a": []}`` is 2."""
    deepest = 0
    stack: list[tuple[JsonValue, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children: Iterator[JsonValue]
        if isinstance(item, dict):
            children = iter(item.values())
        elif isinstance(item, list):
            children = iter(item)
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_loads(data: bytes, *, max_depth: int, floats: bool = True) -> JsonValue:
    """Parse UTF-8 JSON strictly (no duplicate names, no NaN/Infinity, depth <= ``max_depth``;
    no fractions or exponents either unless ``floats``)."""
    try:
        text = data.decode("utf-8")
        # Depth first, on the text: the parser then never recurses deeper than allowed. The depth
        # is at most the number of openings, so only a text with more needs a closer look.
        openings = text.count("[") + text.count("{")
        if openings > max_depth and json_text_depth(text) > max_depth:
            raise EncodingError("JSON nested too deeply")
        value: JsonValue = (_STRICT_DECODER if floats else _INTEGRAL_DECODER).decode(text)
    except EncodingError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and over-long integer literals.
        raise EncodingError("invalid JSON") from exc
    return value


_STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
)
_INTEGRAL_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_float=_reject_float
)


def json_object(data: bytes, *, max_depth: int, floats: bool = True) -> dict[str, JsonValue]:
    """Parse strict JSON that must be an object (a JWS header or JWT claims set)."""
    value = json_loads(data, max_depth=max_depth, floats=floats)
    if not isinstance(value, dict):
        raise EncodingError("JSON value is not an object")
    return value
