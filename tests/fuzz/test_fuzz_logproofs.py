"""Fuzzed signed notes, checkpoints, proofs and receipts against the SDK's log verifiers.

A regulator feeds these functions whatever the gateway (or a man in the middle) sends. Each must
answer with its documented error only: ``NoteError`` (``protocol.note``), ``ProofError``
(``protocol.merkle``), ``LogVerificationError`` (``sdk.regulator.verify_receipt``); never
an ``IndexError``, ``UnicodeError``, ``binascii.Error`` or a crash. A valid input still verifies.
"""

from __future__ import annotations

import base64
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestgate.protocol.merkle import (
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from attestgate.protocol.note import (
    NoteError,
    NoteSigner,
    Verifier,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    verify_note,
)
from attestgate.sdk._internal.receipt import format_receipt
from attestgate.sdk.log_errors import LogVerificationError
from attestgate.sdk.regulator import verify_receipt
from tests.unit.audit.merkle_reference import mth, path, proof, sample_leaves

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
ORIGIN = "attestgate.test/log"
SIGNER = NoteSigner.generate(ORIGIN)
VERIFIER = Verifier.from_vkey(SIGNER.vkey())
LEAVES = sample_leaves(13)
HASHES = [leaf_hash(leaf) for leaf in LEAVES]
ROOT = mth(LEAVES)
NOTE = SIGNER.sign(format_checkpoint(ORIGIN, len(LEAVES), ROOT))
RECEIPT = format_receipt(index=5, proof=path(5, LEAVES), checkpoint_note=NOTE, extra=LEAVES[5])

_CHARS = "abc019+/=\n \u2014\t\x00é"
_NOTE_ALPHABET = st.sampled_from(_CHARS)
_HASH = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> str:
    """``text`` with characters replaced, inserted or removed, or cut short."""
    i = draw(st.integers(0, len(text) - 1))
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "line"]))
    if kind == "replace":
        return text[:i] + draw(_NOTE_ALPHABET) + text[i + 1 :]
    if kind == "insert":
        return text[:i] + draw(st.text(_CHARS, min_size=1, max_size=6)) + text[i:]
    if kind == "delete":
        return text[:i] + text[i + draw(st.integers(1, 6)) :]
    if kind == "truncate":
        return text[:i]
    lines = text.split("\n")
    j = draw(st.integers(0, len(lines) - 1))
    lines[j] = draw(st.text(max_size=80))
    return "\n".join(lines)


def test_the_unmutated_inputs_verify() -> None:
    checkpoint = open_checkpoint(NOTE, [VERIFIER], origin=ORIGIN)
    assert (checkpoint.size, checkpoint.root_hash) == (len(LEAVES), ROOT)
    entry, _ = verify_receipt(RECEIPT, vkey=SIGNER.vkey())
    assert entry.data == LEAVES[5]


@settings(FUZZ, max_examples=400)
@given(st.one_of(text_mutations(NOTE), st.text(max_size=300)))
def test_signed_notes_raise_only_note_errors(candidate: str) -> None:
    with contextlib.suppress(NoteError):
        open_checkpoint(candidate, [VERIFIER], origin=ORIGIN)
    with contextlib.suppress(NoteError):
        verify_note(candidate, [VERIFIER])
    with contextlib.suppress(NoteError):
        parse_checkpoint(candidate)


@settings(FUZZ, max_examples=200)
@given(st.one_of(st.text(max_size=120), text_mutations(SIGNER.vkey())))
def test_verifier_keys_raise_only_note_errors(vkey: str) -> None:
    with contextlib.suppress(NoteError):
        Verifier.from_vkey(vkey)


@settings(FUZZ, max_examples=400)
@given(
    index=st.integers(-5, 2**64),
    size=st.one_of(st.integers(-5, 40), st.integers(2**62, 2**64)),
    leaf=_HASH,
    hashes=st.lists(_HASH, max_size=70),
    root=_HASH,
)
def test_inclusion_proofs_raise_only_proof_errors(
    index: int, size: int, leaf: bytes, hashes: list[bytes], root: bytes
) -> None:
    with contextlib.suppress(ProofError):
        verify_inclusion(index=index, size=size, leaf_hash=leaf, proof=hashes, root=root)


@settings(FUZZ, max_examples=400)
@given(
    old=st.integers(-3, 20),
    new=st.one_of(st.integers(-3, 20), st.integers(2**62, 2**64)),
    hashes=st.lists(_HASH, max_size=70),
    old_root=_HASH,
    new_root=_HASH,
)
def test_consistency_proofs_raise_only_proof_errors(
    old: int, new: int, hashes: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    with contextlib.suppress(ProofError):
        verify_consistency(
            old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=hashes
        )


@settings(FUZZ, max_examples=300)
@given(data=st.data(), m=st.integers(1, len(LEAVES) - 1))
def test_mutated_real_proofs_never_verify(data: st.DataObject, m: int) -> None:
    """A real consistency proof with one hash changed, dropped or added is refused."""
    hashes = proof(m, LEAVES)
    i = data.draw(st.integers(0, len(hashes)))
    kind = data.draw(st.sampled_from(["change", "drop", "add"]))
    if kind == "change" and i < len(hashes):
        hashes[i] = bytes([hashes[i][0] ^ 1]) + hashes[i][1:]
    elif kind == "drop" and i < len(hashes):
        del hashes[i]
    else:
        hashes.insert(i, data.draw(st.binary(min_size=32, max_size=32)))
    try:
        verify_consistency(
            old_size=m, new_size=len(LEAVES), old_root=mth(LEAVES[:m]), new_root=ROOT, proof=hashes
        )
    except ProofError:
        return
    raise AssertionError("a mutated consistency proof verified")


@settings(FUZZ, max_examples=400)
@given(st.one_of(text_mutations(RECEIPT), st.text(max_size=200)))
def test_receipts_raise_only_log_verification_errors(candidate: str) -> None:
    try:
        entry, _ = verify_receipt(candidate, vkey=SIGNER.vkey())
    except LogVerificationError:
        return
    # A change that survives must not change what the receipt proves.
    assert entry.data == LEAVES[5]
    assert base64.b64encode(LEAVES[5]).decode() in candidate
