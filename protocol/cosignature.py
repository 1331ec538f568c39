"""C2SP transparency-log cosignatures: witness keys, cosigning, and k-of-n witness policies.

Implements https://c2sp.org/tlog-cosignature (both types) over the signed notes of
``attestgate.protocol.note``:

- ``cosignature/v1``: Ed25519, timestamped, signature type 0x04. Signed message
  ``"cosignature/v1\\ntime <T>\\n" || checkpoint note text``. What today's witnesses and
  clients speak.
- ``subtree/v1``: ML-DSA-44 (FIPS 204), signature type 0x06, post-quantum. Signed message the
  ``cosigned_message`` structure (label ``"subtree/v1\\n\\0"``, cosigner name, timestamp, log
  origin, start, end, root hash); for a checkpoint start is 0 and end its size. Recommended by
  the spec for new deployments.

Both signatures are ``timestamp (u64, big-endian) || signature`` after the 4-byte key id, and key
ids are ``SHA-256(name || 0x0A || type || public key)[:4]`` (signed-note §Signatures). Keys use the
vkey form ``<name>+<hex id>+base64(type || public key)``; private keys the
``PRIVATE+KEY+<name>+<hex id>+base64(type || seed)`` form of golang.org/x/mod/sumdb/note and
github.com/transparency-dev/formats ``note`` (32-byte seeds for both types).

A ``WitnessPolicy`` (the witnesses' keys and a threshold k) checks the cosignatures on a signed
checkpoint and reports, per witness, which cosignature verified, which is missing and which is bad.
The log's own checkpoint signature stays Ed25519 (``protocol.note``, signature type 0x01).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from attestgate.protocol.merkle import HASH_SIZE, MAX_TREE_SIZE
from attestgate.protocol.note import (
    Checkpoint,
    NoteError,
    NoteSignature,
    Verifier,
    check_key_name,
    check_note_text,
    format_signature_line,
    open_checkpoint,
    parse_checkpoint,
    split_note,
    std_b64decode,
)

__all__ = [
    "ADD_CHECKPOINT_MAX_PROOF",
    "ALG_COSIGNATURE_V1",
    "ALG_SUBTREE_V1",
    "COSIGNATURE_V1",
    "MAX_FUTURE_SECONDS",
    "SUBTREE_V1",
    "TLOG_SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "BadCosignature",
    "Cosignature",
    "CosignatureError",
    "Cosigner",
    "PolicyError",
    "PolicyResult",
    "WitnessKey",
    "WitnessPolicy",
    "add_cosignatures",
    "cosignature_v1_message",
    "open_cosigned_checkpoint",
    "parse_tlog_size",
    "subtree_v1_message",
    "witness_key_id",
]

COSIGNATURE_V1: Final = "cosignature/v1"
"""Ed25519 timestamped checkpoint cosignatures."""
SUBTREE_V1: Final = "subtree/v1"
"""ML-DSA-44 timestamped (sub)tree cosignatures."""

ALG_COSIGNATURE_V1: Final = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` (signed-note §Signature types)."""
ALG_SUBTREE_V1: Final = 0x06
"""Signature type byte of ML-DSA-44 ``subtree/v1`` (signed-note §Signature types)."""

MAX_FUTURE_SECONDS: Final = 600
"""Cosignatures dated more than this after the verifier's clock are refused (the spec allows it)."""

_KIND: Final = {ALG_COSIGNATURE_V1: COSIGNATURE_V1, ALG_SUBTREE_V1: SUBTREE_V1}
_ALG: Final = {COSIGNATURE_V1: ALG_COSIGNATURE_V1, SUBTREE_V1: ALG_SUBTREE_V1}
_PUBLIC_SIZE: Final = {ALG_COSIGNATURE_V1: 32, ALG_SUBTREE_V1: 1312}
_SIGNATURE_SIZE: Final = {ALG_COSIGNATURE_V1: 64, ALG_SUBTREE_V1: 2420}
_SEED_SIZE: Final = 32
_ALG_ED25519_NOTE: Final = 0x01  # an Ed25519 note skey is accepted as a cosigner seed too
_SUBTREE_LABEL: Final = b"subtree/v1\n\x00"
_MAX_TIMESTAMP: Final = 2**63 - 1
_SKEY_PREFIX: Final = "PRIVATE+KEY+"


