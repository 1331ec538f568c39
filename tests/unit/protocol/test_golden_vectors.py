"""Persisted formats stay byte-identical: the current code reproduces the golden vectors.

The vectors (tests/vectors/persisted/, README there) were generated before any encoding code moved
to the protocol kernel. Each test rebuilds the bytes from the stored inputs and compares them byte
for byte, and reads the stored bytes back with the current code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from attestgate.audit.events import AuditEvent, canonical_json
from attestgate.consent import artefact
from attestgate.consent.model import Consent, ConsentState, RecordSelector
from attestgate.gateway.persistence import vault
from attestgate.protocol.merkle import leaf_hash

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "persisted"
NOW = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


# -- vault -----------------------------------------------------------------------------------


class _Keks:
    def __init__(self, kid: str, kek: bytes) -> None:
        self._kid, self._kek = kid, kek

    def current_kek(self) -> tuple[str, bytes]:
        return self._kid, self._kek

    def kek(self, kid: str) -> bytes:
        assert kid == self._kid
        return self._kek


@pytest.fixture
def vault_vector() -> dict[str, Any]:
    return _load("vault_record.json")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "vault.sqlite3")
    vault.ensure_schema(conn)
    yield conn
    conn.close()


def _vault(v: dict[str, Any]) -> vault.RecordVault:
    inputs = v["inputs"]
    keks = _Keks(inputs["kek_id"], bytes.fromhex(inputs["kek_hex"]))
    return vault.RecordVault(keks, lambda subject: str(inputs["subject_ref"]))


def test_vault_associated_data_is_unchanged(vault_vector: dict[str, Any]) -> None:
    i = vault_vector["inputs"]
    aad = vault._record_aad(i["domain"], i["record_id"], i["version"], i["subject_ref"])
    assert aad.hex() == vault_vector["associated_data_hex"]


def test_vault_seals_a_record_to_the_same_bytes(
    vault_vector: dict[str, Any], db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    i = vault_vector["inputs"]
    nonces = [bytes.fromhex(i["wrap_nonce_hex"]), bytes.fromhex(i["record_nonce_hex"])]
    monkeypatch.setattr(vault, "os", SimpleNamespace(urandom=lambda n: nonces.pop(0)))
    data_key = bytes.fromhex(i["data_key_hex"])
    monkeypatch.setattr(AESGCM, "generate_key", staticmethod(lambda bit_length: data_key))
    version = _vault(vault_vector).put(
        db,
        domain=i["domain"],
        record_id=i["record_id"],
        subject="owner",
        provider_id="provider-1",
        fields=i["fields"],
        now=NOW,
    )
    assert version == i["version"]
    assert not nonces
    nonce, sealed = db.execute("SELECT nonce, ciphertext FROM records").fetchone()
    (wrapped,) = db.execute("SELECT wrapped_key FROM subject_keys").fetchone()
    assert bytes(nonce).hex() == i["record_nonce_hex"]
    assert bytes(sealed).hex() == vault_vector["ciphertext_hex"]
    assert bytes(wrapped).hex() == vault_vector["wrapped_key_hex"]
    opened = AESGCM(data_key).decrypt(
        nonce, sealed, bytes.fromhex(vault_vector["associated_data_hex"])
    )
    assert opened.hex() == vault_vector["plaintext_hex"]


def test_vault_opens_the_stored_record(
    vault_vector: dict[str, Any], db: sqlite3.Connection
) -> None:
    i = vault_vector["inputs"]
    db.execute(
        "INSERT INTO subject_keys VALUES (?, ?, ?, ?)",
        (i["subject_ref"], i["kek_id"], bytes.fromhex(vault_vector["wrapped_key_hex"]), "x"),
    )
    db.execute(
        "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            i["domain"],
            i["record_id"],
            i["version"],
            i["subject_ref"],
            "provider-1",
            bytes.fromhex(i["record_nonce_hex"]),
            bytes.fromhex(vault_vector["ciphertext_hex"]),
            NOW.isoformat(),
        ),
    )
    record = _vault(vault_vector).get(db, domain=i["domain"], subject="owner", record_id=None)
    assert record.record_id == i["record_id"]
    assert dict(record.fields) == i["fields"]


# -- audit leaves ----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _load("audit_leaf.json")["events"], ids=["allow", "deny"])
def test_audit_leaves_are_unchanged(vector: dict[str, Any]) -> None:
    i = vector["inputs"]
    event = AuditEvent(
        type=i["type"],
        time=datetime.fromisoformat(i["time"].replace("Z", "+00:00")),
        actor_role=i["actor_role"],
        actor_id=i["actor_id"],
        subject=i["subject"],
        objects=i["objects"],
        decision=i["decision"],
        reason=i["reason"],
        claims=tuple(i["claims"]),
    )
    leaf = bytes.fromhex(vector["leaf_hex"])
    assert canonical_json(event) == leaf
    assert leaf_hash(leaf).hex() == vector["leaf_hash_hex"]
    assert AuditEvent.from_json(leaf) == event


# -- consent artefacts -----------------------------------------------------------------------


@pytest.fixture
def artefact_vector() -> dict[str, Any]:
    return _load("consent_artefact.json")


def _consent(i: dict[str, Any]) -> Consent:
    return Consent(
        id=i["id"],
        request_id=i["request_id"],
        owner=i["owner"],
        grantee=i["grantee"],
        domain=i["domain"],
        purpose=i["purpose"],
        claims=tuple(i["claims"]),
        record=RecordSelector(i["domain"], i["record_id"]),
        valid_from=datetime.fromisoformat(i["valid_from"]),
        valid_until=datetime.fromisoformat(i["valid_until"]),
        max_uses=i["max_uses"],
        uses=i["uses"],
        data_life=timedelta(seconds=i["data_life_seconds"]),
        separate_consent=i["separate_consent"],
        cross_border=i["cross_border"],
        created_at=datetime.fromisoformat(i["created_at"]),
        state=ConsentState(i["state"]),
    )


def test_consent_artefact_payload_and_hash_are_unchanged(artefact_vector: dict[str, Any]) -> None:
    i = artefact_vector["inputs"]
    payload = artefact.artefact_payload(_consent(i))
    assert artefact.canonical_json(payload).hex() == artefact_vector["payload_json_hex"]
    jws = artefact_vector["jws"]
    assert artefact.artefact_hash(jws) == artefact_vector["artefact_hash"]
    key = ec.derive_private_key(int(i["private_scalar_hex"], 16), ec.SECP256R1())
    assert artefact.verify_artefact(jws, {i["kid"]: key.public_key()}) == payload
    sealed = artefact.seal_consent(_consent(i), private_key=key, kid=i["kid"])
    # ES256 signatures are randomized: the signed header and payload bytes are what must not change.
    assert sealed.artefact_jws.rsplit(".", 1)[0] == jws.rsplit(".", 1)[0]
    artefact.check_consent_artefact(sealed, {i["kid"]: key.public_key()})
    stored = replace(_consent(i), artefact_jws=jws, artefact_hash=artefact_vector["artefact_hash"])
    artefact.check_consent_artefact(stored, {i["kid"]: key.public_key()})
