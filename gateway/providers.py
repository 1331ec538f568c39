"""Registered data providers and their record-signing public keys.

The operator registers a provider with ``attestgate providers add DIR PROVIDER_ID KEY.pem``; the
key is stored as ``<data_dir>/providers/<provider_id>.pem``. A running gateway re-reads the folder
when it changes (its mtime moves on every add, replace or remove, which are renames), so a new
provider is effective without a restart. Provider ids are ``[a-z0-9][a-z0-9_.-]{0,63}``, which
also keeps them from naming a path outside the folder.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import NewType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.keys import ensure_private_dir, write_atomic
from sdk.reasons import DomainError, Reason

ProviderId = NewType("ProviderId", str)
ProviderPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

PROVIDER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MAX_PEM_BYTES = 16 * 1024
_log = logging.getLogger("attestgate.providers")
_SUFFIX = ".pem"


class ProviderKeyError(ValueError):
    """A provider id or public key that cannot be registered."""


def validate_provider_id(provider_id: str) -> ProviderId:
    """``provider_id`` if it matches ``[a-z0-9][a-z0-9_.-]{0,63}``; ``ProviderKeyError`` if not."""
    if not PROVIDER_ID_PATTERN.fullmatch(provider_id):
        raise ProviderKeyError(
            "provider id must match [a-z0-9][a-z0-9_.-]{0,63} (lower case, digits, '_', '.', '-')"
        )
    return ProviderId(provider_id)


def load_provider_key(pem: bytes) -> ProviderPublicKey:
    """Parse a PEM public key, accepting only EC P-256 and Ed25519 (the record signature algs)."""
    if len(pem) > MAX_PEM_BYTES:
        raise ProviderKeyError("public key file is too large")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ProviderKeyError("not a PEM public key (expected 'BEGIN PUBLIC KEY')") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ProviderKeyError("provider keys must be EC P-256 or Ed25519 public keys")


class ProviderRegistry:
    """Provider id -> public key, backed by ``<data_dir>/providers/``; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir / "providers"
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._keys: dict[ProviderId, ProviderPublicKey] = {}

    @property
    def directory(self) -> Path:
        """The folder holding one ``<provider_id>.pem`` per provider."""
        return self._dir

    def add(self, provider_id: str, pem: bytes, *, replace: bool = False) -> ProviderId:
        """Register (or, with ``replace``, re-key) a provider; validates id and key first."""
        pid = validate_provider_id(provider_id)
        key = load_provider_key(pem)
        ensure_private_dir(self._dir, strict=False)
        path = self._dir / f"{pid}{_SUFFIX}"
        if path.exists() and not replace:
            raise ProviderKeyError(f"provider {pid!r} is already registered (use --replace)")
        canonical = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        write_atomic(path, canonical, mode=0o644)  # public keys; the folder itself is 0700
        return pid

    def remove(self, provider_id: str) -> bool:
        """Unregister a provider; ``False`` if it was not registered."""
        pid = validate_provider_id(provider_id)
        path = self._dir / f"{pid}{_SUFFIX}"
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def provider_ids(self) -> tuple[ProviderId, ...]:
        """Every registered provider id, sorted."""
        with self._lock:
            self._reload()
            return tuple(sorted(self._keys))

    def public_key(self, provider_id: str) -> ProviderPublicKey:
        """The provider's public key; ``DomainError(UNKNOWN_PROVIDER)`` if it is not registered."""
        with self._lock:
            self._reload()
            key = self._keys.get(ProviderId(provider_id))
        if key is None:
            raise DomainError(Reason.UNKNOWN_PROVIDER, "the provider is not registered")
        return key

    def _reload(self) -> None:
        try:
            stamp = self._dir.stat().st_mtime_ns
        except FileNotFoundError:
            self._keys, self._stamp = {}, None
            return
        if stamp == self._stamp:
            return
        keys: dict[ProviderId, ProviderPublicKey] = {}
        for path in self._dir.glob(f"*{_SUFFIX}"):
            name = path.name[: -len(_SUFFIX)]
            if not PROVIDER_ID_PATTERN.fullmatch(name):
                continue  # temp files and strays are not providers
            try:
                keys[ProviderId(name)] = load_provider_key(path.read_bytes())
            except (OSError, ProviderKeyError) as exc:
                # A broken file must not disable the other providers.
                _log.warning("ignoring provider key file %s: %s", path.name, exc)
        self._keys, self._stamp = keys, stamp
