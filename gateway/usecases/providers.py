"""Registered data providers: their record-signing public keys and their roles.

The operator registers a provider with ``attestgate providers add --data-dir DIR PROVIDER_ID
KEY.pem --role ROLE``; the key is stored as ``<data_dir>/providers/<provider_id>.pem`` and the
roles, one per line, as ``<provider_id>.roles`` next to it. A role is a catalog domain's
``provider_role`` (the provider uploads and erases that domain's records) or the configured
``fx_rates_role`` (it uploads FX rate tables); ``gateway.usecases.records`` enforces them. A key
without a
roles file (registered before roles existed) holds no role: its uploads are refused until the
operator grants one (``attestgate providers grant``).

A running gateway re-reads the folder when it changes (its mtime moves on every add, replace,
grant or remove, which are renames); a folder changed in the last ``RACY_WINDOW`` is re-read on
every look-up, since two changes inside one tick of the file system's clock leave the same mtime.
So a change is effective without a restart. Provider ids are ``[a-z0-9][a-z0-9_.-]{0,63}``, which
also keeps them from naming a path outside the folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attestgate.consent.catalog import Catalog
from attestgate.gateway.common.keys import ensure_private_dir, write_atomic
from attestgate.protocol.reasons import DomainError, Reason

ProviderId = NewType("ProviderId", str)
ProviderPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

PROVIDER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ROLE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_PEM_BYTES = 16 * 1024
RACY_WINDOW_NS = 2_000_000_000
"""A folder whose mtime is this recent is re-read on every look-up (see the module doc)."""
_log = logging.getLogger("attestgate.providers")
_SUFFIX = ".pem"
_ROLES_SUFFIX = ".roles"


class ProviderKeyError(ValueError):
    """A provider id, public key or role that cannot be registered."""


@dataclass(frozen=True)
class Provider:
    """One registered provider: its id, public key and roles (empty: registered without)."""

    id: ProviderId
    key: ProviderPublicKey
    roles: frozenset[str]

    @property
    def fingerprint(self) -> str:
        """``SHA256:`` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "SHA256:" + hashlib.sha256(der).hexdigest()


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


def role_owners(catalog: Catalog, fx_rates_role: str) -> dict[str, tuple[str, ...]]:
    """Every valid role -> what it may upload: the catalog domains whose ``provider_role`` it is,
    and ``"FX rate tables"`` for the configured FX role."""
    owners: dict[str, list[str]] = {}
    for domain, spec in sorted(catalog.domains.items()):
        owners.setdefault(spec.provider_role, []).append(domain)
    owners.setdefault(fx_rates_role, []).append("FX rate tables")
    return {role: tuple(what) for role, what in sorted(owners.items())}


def check_roles(roles: Iterable[str], valid: Iterable[str]) -> frozenset[str]:
    """``roles`` as a set if each is in ``valid``; ``ProviderKeyError`` listing the valid ones."""
    allowed = sorted(set(valid))
    chosen = frozenset(roles)
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise ProviderKeyError(
            f"unknown role(s) {', '.join(map(repr, unknown))}; valid roles: {', '.join(allowed)}"
        )
    return chosen


