"""C2SP signed notes (Ed25519) and transparency-log checkpoints: signing and verification.

Specs: https://c2sp.org/signed-note (format, key ids, verifier keys as used by
golang.org/x/mod/sumdb/note) and https://c2sp.org/tlog-checkpoint (the checkpoint body). Only the
Ed25519 signature type (0x01) is verified here: the log signs with it and a verifier pins its key.
Witness cosignatures (types 0x04 and 0x06) are ``attestgate.protocol.cosignature``, which reads the
note's lines with ``split_note``.

The audit log signs its checkpoints with ``NoteSigner``; regulators and ``attestgate audit
verify`` check them with ``Verifier`` and ``open_checkpoint``. Private keys are kept in the
``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` form of golang.org/x/mod/sumdb/note so
that standard tooling can read them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from attestgate.protocol.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "ALG_ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "Verifier",
    "check_key_name",
    "check_note_text",
    "ed25519_key_id",
    "format_checkpoint",
    "format_signature_line",
    "generate_vkey_pair",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_signature_line",
    "split_note",
    "std_b64decode",
    "verify_note",
]

ALG_ED25519 = 0x01
"""Signature type byte for Ed25519 (signed-note §Signature types)."""

MAX_SIGNATURES = 100
"""Most signature lines we read; the spec requires at least 16 (signed-note §Format)."""

MAX_NOTE_SIZE = 1 << 20
"""Largest signed note we parse, in UTF-8 bytes."""

_SIG_PREFIX = "\u2014 "  # em dash, space (signed-note §Format)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_KEY_HASH = re.compile(r"[0-9a-f]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_SKEY_PREFIX = "PRIVATE+KEY+"


class NoteError(ValueError):
    """A note, verifier key or checkpoint is malformed, or no trusted signature verifies."""


def std_b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): padded, canonical, nothing outside the alphabet."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise NoteError("invalid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("non-canonical base64")
    return raw


def check_key_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or '+' (signed-note §Format)."""
    if not name or "+" in name or any(ch.isspace() for ch in name) or _CONTROL.search(name):
        raise NoteError("invalid key name")


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4] (signed-note §Ed25519 signatures)."""
    if len(public_key) != 32:
        raise NoteError("an Ed25519 public key is 32 bytes")
    material = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(material).digest()[:4]


def _encode_key(name: str, key_id: bytes, raw: bytes) -> str:
    """``<name>+<hex key id>+<base64(0x01 || raw key)>``: the form of verifier and signer keys."""
    encoded = base64.b64encode(bytes([ALG_ED25519]) + raw).decode("ascii")
    return f"{name}+{key_id.hex()}+{encoded}"


def _decode_key(text: str, what: str) -> tuple[str, str, bytes]:
    """Name, hex key id and the 32 raw key bytes of ``_encode_key``'s form (ids not checked)."""
    parts = text.split("+", 2)  # base64 may contain "+"
    if len(parts) != 3 or not _KEY_HASH.fullmatch(parts[1]):
        raise NoteError(f"malformed {what} key")
    name, key_hash, encoded = parts
    check_key_name(name)
    raw = std_b64decode(encoded)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError(f"{what} key is not a 32-byte Ed25519 key")
    return name, key_hash, raw[1:]


