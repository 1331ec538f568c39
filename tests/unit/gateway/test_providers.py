"""Provider registry: id and key validation, reload without restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.providers import ProviderKeyError, ProviderRegistry, validate_provider_id
from sdk.reasons import DomainError, Reason


def pem(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


P256 = ec.generate_private_key(ec.SECP256R1()).public_key()
ED = ed25519.Ed25519PrivateKey.generate().public_key()


@pytest.mark.parametrize("pid", ["tax-bureau", "wh.shanghai_01", "0", "a" * 64])
def test_valid_ids(pid: str) -> None:
    assert validate_provider_id(pid) == pid


@pytest.mark.parametrize(
    "pid", ["", "../etc", "Tax", ".hidden", "-x", "a/b", "a" * 65, "tax\n", "tax bureau"]
)
def test_invalid_ids(pid: str) -> None:
    with pytest.raises(ProviderKeyError):
        validate_provider_id(pid)


def test_add_and_look_up(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("tax-bureau", pem(P256))
    registry.add("ip-center", pem(ED))
    assert registry.provider_ids() == ("ip-center", "tax-bureau")
    assert pem(registry.public_key("tax-bureau")) == pem(P256)
    assert pem(registry.public_key("ip-center")) == pem(ED)


def test_unknown_provider(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as caught:
        ProviderRegistry(tmp_path).public_key("nobody")
    assert caught.value.reason is Reason.UNKNOWN_PROVIDER


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
    ],
)
def test_other_key_types_are_refused(tmp_path: Path, key: object) -> None:
    with pytest.raises(ProviderKeyError, match="P-256 or Ed25519"):
        ProviderRegistry(tmp_path).add("p", pem(key))


def test_garbage_and_private_keys_are_refused(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for data in (b"not a key", private):
        with pytest.raises(ProviderKeyError, match="PEM public key"):
            ProviderRegistry(tmp_path).add("p", data)


def test_new_provider_is_visible_without_restart(tmp_path: Path) -> None:
    running = ProviderRegistry(tmp_path)
    assert running.provider_ids() == ()
    ProviderRegistry(tmp_path).add("warehouse", pem(P256))  # e.g. the CLI, another process
    assert running.provider_ids() == ("warehouse",)
    ProviderRegistry(tmp_path).remove("warehouse")
    with pytest.raises(DomainError):
        running.public_key("warehouse")


def test_replace_needs_the_flag(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("p", pem(P256))
    with pytest.raises(ProviderKeyError, match="already registered"):
        registry.add("p", pem(ED))
    registry.add("p", pem(ED), replace=True)
    assert pem(registry.public_key("p")) == pem(ED)


def test_broken_file_does_not_hide_other_providers(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("good", pem(P256))
    (registry.directory / "bad.pem").write_bytes(b"garbage")
    assert registry.provider_ids() == ("good",)