class ProviderRegistry:
    """Provider id -> public key and roles, backed by ``<data_dir>/providers/``; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir / "providers"
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._providers: dict[ProviderId, Provider] = {}

    @property
    def directory(self) -> Path:
        """The folder holding ``<provider_id>.pem`` and ``<provider_id>.roles`` per provider."""
        return self._dir

    def add(
        self, provider_id: str, pem: bytes, *, roles: Iterable[str], replace: bool = False
    ) -> ProviderId:
        """Register (or, with ``replace``, re-key) a provider holding exactly ``roles`` (at least
        one); validates id, key and role names first."""
        pid = validate_provider_id(provider_id)
        key = load_provider_key(pem)
        chosen = _role_names(roles)
        if not chosen:
            raise ProviderKeyError("a provider needs at least one role (--role)")
        ensure_private_dir(self._dir, strict=False)
        path = self._dir / f"{pid}{_SUFFIX}"
        if path.exists() and not replace:
            raise ProviderKeyError(f"provider {pid!r} is already registered (use --replace)")
        canonical = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._write_roles(pid, chosen)  # before the key: a new key never appears role-less
        write_atomic(path, canonical, mode=0o644)  # public keys; the folder itself is 0700
        return pid

    def set_roles(self, provider_id: str, roles: Iterable[str]) -> frozenset[str]:
        """Replace the roles of a registered provider (its key stays); empty: no role at all."""
        pid = validate_provider_id(provider_id)
        if not (self._dir / f"{pid}{_SUFFIX}").exists():
            raise ProviderKeyError(f"provider {pid!r} is not registered")
        chosen = _role_names(roles)
        self._write_roles(pid, chosen)
        return chosen

    def remove(self, provider_id: str) -> bool:
        """Unregister a provider; ``False`` if it was not registered."""
        pid = validate_provider_id(provider_id)
        try:
            (self._dir / f"{pid}{_SUFFIX}").unlink()
        except FileNotFoundError:
            return False
        (self._dir / f"{pid}{_ROLES_SUFFIX}").unlink(missing_ok=True)
        return True

    def providers(self) -> tuple[Provider, ...]:
        """Every registered provider, sorted by id."""
        with self._lock:
            self._reload()
            return tuple(self._providers[pid] for pid in sorted(self._providers))

    def provider_ids(self) -> tuple[ProviderId, ...]:
        """Every registered provider id, sorted."""
        return tuple(p.id for p in self.providers())

    def provider(self, provider_id: str) -> Provider:
        """The registered provider; ``DomainError(UNKNOWN_PROVIDER)`` if there is none."""
        with self._lock:
            self._reload()
            found = self._providers.get(ProviderId(provider_id))
        if found is None:
            raise DomainError(Reason.UNKNOWN_PROVIDER, "the provider is not registered")
        return found

    def public_key(self, provider_id: str) -> ProviderPublicKey:
        """The provider's public key; ``DomainError(UNKNOWN_PROVIDER)`` if it is not registered."""
        return self.provider(provider_id).key

    def roles(self, provider_id: str) -> frozenset[str]:
        """The provider's roles; ``DomainError(UNKNOWN_PROVIDER)`` if it is not registered."""
        return self.provider(provider_id).roles

    def _write_roles(self, pid: ProviderId, roles: frozenset[str]) -> None:
        ensure_private_dir(self._dir, strict=False)
        text = "".join(f"{role}\n" for role in sorted(roles))
        write_atomic(self._dir / f"{pid}{_ROLES_SUFFIX}", text.encode(), mode=0o644)

    def _reload(self) -> None:
        try:
            stamp = self._dir.stat().st_mtime_ns
        except FileNotFoundError:
            self._providers, self._stamp = {}, None
            return
        if stamp == self._stamp:
            return
        providers: dict[ProviderId, Provider] = {}
        for path in self._dir.glob(f"*{_SUFFIX}"):
            name = path.name[: -len(_SUFFIX)]
            if not PROVIDER_ID_PATTERN.fullmatch(name):
                continue  # temp files and strays are not providers
            try:
                key = load_provider_key(path.read_bytes())
            except (OSError, ProviderKeyError) as exc:
                # A broken file must not disable the other providers.
                _log.warning("ignoring provider key file %s: %s", path.name, exc)
                continue
            pid = ProviderId(name)
            providers[pid] = Provider(pid, key, self._read_roles(pid))
        racy = time.time_ns() - stamp < RACY_WINDOW_NS
        self._providers, self._stamp = providers, None if racy else stamp

    def _read_roles(self, pid: ProviderId) -> frozenset[str]:
        path = self._dir / f"{pid}{_ROLES_SUFFIX}"
        try:
            lines = path.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            return frozenset()  # registered before roles existed: no role
        except (OSError, UnicodeDecodeError) as exc:
            _log.warning("ignoring provider roles file %s: %s", path.name, exc)
            return frozenset()
        bad = [line for line in lines if not ROLE_PATTERN.fullmatch(line)]
        if bad:
            _log.warning("ignoring %d malformed role name(s) in %s", len(bad), path.name)
        return frozenset(line for line in lines if ROLE_PATTERN.fullmatch(line))


def _role_names(roles: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(roles)
    for role in sorted(chosen):
        if not ROLE_PATTERN.fullmatch(role):
            raise ProviderKeyError(f"role {role!r} must match [a-z][a-z0-9_]{{0,63}}")
    return chosen
