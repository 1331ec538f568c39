"""protocol.note: C2SP signed notes (golang.org/x/mod/sumdb/note vectors) and checkpoints."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attestgate.protocol.note import (
    Checkpoint,
    NoteError,
    Verifier,
    ed25519_key_id,
    open_checkpoint,
    parse_checkpoint,
    verify_note,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "note"
GO: dict[str, Any] = json.loads((VECTORS / "sumdb_note_test.json").read_text(encoding="utf-8"))
C2SP: dict[str, Any] = json.loads(
    (VECTORS / "c2sp_checkpoint_example.json").read_text(encoding="utf-8")
)
TEXT: str = GO["text"]
PETER_SIG: str = GO["peter_sig_line"]
ENOCH_SIG: str = GO["enoch_sig_line"]


@pytest.fixture
def peter() -> Verifier:
    return Verifier.from_vkey(GO["peter_vkey"])


@pytest.fixture
def enoch() -> Verifier:
    return Verifier.from_vkey(GO["enoch_vkey"])


class TestVerifierKeys:
    def test_key_ids_match_the_vectors(self, peter: Verifier, enoch: Verifier) -> None:
        assert peter.key_id.hex() == GO["peter_key_id"]
        assert enoch.key_id.hex() == GO["enoch_key_id"]
        assert peter.name == "PeterNeumann"
        assert peter.vkey == GO["peter_vkey"]

    def test_key_id_is_sha256_of_name_newline_alg_key(self, peter: Verifier) -> None:
        raw = peter.public_key.public_bytes_raw()
        assert ed25519_key_id("PeterNeumann", raw) == bytes.fromhex(GO["peter_key_id"])
        assert ed25519_key_id("PeterNeumanN", raw) != bytes.fromhex(GO["peter_key_id"])

    def test_every_proper_substring_is_rejected(self) -> None:
        vkey: str = GO["peter_vkey"]
        for start in range(len(vkey)):
            for end in range(start + 1, len(vkey) + 1):
                if (start, end) == (0, len(vkey)):
                    continue
                with pytest.raises(NoteError):
                    Verifier.from_vkey(vkey[start:end])

    def test_every_single_character_change_is_rejected(self) -> None:
        vkey: str = GO["peter_vkey"]
        for position in range(len(vkey)):
            mangled = vkey[:position] + chr(ord(vkey[position]) + 1) + vkey[position + 1 :]
            with pytest.raises(NoteError):
                Verifier.from_vkey(mangled)

    @pytest.mark.parametrize("vkey", GO["bad_vkeys"])
    def test_wrong_length_and_unknown_algorithm(self, vkey: str) -> None:
        with pytest.raises(NoteError):
            Verifier.from_vkey(vkey)

    @pytest.mark.parametrize("name", ["", "a+b", "a b", "tab\there", "nbsp\u00a0x"])
    def test_bad_names(self, name: str) -> None:
        with pytest.raises(NoteError):
            Verifier(name, Ed25519PrivateKey.generate().public_key())


class TestVerifyNote:
    def test_go_vector_verifies(self, peter: Verifier) -> None:
        note = verify_note(GO["peter_signed_note"], [peter])
        assert note.text == TEXT
        assert [s.name for s in note.signatures] == ["PeterNeumann"]
        assert note.signatures[0].key_id.hex() == GO["peter_key_id"]
        assert note.unverified == ()

    def test_unknown_signers_are_ignored(self, peter: Verifier, enoch: Verifier) -> None:
        note = verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
        assert [s.name for s in note.signatures] == ["PeterNeumann"]
        assert [s.name for s in note.unverified] == ["EnochRoot"]
        both = verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
        assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]

    def test_same_name_other_key_id_is_unknown_not_invalid(self, peter: Verifier) -> None:
        impostor = Ed25519PrivateKey.generate()
        other_id = ed25519_key_id("PeterNeumann", impostor.public_key().public_bytes_raw())
        forged = base64.b64encode(other_id + impostor.sign(TEXT.encode())).decode()
        note = verify_note(TEXT + "\n" + PETER_SIG + f"\u2014 PeterNeumann {forged}\n", [peter])
        assert len(note.signatures) == 1
        assert len(note.unverified) == 1

    def test_no_trusted_signature(self, enoch: Verifier) -> None:
        with pytest.raises(NoteError, match="no verifiable signatures"):
            verify_note(GO["peter_signed_note"], [])
        with pytest.raises(NoteError, match="no verifiable signatures"):
            verify_note(GO["peter_signed_note"], [enoch])

    def test_invalid_signature_from_known_key_rejects(self, peter: Verifier) -> None:
        broken = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
        with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
            verify_note(TEXT + "\n" + broken, [peter])

    def test_changed_text_rejects(self, peter: Verifier) -> None:
        with pytest.raises(NoteError, match="invalid signature"):
            verify_note(TEXT.replace("problem", "Problem", 1) + "\n" + PETER_SIG, [peter])

    def test_duplicate_signatures_count_once(self, peter: Verifier) -> None:
        note = verify_note(TEXT + "\n" + PETER_SIG * 3 + ENOCH_SIG * 2, [peter])
        assert len(note.signatures) == 1
        assert len(note.unverified) == 1

    def test_too_many_signatures(self, peter: Verifier) -> None:
        with pytest.raises(NoteError, match="too many"):
            verify_note(TEXT + "\n" + PETER_SIG * 101, [peter])

    def test_ambiguous_verifiers(self, peter: Verifier) -> None:
        with pytest.raises(NoteError, match="ambiguous key"):
            verify_note(GO["peter_signed_note"], [peter, Verifier.from_vkey(GO["peter_vkey"])])

    @pytest.mark.parametrize(
        "message",
        [
            TEXT,
            TEXT + "\n",
            TEXT + "\n" + PETER_SIG[:-1],
            "\x01" + TEXT + "\n" + PETER_SIG,
            "\ud800" + TEXT + "\n" + PETER_SIG,
            TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
            TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
            TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",
            TEXT + "\n" + "\u2014 PeterNeumann not*base64\n",
        ],
    )
    def test_malformed_notes(self, peter: Verifier, message: str) -> None:
        with pytest.raises(NoteError):
            verify_note(message, [peter])


class TestCheckpoint:
    def test_c2sp_example_parses(self) -> None:
        body = C2SP["signed_note"].split("\n\n")[0] + "\n"
        checkpoint = parse_checkpoint(body)
        assert checkpoint == Checkpoint(
            origin=C2SP["origin"],
            size=C2SP["size"],
            root_hash=base64.b64decode(C2SP["root_base64"]),
            text=body,
        )

    def test_c2sp_example_is_not_trusted_without_its_key(self, peter: Verifier) -> None:
        with pytest.raises(NoteError, match="no verifiable signatures"):
            open_checkpoint(C2SP["signed_note"], [peter])

    def test_extension_lines_are_allowed(self) -> None:
        root = base64.b64encode(bytes(32)).decode()
        assert parse_checkpoint(f"log\n0\n{root}\next one\n").size == 0

    @pytest.mark.parametrize(
        "body",
        [
            "log\n01\n{root}\n",
            "log\n-1\n{root}\n",
            "log\n+1\n{root}\n",
            "log\n 1\n{root}\n",
            "log\n9223372036854775808\n{root}\n",
            "log\n1\n{root}",
            "log\n1\n",
            "\n1\n{root}\n",
            "log\n1\n{root}\n\n",
            "log\n1\n{short}\n",
            "log\n1\n{unpadded}\n",
            "log\x00\n1\n{root}\n",
        ],
    )
    def test_malformed_checkpoints(self, body: str) -> None:
        root = base64.b64encode(bytes(32)).decode()
        short = base64.b64encode(bytes(31)).decode()
        text = body.format(root=root, short=short, unpadded=root.rstrip("="))
        with pytest.raises(NoteError):
            parse_checkpoint(text)

    def test_open_checkpoint_checks_signature_and_origin(self) -> None:
        key = Ed25519PrivateKey.generate()
        verifier = Verifier("example.org/log", key.public_key())
        root = base64.b64encode(bytes(range(32))).decode()
        body = f"example.org/log\n7\n{root}\n"
        signature = base64.b64encode(verifier.key_id + key.sign(body.encode())).decode()
        signed = f"{body}\n\u2014 example.org/log {signature}\n"
        checkpoint = open_checkpoint(signed, [verifier], origin="example.org/log")
        assert (checkpoint.size, checkpoint.root_hash, checkpoint.text) == (
            7,
            bytes(range(32)),
            signed,
        )
        with pytest.raises(NoteError, match="origin"):
            open_checkpoint(signed, [verifier], origin="example.org/other")
