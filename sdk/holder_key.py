"""Holder keys a bank keeps: every attestation is bound to one, and only it can redeem it.

An attestation carries its holder's public key (``cnf.jwk``, RFC 7800 §3.2); redeeming it needs a
key-binding JWT signed with the matching private key (RFC 9901 §4.3). A ``BankClient`` made without
``holder_key=`` generates a key that dies with it: an attestation it obtained cannot be redeemed
by another process, or after a restart. Keep one key instead::

    from attestgate import BankClient, HolderKey

    key = HolderKey.load_or_generate("bank-holder.pem")  # PEM, file mode 0600
    bank = BankClient(target, token=token, tls=tls, holder_key=key)

A key in an HSM or a KMS never leaves it: pass any object with ``public_jwk()`` and ``sign(data)``
(``HolderKeySigner``); the SDK needs nothing else. Attestations live 10 minutes by default (the
gateway's ``attestation_ttl``), so one key may be rotated whenever none is outstanding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.protocol.jose import JoseError, load_public_jwk, public_jwk
from attestgate.protocol.reasons import FieldViolation
from attestgate.sdk.errors import InvalidInput

__all__ = ["HolderKey", "HolderKeySigner"]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@runtime_checkable
class HolderKeySigner(Protocol):
    """A P-256 holder key held elsewhere (an HSM, a KMS): all the SDK needs of it."""

    def public_jwk(self) -> Mapping[str, str]:
        """The public key as a JWK: ``{"kty": "EC", "crv": "P-256", "x": ..., "y": ...}``."""
        ...

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 with SHA-256 over ``data``, DER-encoded (what ``cryptography``'s
        ``key.sign(data, ECDSA(SHA256()))`` and KMS APIs return; an HSM giving raw ``r || s``
        converts with ``cryptography``'s ``encode_dss_signature``)."""
        ...


class HolderKey:
    """A P-256 holder key in software, kept in a PEM file (PKCS #8, unencrypted, mode 0600)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise _refuse("holder_key", "must be a P-256 private key (ES256)")
        self.private_key = private_key

    @classmethod
    def generate(cls) -> Self:
        """A new random key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """The key saved at ``path`` (a PEM private key, P-256)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise _refuse(
                "holder_key",
                f"cannot read {path}: {exc.strerror}",
                "HolderKey.generate().save(path)",
            ) from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise _refuse("holder_key", f"{path} holds no unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise _refuse("holder_key", f"{path} holds no P-256 key (ES256)")
        return cls(key)

    @classmethod
    def load_or_generate(cls, path: str | os.PathLike[str]) -> Self:
        """The key at ``path``; made and saved there first if there is none yet."""
        if Path(path).exists():
            return cls.load(path)
        key = cls.generate()
        try:
            key.save(path)
        except InvalidInput:
            if not Path(path).exists():
                raise
            return cls.load(path)  # another process saved one first: use that one
        return key

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to a new file ``path`` (PEM, mode 0600); an existing file is refused, so
        a key attestations are bound to is never overwritten by mistake."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise _refuse("path", f"{path} exists: load it with HolderKey.load") from None
        except FileNotFoundError:
            folder = Path(path).parent
            raise _refuse("path", f"folder {folder} does not exist: create it first") from None
        except OSError as exc:
            raise _refuse("path", f"cannot write {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as out:
            out.write(pem)

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (what attestations carry in ``cnf.jwk``)."""
        return public_jwk(self.private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 SHA-256 over ``data``, DER-encoded."""
        return self.private_key.sign(data, _ECDSA_SHA256)

    def __repr__(self) -> str:
        return f"HolderKey(x={self.public_jwk()['x'][:8]}...)"


def private_key_of(holder_key: object) -> ec.EllipticCurvePrivateKey:
    """The key a ``Holder`` signs with: the P-256 key itself, a ``HolderKey``'s, or an adapter
    whose ``sign`` is the ``HolderKeySigner``'s (internal)."""
    if isinstance(holder_key, HolderKey):
        return holder_key.private_key
    if isinstance(holder_key, ec.EllipticCurvePrivateKey):
        return HolderKey(holder_key).private_key
    if isinstance(holder_key, HolderKeySigner):
        return _SignerKey(holder_key)
    raise _refuse("holder_key", "must be a HolderKey, a HolderKeySigner or a P-256 private key")


def _refuse(field: str, text: str, hint: str = "") -> InvalidInput:
    return InvalidInput(f"{field} is invalid", violations=[FieldViolation(field, text)], hint=hint)


class _SignerKey(ec.EllipticCurvePrivateKey):
    """A ``HolderKeySigner`` seen as a P-256 private key that can only sign."""

    def __init__(self, signer: HolderKeySigner) -> None:
        try:
            self._public = load_public_jwk(signer.public_jwk())
        except (JoseError, ValueError, TypeError):
            raise _refuse("holder_key", "public_jwk() is not a P-256 public JWK") from None
        self._signer = signer

    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        return self._signer.sign(bytes(data))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise TypeError("a holder key signer only signs")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise TypeError("a holder key signer keeps its private key")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TypeError("a holder key signer keeps its private key")

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: Any) -> Self:
        return self
