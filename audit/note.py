"""Signing side of C2SP signed notes and tlog-checkpoints for the audit log.

The log signs each checkpoint body (c2sp.org/tlog-checkpoint) as a signed note
(c2sp.org/signed-note) with its Ed25519 key; regulators verify with ``sdk._internal.note``.
Private keys are kept in the ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` form of
golang.org/x/mod/sumdb/note so that standard tooling can read them.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attestgate.protocol.merkle import HASH_SIZE, MAX_TREE_SIZE
from attestgate.sdk._internal.note import (
    ALG_ED25519,
    NoteError,
    Verifier,
    check_key_name,
    parse_checkpoint,
    std_b64decode,
)

__all__ = ["NoteSigner", "format_checkpoint", "generate_vkey_pair"]

_SKEY_PREFIX = "PRIVATE+KEY+"


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
        parts = skey[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("malformed signer key")
        name, key_hash, encoded = parts
        raw = std_b64decode(encoded)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != key_hash:
            raise NoteError("signer key id does not match its key")
        return signer

    def skey(self) -> str:
        """The private key in ``PRIVATE+KEY+...`` form. Secret: store it like any private key."""
        seed = self._private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"{_SKEY_PREFIX}{self.name}+{self.key_id.hex()}+{encoded}"

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
        _check_body(body)
        signature = self._private_key.sign(body.encode("utf-8"))
        encoded = base64.b64encode(self.key_id + signature).decode("ascii")
        return f"{body}\n\u2014 {self.name} {encoded}\n"

    def __repr__(self) -> str:
        return f"NoteSigner({self.name}+{self.key_id.hex()})"


def _check_body(body: str) -> None:
    if not body.endswith("\n") or body.endswith("\n\n") or body == "\n":
        raise NoteError("note text must end in exactly one newline")
    if any(ch < " " and ch != "\n" for ch in body):
        raise NoteError("note text contains control characters")
    if len(body.encode("utf-8")) > (1 << 20):
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
