"""Issue 20 item 1: the golden vector of a consent artefact with parameter bounds
(``tests/vectors/persisted/consent_artefact_bounds.json``, generated at commit 91bf0b6 from its
``inputs``): the bounds are signed terms, pinned byte for byte; a consent without bounds keeps
the bytes of ``consent_artefact.json`` (no ``bounds`` member)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.consent import artefact
from tests.unit.protocol.test_golden_vectors import _consent

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "persisted"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def test_artefact_with_bounds_is_pinned_and_verifies() -> None:
    vector = _load("consent_artefact_bounds.json")
    i = vector["inputs"]
    consent = replace(_consent(i), bounds=i["bounds"])
    payload = artefact.artefact_payload(consent)
    assert artefact.canonical_json(payload).hex() == vector["payload_json_hex"]
    assert payload["bounds"] == {"amount": 5_000_000, "currency": "USD"}
    jws = vector["jws"]
    assert artefact.artefact_hash(jws) == vector["artefact_hash"]
    key = ec.derive_private_key(int(i["private_scalar_hex"], 16), ec.SECP256R1())
    keys = {i["kid"]: key.public_key()}
    assert artefact.verify_artefact(jws, keys) == payload
    stored = replace(consent, artefact_jws=jws, artefact_hash=vector["artefact_hash"])
    artefact.check_consent_artefact(stored, keys)
    assert artefact.artefact_bounds(jws) == i["bounds"]


def test_a_changed_bound_no_longer_matches_the_artefact() -> None:
    vector = _load("consent_artefact_bounds.json")
    i = vector["inputs"]
    key = ec.derive_private_key(int(i["private_scalar_hex"], 16), ec.SECP256R1())
    raised = replace(
        _consent(i),
        bounds={"amount": 5_000_001, "currency": "USD"},
        artefact_jws=vector["jws"],
        artefact_hash=vector["artefact_hash"],
    )
    try:
        artefact.check_consent_artefact(raised, {i["kid"]: key.public_key()})
    except artefact.ArtefactError:
        pass
    else:
        raise AssertionError("a raised bound still matched the signed artefact")


def test_no_bounds_keeps_the_former_bytes() -> None:
    vector = _load("consent_artefact.json")
    payload = artefact.artefact_payload(_consent(vector["inputs"]))
    assert "bounds" not in payload
    assert artefact.canonical_json(payload).hex() == vector["payload_json_hex"]
    assert artefact.artefact_bounds(vector["jws"]) == {}