class Verifier:
    """A trusted Ed25519 note key: its name, 4-byte key id and public key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        check_key_name(name)
        self.name = name
        self.public_key = public_key
        self._raw = public_key.public_bytes_raw()
        self.key_id: bytes = ed25519_key_id(name, self._raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>`` and check its key id."""
        name, key_hash, raw = _decode_key(vkey, "verifier")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw))
        if verifier.key_id.hex() != key_hash:
            raise NoteError("verifier key id does not match its key")
        return verifier

    @property
    def vkey(self) -> str:
        """This key in verifier-key form (the inverse of ``from_vkey``)."""
        return _encode_key(self.name, self.key_id, self._raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (without the key id prefix) is valid for ``message``."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.name}+{self.key_id.hex()})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id and the signature bytes after the key id."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A verified note: its text (ending in newline) and which signatures verified."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _split(message: str) -> tuple[str, list[str]]:
    """Text and signature lines; the text ends at the last blank line (signed-note §Format)."""
    if len(message.encode("utf-8", "surrogatepass")) > MAX_NOTE_SIZE:
        raise NoteError("note too large")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc
    if _CONTROL.search(message):
        raise NoteError("note contains control characters")
    cut = message.rfind("\n\n")
    if cut < 0 or not message.endswith("\n"):
        raise NoteError("malformed note")
    text, signature_block = message[: cut + 1], message[cut + 2 :]
    lines = signature_block[:-1].split("\n") if signature_block else []
    if not lines:
        raise NoteError("note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("note has too many signatures")
    return text, lines


def split_note(message: str) -> tuple[str, tuple[NoteSignature, ...]]:
    """A signed note's text and its signature lines, parsed but not verified.

    For callers that verify signatures of other types (``protocol.cosignature``); identical
    duplicate lines count once. Raises ``NoteError`` on a malformed note or signature line.
    """
    body, lines = _split(message)
    return body, tuple(dict.fromkeys(parse_signature_line(line) for line in lines))


def format_signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    """``— <name> base64(key id || signature)`` and a newline (signed-note §Format)."""
    check_key_name(name)
    if len(key_id) != 4:
        raise NoteError("a key id is 4 bytes")
    return f"{_SIG_PREFIX}{name} {base64.b64encode(key_id + signature).decode('ascii')}\n"


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line (without its newline): name, key id and the bytes after the id."""
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("malformed signature line")
    name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError("malformed signature line")
    check_key_name(name)
    raw = std_b64decode(encoded)
    if len(raw) < 5:
        raise NoteError("signature too short")
    return NoteSignature(name, raw[:4], raw[4:])


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], list[Verifier]]:
    index: dict[tuple[str, bytes], list[Verifier]] = {}
    for verifier in verifiers:
        index.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    return index


def verify_note(text: str, verifiers: Iterable[Verifier]) -> Note:
    """Parse a signed note and verify it against the trusted ``verifiers``.

    Signatures from unknown keys (name and key id not both known) are ignored. A known key whose
    signature fails rejects the whole note; so does a note where no known key signed. Raises
    ``NoteError``; the message names keys, never note contents.
    """
    body, lines = _split(text)
    known = _index_verifiers(verifiers)
    message = body.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for line in dict.fromkeys(lines):  # identical duplicate lines count once
        signature = parse_signature_line(line)
        candidates = known.get((signature.name, signature.key_id), [])
        if not candidates:
            if signature not in unverified:
                unverified.append(signature)
            continue
        label = f"{signature.name}+{signature.key_id.hex()}"
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {label}")
        if not candidates[0].verify(message, signature.signature):
            raise NoteError(f"invalid signature for key {label}")
        if signature not in verified:
            verified.append(signature)
    if not verified:
        raise NoteError("note has no verifiable signatures")
    return Note(body, tuple(verified), tuple(unverified))


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: origin, tree size and root hash, with the text it was read from.

    ``text`` is the signed note when the checkpoint came from ``open_checkpoint`` (so it can be
    stored and shown to others as evidence), or the bare body from ``parse_checkpoint``.
    """

    origin: str
    size: int
    root_hash: bytes
    text: str


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint note text (c2sp.org/tlog-checkpoint §Note text).

    Three mandatory lines (origin; decimal size without leading zeros; base64 root of 32 bytes),
    then optional non-empty extension lines, each ending in a newline.
    """
    if not body.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("checkpoint needs origin, size and root lines, none empty")
    origin, size_text, root_text = lines[:3]
    if _CONTROL.search(body):
        raise NoteError("checkpoint contains control characters")
    if not _TREE_SIZE.fullmatch(size_text) or int(size_text) >= MAX_TREE_SIZE:
        raise NoteError("checkpoint tree size is not a canonical decimal below 2**63")
    root = std_b64decode(root_text)
    if len(root) != HASH_SIZE:
        raise NoteError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root, text=body)


def open_checkpoint(
    signed_note: str, verifiers: Iterable[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; ``origin``, when given, must match exactly."""
    note = verify_note(signed_note, verifiers)
    parsed = parse_checkpoint(note.text)
    if origin is not None and parsed.origin != origin:
        raise NoteError("checkpoint origin is not the expected log")
    return Checkpoint(parsed.origin, parsed.size, parsed.root_hash, signed_note)


class NoteSigner:
    """Signs note texts with one named Ed25519 key (signed-note §Ed25519 signatures)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._private_key = private_key
        self._verifier = Verifier(name, private_key.public_key())
        self.key_id: bytes = self._verifier.key_id

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Load ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || 32-byte seed)>``."""
        if not skey.startswith(_SKEY_PREFIX):
            raise NoteError("malformed signer key")
        name, key_hash, seed = _decode_key(skey[len(_SKEY_PREFIX) :], "signer")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id.hex() != key_hash:
            raise NoteError("signer key id does not match its key")
        return signer

    def skey(self) -> str:
        """The private key in ``PRIVATE+KEY+...`` form. Secret: store it like any private key."""
        seed = self._private_key.private_bytes_raw()
        return _SKEY_PREFIX + _encode_key(self.name, self.key_id, seed)

    def vkey(self) -> str:
        """The public verifier key ``<name>+<hex id>+<base64(0x01 || public key)>``."""
        return self._verifier.vkey

    def verifier(self) -> Verifier:
        """The matching verifier."""
        return self._verifier

    def sign(self, body: str) -> str:
        """The signed note: ``body``, a blank line, then this key's signature line.

        ``body`` must end in a newline and contain no other control characters, no blank line at
        its end (it would be taken for the separator) and at most 1 MiB.
        """
        check_note_text(body)
        signature = self._private_key.sign(body.encode("utf-8"))
        return f"{body}\n{format_signature_line(self.name, self.key_id, signature)}"

    def __repr__(self) -> str:
        return f"NoteSigner({self.name}+{self.key_id.hex()})"


def check_note_text(body: str) -> None:
    """A note text ends in exactly one newline, without control characters, at most 1 MiB."""
    if not body.endswith("\n") or body.endswith("\n\n") or body == "\n":
        raise NoteError("note text must end in exactly one newline")
    if _CONTROL.search(body):
        raise NoteError("note text contains control characters")
    if len(body.encode("utf-8")) > MAX_NOTE_SIZE:
        raise NoteError("note text too large")


def format_checkpoint(origin: str, size: int, root_hash: bytes) -> str:
    """The checkpoint body ``origin\\nsize\\nbase64(root)\\n`` with no extension lines.

    c2sp.org/tlog-checkpoint §Note text. The origin follows key-name rules (no spaces, no '+') so
    that it can also be the signing key's name, as the spec recommends.
    """
    check_key_name(origin)
    if isinstance(size, bool) or not 0 <= size < MAX_TREE_SIZE:
        raise NoteError("tree size must be in [0, 2**63)")
    if len(root_hash) != HASH_SIZE:
        raise NoteError("root hash must be 32 bytes")
    body = f"{origin}\n{size}\n{base64.b64encode(root_hash).decode('ascii')}\n"
    parse_checkpoint(body)  # guard: we only emit what we accept
    return body


def generate_vkey_pair(name: str) -> tuple[str, str]:
    """A fresh ``(skey, vkey)`` pair for ``name``, as golang.org/x/mod/sumdb/note.GenerateKey."""
    signer = NoteSigner.generate(name)
    return signer.skey(), signer.vkey()