class CosignatureError(NoteError):
    """A witness key, cosignature or policy is malformed, or a cosignature cannot be made."""


def witness_key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || alg || public key)[:4]`` (tlog-cosignature §Format)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise CosignatureError("a cosignature timestamp is an integer in [0, 2**63 - 1]")


def cosignature_v1_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The Ed25519 ``cosignature/v1`` signed message over a checkpoint's note text.

    ``cosignature/v1\\n`` ``time <timestamp>\\n`` then the whole note text (extension lines
    included, signature lines not).
    """
    _check_timestamp(timestamp)
    check_note_text(checkpoint_text)
    if checkpoint_text.count("\n") < 3:
        raise CosignatureError("a cosigned note has at least the three checkpoint lines")
    return f"{COSIGNATURE_V1}\ntime {timestamp}\n{checkpoint_text}".encode()


def subtree_v1_message(
    cosigner_name: str, *, timestamp: int, origin: str, start: int, end: int, root_hash: bytes
) -> bytes:
    """The ML-DSA-44 ``subtree/v1`` signed message (the ``cosigned_message`` structure)."""
    _check_timestamp(timestamp)
    name, log = cosigner_name.encode("utf-8"), origin.encode("utf-8")
    if not 1 <= len(name) <= 255 or not 1 <= len(log) <= 255:
        raise CosignatureError("cosigner name and log origin are 1 to 255 bytes")
    if not 0 <= start <= end < MAX_TREE_SIZE:
        raise CosignatureError("a subtree is 0 <= start <= end < 2**63")
    if start and timestamp:
        raise CosignatureError("a subtree with a non-zero start has a zero timestamp")
    if len(root_hash) != HASH_SIZE:
        raise CosignatureError("a subtree hash is 32 bytes")
    return b"".join(
        (
            _SUBTREE_LABEL,
            bytes([len(name)]),
            name,
            struct.pack(">Q", timestamp),
            bytes([len(log)]),
            log,
            struct.pack(">QQ", start, end),
            root_hash,
        )
    )


def _signed_message(alg: int, name: str, checkpoint_text: str, timestamp: int) -> bytes:
    if alg == ALG_COSIGNATURE_V1:
        return cosignature_v1_message(checkpoint_text, timestamp)
    checkpoint = parse_checkpoint(checkpoint_text)
    return subtree_v1_message(
        name,
        timestamp=timestamp,
        origin=checkpoint.origin,
        start=0,
        end=checkpoint.size,
        root_hash=checkpoint.root_hash,
    )


@dataclass(frozen=True)
class WitnessKey:
    """A witness's (cosigner's) public key: its name, signature type, key bytes and key id."""

    name: str
    alg: int
    public_key: bytes = field(repr=False)
    key_id: bytes

    @classmethod
    def of(cls, name: str, alg: int, public_key: bytes) -> WitnessKey:
        """The key ``public_key`` of type ``alg`` (0x04 or 0x06) named ``name``."""
        check_key_name(name)
        if alg not in _KIND:
            raise CosignatureError("a witness key is of type 0x04 (Ed25519) or 0x06 (ML-DSA-44)")
        if len(public_key) != _PUBLIC_SIZE[alg]:
            raise CosignatureError(
                f"a {_KIND[alg]} public key is {_PUBLIC_SIZE[alg]} bytes, not {len(public_key)}"
            )
        if alg == ALG_SUBTREE_V1 and len(name.encode("utf-8")) > 255:
            raise CosignatureError("an ML-DSA-44 cosigner name is at most 255 bytes")
        _public_key_object(alg, public_key)  # a malformed key fails here, not at verification
        return cls(name, alg, bytes(public_key), witness_key_id(name, alg, public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> WitnessKey:
        """Parse ``<name>+<hex key id>+base64(type || public key)`` and check its key id."""
        parts = vkey.strip().split("+", 2)  # base64 may contain "+"
        if len(parts) != 3 or len(parts[1]) != 8:
            raise CosignatureError("malformed witness vkey: <name>+<hex key id>+<base64 key>")
        name, key_hash, encoded = parts
        raw = std_b64decode(encoded)
        if not raw:
            raise CosignatureError("witness vkey has no key")
        key = cls.of(name, raw[0], raw[1:])
        if key.key_id.hex() != key_hash:
            raise CosignatureError("witness vkey's key id does not match its key")
        return key

    @property
    def vkey(self) -> str:
        """This key in vkey form (the inverse of ``from_vkey``)."""
        encoded = base64.b64encode(bytes([self.alg]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @property
    def kind(self) -> str:
        """``cosignature/v1`` (Ed25519) or ``subtree/v1`` (ML-DSA-44)."""
        return _KIND[self.alg]

    @property
    def label(self) -> str:
        """``<name>+<hex key id>``: how errors and reports name this key."""
        return f"{self.name}+{self.key_id.hex()}"

    def matches(self, signature: NoteSignature) -> bool:
        """True when a signature line carries this key's name and key id."""
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, checkpoint_text: str, signature: NoteSignature) -> int:
        """Check one cosignature line (name and key id already matched) on a checkpoint text.

        Returns the cosignature's timestamp; raises ``CosignatureError`` saying why it is bad.
        """
        if not self.matches(signature):
            raise CosignatureError(f"signature is not from witness {self.label}")
        raw = signature.signature
        expected = 8 + _SIGNATURE_SIZE[self.alg]
        if len(raw) != expected:
            raise CosignatureError(f"a {self.kind} cosignature is {expected} bytes, not {len(raw)}")
        timestamp = int.from_bytes(raw[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise CosignatureError("cosignature timestamp is above 2**63 - 1")
        try:
            message = _signed_message(self.alg, self.name, checkpoint_text, timestamp)
        except NoteError as exc:
            raise CosignatureError(f"cosigned note is not a checkpoint: {exc}") from None
        if not _verify(self.alg, self.public_key, raw[8:], message):
            raise CosignatureError(f"{self.kind} signature of {self.label} does not verify")
        return timestamp

    def __str__(self) -> str:
        return self.label


def _public_key_object(alg: int, public_key: bytes) -> Ed25519PublicKey | MLDSA44PublicKey:
    try:
        if alg == ALG_COSIGNATURE_V1:
            return Ed25519PublicKey.from_public_bytes(public_key)
        return MLDSA44PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise CosignatureError(f"invalid {_KIND[alg]} public key") from exc


def _verify(alg: int, public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        _public_key_object(alg, public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Cosigner:
    """A witness's signing key: makes ``cosignature/v1`` (Ed25519) or ``subtree/v1`` (ML-DSA-44)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey | MLDSA44PrivateKey) -> None:
        if isinstance(private_key, Ed25519PrivateKey):
            alg, public = ALG_COSIGNATURE_V1, private_key.public_key().public_bytes_raw()
        else:
            alg, public = ALG_SUBTREE_V1, private_key.public_key().public_bytes_raw()
        self.key: WitnessKey = WitnessKey.of(name, alg, public)
        self._private_key = private_key

    @classmethod
    def generate(cls, name: str, kind: str = SUBTREE_V1) -> Cosigner:
        """A cosigner with a fresh key of ``kind`` (``subtree/v1`` or ``cosignature/v1``)."""
        if kind not in _ALG:
            raise CosignatureError(f"cosignature kind is {SUBTREE_V1} or {COSIGNATURE_V1}")
        if kind == COSIGNATURE_V1:
            return cls(name, Ed25519PrivateKey.generate())
        return cls(name, MLDSA44PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Cosigner:
        """Load ``PRIVATE+KEY+<name>+<hex id>+base64(type || 32-byte seed)``.

        Type 0x04 (Ed25519 cosigner), 0x06 (ML-DSA-44 cosigner) or 0x01 (an Ed25519 note key,
        used as a ``cosignature/v1`` key as transparency-dev/formats does); the key id must be the
        one of that type.
        """
        text = skey.strip()
        if not text.startswith(_SKEY_PREFIX):
            raise CosignatureError("malformed cosigner key: PRIVATE+KEY+<name>+<id>+<base64>")
        parts = text[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise CosignatureError("malformed cosigner key: PRIVATE+KEY+<name>+<id>+<base64>")
        name, key_hash, encoded = parts
        raw = std_b64decode(encoded)
        if len(raw) != 1 + _SEED_SIZE or raw[0] not in (*_KIND, _ALG_ED25519_NOTE):
            raise CosignatureError("a cosigner key is a type byte 0x04, 0x06 or 0x01 and a seed")
        alg, seed = raw[0], raw[1:]
        private: Ed25519PrivateKey | MLDSA44PrivateKey
        if alg == ALG_SUBTREE_V1:
            private = MLDSA44PrivateKey.from_seed_bytes(seed)
        else:
            private = Ed25519PrivateKey.from_private_bytes(seed)
        cosigner = cls(name, private)
        public = cosigner.key.public_key
        if witness_key_id(name, alg, public).hex() != key_hash:
            raise CosignatureError("cosigner key's key id does not match its key")
        return cosigner

    def skey(self) -> str:
        """The private key in ``PRIVATE+KEY+...`` form. Secret: store it 0600."""
        if isinstance(self._private_key, Ed25519PrivateKey):
            seed = self._private_key.private_bytes_raw()
        else:
            seed = self._private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([self.key.alg]) + seed).decode("ascii")
        return f"{_SKEY_PREFIX}{self.key.name}+{self.key.key_id.hex()}+{encoded}"

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def vkey(self) -> str:
        """The public witness key in vkey form."""
        return self.key.vkey

    def cosign(self, checkpoint_text: str, *, timestamp: int | None = None) -> str:
        """The cosignature line (``— <name> base64(...)`` and a newline) on a checkpoint text.

        ``checkpoint_text`` is the note text without signatures; ``timestamp`` defaults to now
        (POSIX seconds) and must not be zero (tlog-witness: a witness never omits it).
        """
        when = int(time.time()) if timestamp is None else timestamp
        if when == 0:
            raise CosignatureError("a checkpoint cosignature has a non-zero timestamp")
        parse_checkpoint(checkpoint_text)
        message = _signed_message(self.key.alg, self.key.name, checkpoint_text, when)
        signature = self._private_key.sign(message)
        return format_signature_line(
            self.key.name, self.key.key_id, struct.pack(">Q", when) + signature
        )

    def __repr__(self) -> str:
        return f"Cosigner({self.key.label}, {self.key.kind})"


@dataclass(frozen=True)
class Cosignature:
    """A cosignature that verified: the witness, its timestamp and the signature line."""

    witness: WitnessKey
    timestamp: int
    line: str


@dataclass(frozen=True)
class BadCosignature:
    """A signature line whose name and key id are a policy witness's, but that did not verify."""

    witness: WitnessKey
    reason: str


@dataclass(frozen=True)
class PolicyResult:
    """What a ``WitnessPolicy`` found on one checkpoint, witness by witness."""

    k: int
    valid: tuple[Cosignature, ...]
    """One per witness whose cosignature verified (the first valid line of that witness)."""
    missing: tuple[WitnessKey, ...]
    """Witnesses with no signature line on the note."""
    bad: tuple[BadCosignature, ...]
    """Witnesses with a line that failed (malformed, wrong signature, dated in the future)."""

    @property
    def satisfied(self) -> bool:
        """At least k witnesses cosigned and no policy witness's line is bad (signed-note rule)."""
        return len(self.valid) >= self.k and not self.bad

    def describe(self) -> str:
        """One line: how many of k verified, and which witnesses are missing or bad."""
        parts = [f"{len(self.valid)} of the required {self.k} witness cosignatures verified"]
        if self.valid:
            parts.append("valid: " + ", ".join(c.witness.label for c in self.valid))
        if self.missing:
            parts.append("missing: " + ", ".join(w.label for w in self.missing))
        if self.bad:
            parts.append("bad: " + ", ".join(f"{b.witness.label} ({b.reason})" for b in self.bad))
        return "; ".join(parts)


class PolicyError(CosignatureError):
    """A checkpoint does not meet its witness policy; ``result`` says witness by witness why."""

    def __init__(self, result: PolicyResult) -> None:
        super().__init__(f"checkpoint does not meet the witness policy: {result.describe()}")
        self.result = result


class WitnessPolicy:
    """k of n witnesses must have cosigned a checkpoint (tlog-policy's single-group quorum)."""

    def __init__(self, witnesses: Iterable[WitnessKey | str], k: int) -> None:
        keys = tuple(w if isinstance(w, WitnessKey) else WitnessKey.from_vkey(w) for w in witnesses)
        if len({(w.name, w.key_id) for w in keys}) != len(keys):
            raise CosignatureError("a witness policy lists each witness key once")
        if len({w.public_key for w in keys}) != len(keys):
            raise CosignatureError("two witnesses of a policy share one public key")
        if isinstance(k, bool) or not 0 <= k <= len(keys):
            raise CosignatureError(f"a policy threshold k is between 0 and {len(keys)}, not {k}")
        self.witnesses = keys
        self.k = k

    def verify(
        self, signed_note: str, *, now: float | None = None, max_future: int = MAX_FUTURE_SECONDS
    ) -> PolicyResult:
        """Check every policy witness's cosignature on ``signed_note`` (a signed checkpoint).

        Lines of other keys (the log's signature, unknown witnesses) are ignored. A cosignature
        dated more than ``max_future`` seconds after ``now`` (default: the clock) is bad. Does not
        check the log's own signature: ``open_cosigned_checkpoint`` does both.
        """
        text, signatures = split_note(signed_note)
        clock = time.time() if now is None else now
        valid: list[Cosignature] = []
        missing: list[WitnessKey] = []
        bad: list[BadCosignature] = []
        for witness in self.witnesses:
            lines = [s for s in signatures if witness.matches(s)]
            if not lines:
                missing.append(witness)
                continue
            found: Cosignature | None = None
            for signature in lines:
                try:
                    timestamp = witness.verify(text, signature)
                    if timestamp > clock + max_future:
                        raise CosignatureError(f"cosignature dated in the future ({timestamp})")
                except CosignatureError as exc:
                    bad.append(BadCosignature(witness, str(exc)))
                    break
                if found is None:
                    line = format_signature_line(
                        signature.name, signature.key_id, signature.signature
                    )
                    found = Cosignature(witness, timestamp, line)
            else:
                if found is not None:
                    valid.append(found)
        return PolicyResult(self.k, tuple(valid), tuple(missing), tuple(bad))

    def require(
        self, signed_note: str, *, now: float | None = None, max_future: int = MAX_FUTURE_SECONDS
    ) -> PolicyResult:
        """``verify``, raising ``PolicyError`` (with the result) unless it is satisfied."""
        result = self.verify(signed_note, now=now, max_future=max_future)
        if not result.satisfied:
            raise PolicyError(result)
        return result

    def __repr__(self) -> str:
        return f"WitnessPolicy(k={self.k}, witnesses={[w.label for w in self.witnesses]})"


def add_cosignatures(signed_note: str, lines: str | Iterable[str]) -> str:
    """``signed_note`` with signature lines appended (a witness's response body, or lines).

    Lines already on the note are not repeated; the note text is unchanged. Nothing is verified
    here: use ``WitnessPolicy.verify`` on the result.
    """
    text, existing = split_note(signed_note)
    chunks = [lines] if isinstance(lines, str) else list(lines)
    added = [line for chunk in chunks for line in chunk.splitlines() if line]
    incoming: tuple[NoteSignature, ...] = ()
    if added:
        _, incoming = split_note("x\n\n" + "".join(f"{line}\n" for line in added))
    signatures = list(dict.fromkeys((*existing, *incoming)))
    block = "".join(format_signature_line(s.name, s.key_id, s.signature) for s in signatures)
    result = f"{text}\n{block}"
    split_note(result)  # guard: within the note limits
    return result


def open_cosigned_checkpoint(
    signed_note: str,
    log_verifiers: Iterable[Verifier],
    policy: WitnessPolicy,
    *,
    origin: str | None = None,
    now: float | None = None,
) -> tuple[Checkpoint, PolicyResult]:
    """Verify the log's signature (``open_checkpoint``) and then the witness policy.

    Raises ``NoteError`` for the log's signature, ``PolicyError`` when the policy is not met.
    """
    checkpoint = open_checkpoint(signed_note, log_verifiers, origin=origin)
    return checkpoint, policy.require(signed_note, now=now)


# --- the tlog-witness add-checkpoint request (c2sp.org/tlog-witness), both sides ------------------

ADD_CHECKPOINT_MAX_PROOF: Final = 63
"""Most consistency proof lines an add-checkpoint request may carry."""
TLOG_SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
"""Content type of a witness's 409 answer: the size it last cosigned, in decimal, and a newline."""
_MAX_REQUEST: Final = 1 << 16
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class AddCheckpointRequest:
    """``old <size>``, the consistency proof lines, an empty line, the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def encode(self) -> bytes:
        """The request body a log POSTs to ``<witness>/add-checkpoint``."""
        if not 0 <= self.old_size < MAX_TREE_SIZE or len(self.proof) > ADD_CHECKPOINT_MAX_PROOF:
            raise CosignatureError("old size in [0, 2**63) and at most 63 proof hashes")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise CosignatureError("each consistency proof hash is 32 bytes")
        lines = "".join(base64.b64encode(h).decode("ascii") + "\n" for h in self.proof)
        return f"old {self.old_size}\n{lines}\n{self.checkpoint}".encode()

    @classmethod
    def decode(cls, body: bytes) -> AddCheckpointRequest:
        """Parse a request body (the witness's side); ``CosignatureError`` says what is wrong.

        The checkpoint is returned as sent: the caller verifies it.
        """
        if len(body) > _MAX_REQUEST:
            raise CosignatureError("request body too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CosignatureError("request body is not UTF-8") from None
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise CosignatureError("no empty line before the checkpoint")
        lines = head.split("\n")
        old = lines[0]
        if not old.startswith("old ") or not _DECIMAL.fullmatch(old[4:]):
            raise CosignatureError("first line must be `old <size>` (decimal, no leading zeros)")
        if len(lines) - 1 > ADD_CHECKPOINT_MAX_PROOF:
            raise CosignatureError(f"at most {ADD_CHECKPOINT_MAX_PROOF} consistency proof lines")
        proof = []
        for line in lines[1:]:
            try:
                raw = std_b64decode(line)
            except NoteError:
                raise CosignatureError("a proof line is one base64 32-byte hash") from None
            if len(raw) != HASH_SIZE:
                raise CosignatureError("a proof line is one base64 32-byte hash")
            proof.append(raw)
        if int(old[4:]) >= MAX_TREE_SIZE:
            raise CosignatureError("old size is at least 2**63")
        return cls(int(old[4:]), tuple(proof), note)


def parse_tlog_size(body: bytes) -> int:
    """The size in a witness's 409 answer (``text/x.tlog.size``: decimal and a newline)."""
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        raise CosignatureError("a text/x.tlog.size body is a decimal size and a newline")
    return int(text[:-1])
