"""bench.status_list at a small size: the published list is the stored one, the information
content is the entropy of the statuses, and the cached check answers from the list."""

from __future__ import annotations

import math
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.jose import Jwks, parse_compact_jws
from attestgate.protocol.status_list import Status, StatusList, verify_status_list_token
from bench.common import Settings
from bench.status_list import (
    ISSUER,
    _information_bytes,
    _packed,
    _publish_ms,
    _store,
    run_check,
)


def test_the_published_token_carries_the_stored_list(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    lst = _packed(4096, 1000, 0.3, 0.05)
    _store(tmp_path / "s.db", [lst])
    _, token = _publish_ms(tmp_path / "s.db", [1], key)
    assert parse_compact_jws(token).header["typ"] == "statuslist+jwt"
    verified = verify_status_list_token(
        token, Jwks({"k": key.public_key()}).get, uri=f"{ISSUER}/status-lists/1", now=1
    )
    assert verified.status_list.to_bytes() == lst.to_bytes()
    counts = [sum(lst.get(i) == s for i in range(lst.size)) for s in Status]
    assert counts == [4096 - 300 - 50, 300, 50]


def test_information_content_is_the_entropy_of_the_statuses() -> None:
    lst = StatusList.new(1024, 2)
    for idx in range(0, 1024, 2):
        lst.set(idx, Status.INVALID)
    assert math.isclose(_information_bytes(lst), 1024 / 8)  # one bit per entry
    assert _information_bytes(StatusList.new(1024, 2)) == 0


def test_the_cached_check_reports_a_time() -> None:
    result = run_check(Settings.quick(), ec.generate_private_key(ec.SECP256R1()))
    assert result["check_us"] > 0
