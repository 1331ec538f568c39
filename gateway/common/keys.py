"""The gateway's key ring, persisted under ``<data_dir>/keys/``.

Layout (directory 0700, every file 0600, each written atomically: temp file + fsync + rename)::

    keys/dev-issuer.pem        Ed25519   dev bearer-token issuer (`attestgate token`)
    keys/attestation.json      index of the ES256 attestation/consent signing keys (kid, dates)
    keys/attestation-<kid>.pem ES256     one per signing key; kid = RFC 7638 thumbprint
    keys/note.pem              Ed25519   audit checkpoint (C2SP signed note) key
    keys/pseudonym.key         32 bytes  HMAC key for audit subject pseudonyms
    keys/kek.json              index of the record key-encryption keys (one current)
    keys/kek-<kid>.key         32 bytes  AES-256 key-encryption key
    dev-issuer.jwks.json       (in the data dir, public) the dev issuer's JWKS

A key file readable or writable by group or others is refused (like ssh refuses such a key).
Key material never appears in a log line or an exception message.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NewType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.gateway.common.clock import Clock
from attestgate.gateway.common.keyfiles import (
    KeyFileError,
    ensure_private_dir,
    read_private,
    write_atomic,
    write_private,
)
from attestgate.gateway.ops.config import TrustedIssuer
from attestgate.protocol.jose import jwk_thumbprint, public_jwk

__all__ = [
    "DEV_ISSUER_JWKS_FILE",
    "KeyFileError",
    "KeyRing",
    "Kid",
    "SigningKeyInfo",
    "dev_issuer_name",
    "ensure_private_dir",
    "jwk_thumbprint",
    "private_key_pem",
    "public_jwk",
    "read_private",
    "write_atomic",
    "write_private",
]


def private_key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (the file permissions, not a passphrase, protect it)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


Kid = NewType("Kid", str)

DEV_ISSUER_JWKS_FILE = "dev-issuer.jwks.json"
DEFAULT_OVERLAP = timedelta(minutes=10, seconds=30)


def dev_issuer_name(gateway_id: str) -> str:
    """The ``iss`` of tokens minted by ``attestgate token`` for this gateway."""
    return f"attestgate-dev:{gateway_id}"


def dev_issuer(data_dir: Path, gateway_id: str = "attestgate") -> TrustedIssuer:
    """Trust in the dev token issuer of ``data_dir`` (the one ``attestgate token`` signs with)."""
    return TrustedIssuer(
        issuer=dev_issuer_name(gateway_id), jwks_file=data_dir / DEV_ISSUER_JWKS_FILE
    )


@dataclass(frozen=True)
class SigningKeyInfo:
    """One attestation signing key in the index (no key material)."""

    kid: Kid
    created_at: datetime
    retired_at: datetime | None


def _load_ec(data: bytes, path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyFileError(f"{path} is not a P-256 private key")
    return key


def _load_ed(data: bytes, path: Path) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def _load_or_create_ed(path: Path) -> ed25519.Ed25519PrivateKey:
    if path.exists():
        return _load_ed(read_private(path), path)
    key = ed25519.Ed25519PrivateKey.generate()
    write_private(path, private_key_pem(key))
    return key


def _load_or_create_secret(path: Path) -> bytes:
    if path.exists():
        data = read_private(path)
        if len(data) != 32:
            raise KeyFileError(f"{path} must hold exactly 32 bytes")
        return data
    data = secrets.token_bytes(32)
    write_private(path, data)
    return data


class KeyRing:
    """All gateway keys; thread-safe. Build with ``KeyRing.open_or_create``.

    The signing-key index is re-read when its file changes, so ``attestgate keys rotate`` takes
    effect in a running gateway without a restart.
    """

    def __init__(self, keys_dir: Path, *, data_dir: Path, gateway_id: str, overlap: timedelta):
        self._dir = keys_dir
        self._data_dir = data_dir
        self._gateway_id = gateway_id
        self._overlap = overlap
        self._lock = threading.RLock()
        self._signing: list[tuple[SigningKeyInfo, ec.EllipticCurvePrivateKey]] = []
        self._signing_stamp: tuple[int, int] | None = None
        self._keks: dict[Kid, bytes] = {}
        self._current_kek: Kid | None = None
        self._kek_stamp: tuple[int, int] | None = None
        self._dev_issuer = _load_or_create_ed(keys_dir / "dev-issuer.pem")
        self._note = _load_or_create_ed(keys_dir / "note.pem")
        self._pseudonym = _load_or_create_secret(keys_dir / "pseudonym.key")

    @classmethod
    def open_or_create(
        cls,
        data_dir: Path,
        *,
        clock: Clock,
        gateway_id: str,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> KeyRing:
        """Load the key ring of ``data_dir``, creating any missing key.

        ``overlap`` is how long a retired signing key stays in the JWKS (the longest attestation
        lifetime plus leeway), so tokens signed just before a rotation still verify.
        """
        ensure_private_dir(data_dir, strict=False)
        keys_dir = data_dir / "keys"
        ensure_private_dir(keys_dir)
        ring = cls(keys_dir, data_dir=data_dir, gateway_id=gateway_id, overlap=overlap)
        now = clock.now()
        with ring._lock:
            ring._reload_signing()
            if not ring._signing:
                ring._add_signing_key(now)
            ring._load_keks()
            if ring._current_kek is None:
                ring._add_kek(now)
        ring._write_dev_jwks()
        return ring

    # --- attestation / consent signing keys (ES256) -------------------------------------------

    @property
    def _signing_index(self) -> Path:
        return self._dir / "attestation.json"

    def _reload_signing(self) -> None:
        # One stat per call (this runs for every attestation issued): rotation by another process
        # (``attestgate keys rotate``) shows as a new mtime or size of the index.
        path = self._signing_index
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self._signing, self._signing_stamp = [], None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._signing_stamp:
            return
        entries = json.loads(read_private(path))["keys"]
        loaded = []
        for entry in entries:
            info = SigningKeyInfo(
                kid=Kid(entry["kid"]),
                created_at=datetime.fromisoformat(entry["created_at"]),
                retired_at=datetime.fromisoformat(entry["retired_at"])
                if entry.get("retired_at")
                else None,
            )
            key_path = self._dir / entry["file"]
            loaded.append((info, _load_ec(read_private(key_path), key_path)))
        self._signing, self._signing_stamp = loaded, stamp

    def _save_signing(self) -> None:
        entries = [
            {
                "kid": info.kid,
                "file": f"attestation-{info.kid}.pem",
                "created_at": info.created_at.isoformat(),
                "retired_at": info.retired_at.isoformat() if info.retired_at else None,
            }
            for info, _ in self._signing
        ]
        write_private(self._signing_index, json.dumps({"version": 1, "keys": entries}).encode())
        self._signing_stamp = None  # force a re-read of our own write on next access

    def _add_signing_key(self, now: datetime) -> Kid:
        key = ec.generate_private_key(ec.SECP256R1())
        kid = Kid(jwk_thumbprint(public_jwk(key.public_key())))
        write_private(self._dir / f"attestation-{kid}.pem", private_key_pem(key))
        self._signing.append((SigningKeyInfo(kid, now, None), key))
        self._save_signing()
        return kid

    def current_signing_key(self) -> tuple[Kid, ec.EllipticCurvePrivateKey]:
        """The key new attestations and consent artefacts are signed with."""
        with self._lock:
            self._reload_signing()
            for info, key in reversed(self._signing):
                if info.retired_at is None:
                    return info.kid, key
        raise KeyFileError(f"{self._signing_index} lists no current signing key")

    def signing_keys(self) -> tuple[SigningKeyInfo, ...]:
        """Every signing key in the index, oldest first."""
        with self._lock:
            self._reload_signing()
            return tuple(info for info, _ in self._signing)

    def issuer_jwks(self, now: datetime) -> dict[str, Any]:
        """The JWKS to verify attestations: the current key plus retired keys still in overlap."""
        with self._lock:
            self._reload_signing()
            keys = [
                {**public_jwk(key.public_key()), "kid": info.kid, "alg": "ES256", "use": "sig"}
                for info, key in self._signing
                if info.retired_at is None or now < info.retired_at + self._overlap
            ]
        return {"keys": keys}

    def rotate_signing_key(self, now: datetime) -> Kid:
        """Retire the current signing key at ``now`` and create a new current one."""
        with self._lock:
            self._reload_signing()
            self._signing = [
                (SigningKeyInfo(info.kid, info.created_at, info.retired_at or now), key)
                for info, key in self._signing
            ]
            return self._add_signing_key(now)

    # --- key-encryption keys (AES-256) ---------------------------------------------------------

    @property
    def _kek_index(self) -> Path:
        return self._dir / "kek.json"

    def _load_keks(self) -> None:
        # Re-read when the index changed: `keys rotate --kek` reaches running gateways.
        if not self._kek_index.exists():
            return
        stat = self._kek_index.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._kek_stamp:
            return
        self._kek_stamp = stamp
        index = json.loads(read_private(self._kek_index))
        for entry in index["keys"]:
            path = self._dir / entry["file"]
            data = read_private(path)
            if len(data) != 32:
                raise KeyFileError(f"{path} must hold exactly 32 bytes")
            self._keks[Kid(entry["kid"])] = data
        self._current_kek = Kid(index["current"])

    def _add_kek(self, now: datetime) -> Kid:
        # A random kid: a KEK id must reveal nothing about the key.
        kid = Kid(f"kek-{now:%Y%m%d}-{secrets.token_hex(6)}")
        key = secrets.token_bytes(32)
        write_private(self._dir / f"{kid}.key", key)
        self._keks[kid] = key
        self._current_kek = kid
        entries = [{"kid": k, "file": f"{k}.key"} for k in self._keks]
        index = {"version": 1, "current": kid, "keys": entries}
        write_private(self._kek_index, json.dumps(index).encode())
        self._kek_stamp = None  # re-read our own write on next access
        return kid

    def current_kek(self) -> tuple[Kid, bytes]:
        """The key-encryption key new data keys are wrapped with."""
        with self._lock:
            self._load_keks()
            assert self._current_kek is not None
            return self._current_kek, self._keks[self._current_kek]

    def kek(self, kid: str) -> bytes:
        """A key-encryption key by id (current or older); ``KeyError`` if unknown."""
        with self._lock:
            found = self._keks.get(Kid(kid))  # KEKs never change once written
            if found is None:
                self._load_keks()  # rotated by another process since we last looked
                found = self._keks[Kid(kid)]
            return found

    def rotate_kek(self, now: datetime) -> Kid:
        """Create a new current key-encryption key; older ones stay to unwrap existing data keys."""
        with self._lock:
            self._load_keks()
            return self._add_kek(now)

    # --- single keys ---------------------------------------------------------------------------

    @property
    def note_signer_key(self) -> ed25519.Ed25519PrivateKey:
        """The Ed25519 key that signs audit checkpoints (C2SP signed note)."""
        return self._note

    @property
    def pseudonym_key(self) -> bytes:
        """The 32-byte HMAC key for audit subject pseudonyms."""
        return self._pseudonym

    @property
    def dev_issuer_key(self) -> tuple[Kid, ed25519.Ed25519PrivateKey]:
        """The dev bearer-token issuer key and its kid."""
        return Kid(jwk_thumbprint(public_jwk(self._dev_issuer.public_key()))), self._dev_issuer

    @property
    def dev_issuer_name(self) -> str:
        """The ``iss`` of dev tokens."""
        return dev_issuer_name(self._gateway_id)

    def dev_issuer_jwks(self) -> dict[str, Any]:
        """The public JWKS of the dev issuer."""
        kid, key = self.dev_issuer_key
        jwk = {**public_jwk(key.public_key()), "kid": kid, "alg": "EdDSA", "use": "sig"}
        return {"keys": [jwk]}

    def _write_dev_jwks(self) -> None:
        data = json.dumps(self.dev_issuer_jwks(), indent=2).encode() + b"\n"
        path = self._data_dir / DEV_ISSUER_JWKS_FILE
        if not path.exists() or path.read_bytes() != data:
            write_atomic(path, data, mode=0o644)  # public keys only
