"""attestgate.protocol.encoding: the one canonical JSON, and integer-only strict parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestgate.protocol.encoding import EncodingError, canonical_json, json_loads, json_object
from attestgate.protocol.jose import JoseError

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def test_sorted_compact_and_utf8() -> None:
    assert canonical_json({"b": [1, True, None], "a": "zhōng 中"}) == (
        '{"a":"zhōng 中","b":[1,true,null]}'.encode()
    )


def test_ascii_only_escapes_what_the_vault_always_escaped() -> None:
    assert canonical_json({"id": "é"}, ascii_only=True) == b'{"id":"\\u00e9"}'


@pytest.mark.parametrize("value", [float("nan"), {"k": {1, 2}}, "\ud800"])
def test_refuses_what_has_no_canonical_form(value: object) -> None:
    with pytest.raises(EncodingError):
        canonical_json(value)  # type: ignore[arg-type]


@given(_JSON)
def test_round_trips_and_matches_the_stdlib_recipe(value: object) -> None:
    try:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected_bytes = expected.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        with pytest.raises(EncodingError):
            canonical_json(value)  # type: ignore[arg-type]
        return
    assert canonical_json(value) == expected_bytes  # type: ignore[arg-type]
    assert json_loads(expected_bytes, max_depth=64) == value


def test_floats_can_be_refused() -> None:
    assert json_loads(b'{"a":1.5}', max_depth=2) == {"a": 1.5}
    with pytest.raises(EncodingError, match="integer"):
        json_loads(b'{"a":1.5}', max_depth=2, floats=False)
    with pytest.raises(EncodingError):
        json_object(b'{"a":1e3}', max_depth=2, floats=False)
    assert json_object(b'{"a":10}', max_depth=2, floats=False) == {"a": 10}


def test_jose_error_is_the_encoding_error() -> None:
    assert JoseError is EncodingError
    assert issubclass(EncodingError, ValueError)
