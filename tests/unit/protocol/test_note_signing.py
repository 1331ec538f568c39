"""protocol.note, signing side: notes and checkpoints, against sumdb/note and the verifier."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from attestgate.protocol.note import (
    NoteError,
    NoteSigner,
    Verifier,
    format_checkpoint,
    generate_vkey_pair,
    open_checkpoint,
    parse_checkpoint,
    verify_note,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "note"
GO: dict[str, Any] = json.loads((VECTORS / "sumdb_note_test.json").read_text(encoding="utf-8"))


def test_signs_exactly_like_sumdb_note() -> None:
    signer = NoteSigner.from_skey(GO["peter_skey"])
    assert signer.sign(GO["text"]) == GO["peter_signed_note"]
    assert signer.vkey() == GO["peter_vkey"]
    assert signer.key_id.hex() == GO["peter_key_id"]
    assert signer.skey() == GO["peter_skey"]


def test_mangled_skeys_are_rejected() -> None:
    skey: str = GO["peter_skey"]
    for position in range(len(skey)):
        mangled = skey[:position] + chr(ord(skey[position]) + 1) + skey[position + 1 :]
        with pytest.raises(NoteError):
            NoteSigner.from_skey(mangled)
    with pytest.raises(NoteError):
        NoteSigner.from_skey(skey[:-4])


def test_generated_pair_round_trips() -> None:
    skey, vkey = generate_vkey_pair("audit.example/log")
    signer = NoteSigner.from_skey(skey)
    verifier = Verifier.from_vkey(vkey)
    assert verifier.key_id == signer.key_id
    note = verify_note(signer.sign("hello\n"), [verifier])
    assert note.text == "hello\n"
    other = NoteSigner.generate("audit.example/log")
    with pytest.raises(NoteError):
        verify_note(other.sign("hello\n"), [verifier])


@pytest.mark.parametrize("body", ["", "\n", "no newline", "two\n\n", "ctl\x07\n", "tab\tx\n"])
def test_sign_refuses_bad_bodies(body: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner.generate("k").sign(body)


def test_checkpoint_format_and_round_trip() -> None:
    root = bytes(range(32))
    body = format_checkpoint("audit.example/log", 42, root)
    assert body == f"audit.example/log\n42\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(body).size == 42
    signer = NoteSigner.generate("audit.example/log")
    checkpoint = open_checkpoint(signer.sign(body), [signer.verifier()], origin="audit.example/log")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (
        "audit.example/log",
        42,
        root,
    )


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, bytes(32)),
        ("has space", 1, bytes(32)),
        ("a+b", 1, bytes(32)),
        ("line\nbreak", 1, bytes(32)),
        ("log", -1, bytes(32)),
        ("log", 2**63, bytes(32)),
        ("log", 1, bytes(31)),
    ],
)
def test_format_checkpoint_refuses(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(NoteError):
        format_checkpoint(origin, size, root)


def test_repr_shows_no_key_material() -> None:
    signer = NoteSigner.from_skey(GO["peter_skey"])
    assert "AYEK" not in repr(signer)
    assert repr(signer) == "NoteSigner(PeterNeumann+c74f20a3)"
