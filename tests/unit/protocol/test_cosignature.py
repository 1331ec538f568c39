"""protocol.cosignature: both C2SP cosignature types, vkeys, key ids and the witness policy."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

from attestgate.protocol.cosignature import (
    ALG_COSIGNATURE_V1,
    ALG_SUBTREE_V1,
    COSIGNATURE_V1,
    SUBTREE_V1,
    AddCheckpointRequest,
    CosignatureError,
    Cosigner,
    PolicyError,
    WitnessKey,
    WitnessPolicy,
    add_cosignatures,
    cosignature_v1_message,
    open_cosigned_checkpoint,
    parse_tlog_size,
    subtree_v1_message,
)
from attestgate.protocol.note import NoteError, NoteSigner, format_checkpoint, split_note

VECTORS = Path(__file__).parents[2] / "vectors" / "cosignature"
ORIGIN = "example.com/log"


def _checkpoint(size: int = 5) -> tuple[NoteSigner, str, str]:
    log = NoteSigner.generate(ORIGIN)
    body = format_checkpoint(ORIGIN, size, hashlib.sha256(str(size).encode()).digest())
    return log, body, log.sign(body)


@pytest.mark.parametrize("kind", [COSIGNATURE_V1, SUBTREE_V1])
def test_cosign_and_verify_round_trip(kind: str) -> None:
    log, body, signed = _checkpoint()
    cosigner = Cosigner.generate("witness.example/w1", kind)
    line = cosigner.cosign(body, timestamp=1_700_000_000)
    assert line.startswith("\u2014 witness.example/w1 ")
    assert line.endswith("\n")
    note = add_cosignatures(signed, line)
    result = WitnessPolicy([cosigner.vkey], 1).require(note)
    assert [c.timestamp for c in result.valid] == [1_700_000_000]
    checkpoint, _ = open_cosigned_checkpoint(
        note, [log.verifier()], WitnessPolicy([cosigner.key], 1), origin=ORIGIN
    )
    assert checkpoint.size == 5
    # the log's own note verification ignores the cosignature lines (unknown keys)
    assert split_note(note)[0] == body


def test_key_ids_and_vkeys_follow_the_spec() -> None:
    ed = Cosigner.generate("w.example/ed", COSIGNATURE_V1)
    ml = Cosigner.generate("w.example/ml", SUBTREE_V1)
    for cosigner, alg, size in ((ed, ALG_COSIGNATURE_V1, 32), (ml, ALG_SUBTREE_V1, 1312)):
        key = cosigner.key
        name, key_hash, encoded = cosigner.vkey.split("+", 2)
        raw = base64.b64decode(encoded)
        assert raw[0] == alg
        assert len(raw) == 1 + size
        expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
        assert key_hash == expected.hex() == key.key_id.hex()
        assert WitnessKey.from_vkey(cosigner.vkey) == key
        assert Cosigner.from_skey(cosigner.skey()).vkey == cosigner.vkey
        bad = cosigner.vkey.replace(key_hash, "00000000")
        with pytest.raises(CosignatureError):
            WitnessKey.from_vkey(bad)


def test_a_log_note_key_is_not_a_witness_key() -> None:
    _, vkey = NoteSigner.generate("w").skey(), NoteSigner.generate("w").vkey()
    with pytest.raises(CosignatureError):
        WitnessKey.from_vkey(vkey)


def test_subtree_message_layout() -> None:
    root = bytes(range(32))
    message = subtree_v1_message("w", timestamp=7, origin="o", start=0, end=9, root_hash=root)
    assert message == (
        b"subtree/v1\n\x00"
        + b"\x01w"
        + struct.pack(">Q", 7)
        + b"\x01o"
        + struct.pack(">QQ", 0, 9)
        + root
    )
    with pytest.raises(CosignatureError):
        subtree_v1_message("w", timestamp=7, origin="o", start=1, end=9, root_hash=root)
    with pytest.raises(CosignatureError):
        subtree_v1_message("w" * 256, timestamp=7, origin="o", start=0, end=9, root_hash=root)


def test_cosignature_v1_message_layout() -> None:
    body = "a\n1\nb\n"
    assert cosignature_v1_message(body, 42) == b"cosignature/v1\ntime 42\na\n1\nb\n"


def test_policy_reports_valid_missing_and_bad_witness_by_witness() -> None:
    _, body, signed = _checkpoint()
    good = Cosigner.generate("w.example/good", COSIGNATURE_V1)
    pq = Cosigner.generate("w.example/pq", SUBTREE_V1)
    absent = Cosigner.generate("w.example/absent", SUBTREE_V1)
    liar = Cosigner.generate("w.example/liar", COSIGNATURE_V1)
    _, other_body, _ = _checkpoint(6)
    note = add_cosignatures(signed, [good.cosign(body), pq.cosign(body), liar.cosign(other_body)])
    policy = WitnessPolicy([good.vkey, pq.vkey, absent.vkey, liar.vkey], 2)
    result = policy.verify(note)
    assert [c.witness for c in result.valid] == [good.key, pq.key]
    assert result.missing == (absent.key,)
    assert [b.witness for b in result.bad] == [liar.key]
    assert "does not verify" in result.bad[0].reason
    assert not result.satisfied
    with pytest.raises(PolicyError) as caught:
        policy.require(note)
    assert "w.example/liar" in str(caught.value)
    assert "w.example/absent" in str(caught.value)
    # without the liar in the policy, its line is an unknown key: ignored
    assert WitnessPolicy([good.vkey, pq.vkey, absent.vkey], 2).require(note)
    with pytest.raises(PolicyError):
        WitnessPolicy([good.vkey, pq.vkey, absent.vkey], 3).require(note)


def test_future_timestamps_and_tampering_are_bad() -> None:
    _, body, signed = _checkpoint()
    witness = Cosigner.generate("w", SUBTREE_V1)
    future = add_cosignatures(signed, witness.cosign(body, timestamp=4_000_000_000))
    result = WitnessPolicy([witness.vkey], 1).verify(future, now=1_700_000_000)
    assert result.bad
    assert "future" in result.bad[0].reason
    line = witness.cosign(body)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    tampered = line.split(" ")[0] + " w " + base64.b64encode(bytes(raw)).decode() + "\n"
    assert WitnessPolicy([witness.vkey], 1).verify(add_cosignatures(signed, tampered)).bad


def test_policy_construction_refuses_duplicates_and_bad_k() -> None:
    witness = Cosigner.generate("w", COSIGNATURE_V1)
    with pytest.raises(CosignatureError):
        WitnessPolicy([witness.vkey, witness.vkey], 1)
    with pytest.raises(CosignatureError):
        WitnessPolicy([witness.vkey], 2)
    with pytest.raises(NoteError):
        WitnessKey.from_vkey("garbage")


def test_mldsa_public_key_round_trips_through_cryptography() -> None:
    witness = Cosigner.generate("w", SUBTREE_V1)
    MLDSA44PublicKey.from_public_bytes(witness.key.public_key)
    assert len(witness.skey().split("+", 4)[4]) == 44  # base64 of type byte and 32-byte seed


def _vectors() -> list[dict[str, Any]]:
    path = VECTORS / "go_formats_cosignature_v1.json"
    if not path.exists():
        return []
    loaded: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: str(v["name"]))
def test_independent_go_vectors(vector: dict[str, Any]) -> None:
    """Cosignatures computed by Go (transparency-dev/formats' cosignature/v1 code)."""
    key = WitnessKey.from_vkey(vector["vkey"])
    cosigner = Cosigner.from_skey(vector["skey"])
    assert cosigner.vkey == vector["vkey"]
    note = vector["cosigned_note"]
    result = WitnessPolicy([key], 1).require(note, now=vector["timestamp"])
    assert result.valid[0].timestamp == vector["timestamp"]
    # Ed25519 is deterministic: ours is byte-identical to Go's
    body = split_note(note)[0]
    assert cosigner.cosign(body, timestamp=vector["timestamp"]) == vector["cosignature_line"]


def test_vector_file_is_present() -> None:
    assert _vectors(), "tests/vectors/cosignature/go_formats_cosignature_v1.json missing"


def test_random_bytes_never_verify() -> None:
    _, _body, signed = _checkpoint()
    witness = Cosigner.generate("w", COSIGNATURE_V1)
    raw = witness.key.key_id + os.urandom(72)
    line = "\u2014 w " + base64.b64encode(raw).decode() + "\n"
    assert WitnessPolicy([witness.vkey], 1).verify(add_cosignatures(signed, line)).bad


def _mldsa_vectors() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(
        (VECTORS / "dilithium_py_subtree_v1.json").read_text(encoding="utf-8")
    )
    return loaded


@pytest.mark.parametrize("vector", _mldsa_vectors(), ids=lambda v: str(v["name"]))
def test_independent_mldsa_vectors(vector: dict[str, Any]) -> None:
    """ML-DSA-44 subtree/v1 cosignatures computed by dilithium-py (pure-Python FIPS 204)."""
    key = WitnessKey.from_vkey(vector["vkey"])
    # the same 32-byte seed gives the same key in OpenSSL (cryptography) and dilithium-py
    assert Cosigner.from_skey(vector["skey"]).vkey == vector["vkey"]
    lines = vector["checkpoint_text"].split("\n")
    message = subtree_v1_message(
        key.name,
        timestamp=vector["timestamp"],
        origin=lines[0],
        start=0,
        end=int(lines[1]),
        root_hash=base64.b64decode(lines[2]),
    )
    assert message.hex() == vector["signed_message_hex"]
    result = WitnessPolicy([key], 1).require(vector["cosigned_note"], now=vector["timestamp"])
    assert result.valid[0].timestamp == vector["timestamp"]
    # another checkpoint text under the same signature does not verify
    forged = vector["cosigned_note"].replace(lines[1], str(int(lines[1]) + 1), 1)
    assert WitnessPolicy([key], 1).verify(forged, now=vector["timestamp"]).bad


def test_add_checkpoint_request_round_trips_and_refuses_malformed_bodies() -> None:
    _, _, signed = _checkpoint()
    proof = (bytes(32), bytes(range(32)))
    request = AddCheckpointRequest(3, proof, signed)
    body = request.encode()
    assert body.startswith(b"old 3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    assert AddCheckpointRequest.decode(body) == request
    for bad in (
        b"old 03\n\n" + signed.encode(),
        b"old 3\n" + signed.encode(),
        b"old 3\nAAAA\n\n" + signed.encode(),
        b"old -1\n\n" + signed.encode(),
        b"old 3\n" + b"".join([b"A" * 43 + b"=\n"] * 64) + b"\n" + signed.encode(),
        b"\xff",
    ):
        with pytest.raises(CosignatureError):
            AddCheckpointRequest.decode(bad)
    assert parse_tlog_size(b"42\n") == 42
    for bad_size in (b"42", b"042\n", b"-1\n", b"x\n"):
        with pytest.raises(CosignatureError):
            parse_tlog_size(bad_size)
