"""Provider registry: id, key and role validation, roles, reload without restart."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from attestgate.consent.catalog import Catalog
from attestgate.gateway.usecases.providers import (
    ProviderKeyError,
    ProviderRegistry,
    check_roles,
    role_owners,
    validate_provider_id,
)
from attestgate.protocol.reasons import DomainError, Reason


def pem(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


ROLES = ("tax_bureau",)
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
    registry.add("tax-bureau", pem(P256), roles=ROLES)
    registry.add("ip-center", pem(ED), roles=ROLES)
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
        ProviderRegistry(tmp_path).add("p", pem(key), roles=ROLES)


def test_garbage_and_private_keys_are_refused(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for data in (b"not a key", private):
        with pytest.raises(ProviderKeyError, match="PEM public key"):
            ProviderRegistry(tmp_path).add("p", data, roles=ROLES)


def test_new_provider_is_visible_without_restart(tmp_path: Path) -> None:
    running = ProviderRegistry(tmp_path)
    assert running.provider_ids() == ()
    ProviderRegistry(tmp_path).add(
        "warehouse", pem(P256), roles=ROLES
    )  # e.g. the CLI, another process
    assert running.provider_ids() == ("warehouse",)
    ProviderRegistry(tmp_path).remove("warehouse")
    with pytest.raises(DomainError):
        running.public_key("warehouse")


def test_replace_needs_the_flag(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("p", pem(P256), roles=ROLES)
    with pytest.raises(ProviderKeyError, match="already registered"):
        registry.add("p", pem(ED), roles=ROLES)
    registry.add("p", pem(ED), roles=ROLES, replace=True)
    assert pem(registry.public_key("p")) == pem(ED)


def test_broken_file_does_not_hide_other_providers(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("good", pem(P256), roles=ROLES)
    (registry.directory / "bad.pem").write_bytes(b"garbage")
    assert registry.provider_ids() == ("good",)


def test_roles_are_stored_next_to_the_key(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("tax-bureau", pem(P256), roles=["tax_bureau", "fx_authority"])
    assert registry.roles("tax-bureau") == {"tax_bureau", "fx_authority"}
    assert (registry.directory / "tax-bureau.roles").read_text() == "fx_authority\ntax_bureau\n"
    provider = registry.provider("tax-bureau")
    der = P256.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert provider.fingerprint == "SHA256:" + hashlib.sha256(der).hexdigest()


def test_a_provider_needs_a_well_formed_role(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    with pytest.raises(ProviderKeyError, match="at least one role"):
        registry.add("p", pem(P256), roles=[])
    with pytest.raises(ProviderKeyError, match="must match"):
        registry.add("p", pem(P256), roles=["Tax Bureau"])
    assert registry.provider_ids() == ()


def test_role_changes_keep_the_key_and_show_without_restart(tmp_path: Path) -> None:
    running = ProviderRegistry(tmp_path)
    ProviderRegistry(tmp_path).add("wh", pem(P256), roles=["warehouse"])
    assert running.roles("wh") == {"warehouse"}
    # Changes inside one tick of a coarse file system clock leave the folder's mtime as it was
    # (pinned here); the registry re-reads a folder that changed this recently, so each change
    # shows at once.
    stamp = running.directory.stat().st_mtime_ns
    for roles in (["warehouse", "tax_bureau"], [], ["ip_office"]):
        assert ProviderRegistry(tmp_path).set_roles("wh", roles) == set(roles)
        os.utime(running.directory, ns=(stamp, stamp))
        assert running.roles("wh") == set(roles)
    assert pem(running.public_key("wh")) == pem(P256)
    with pytest.raises(ProviderKeyError, match="not registered"):
        running.set_roles("nobody", ["warehouse"])


def test_a_key_without_roles_file_holds_no_role(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("old", pem(P256), roles=ROLES)
    (registry.directory / "old.roles").unlink()  # registered before roles existed
    assert registry.roles("old") == frozenset()


def test_malformed_role_lines_are_ignored(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("p", pem(P256), roles=ROLES)
    (registry.directory / "p.roles").write_text("tax_bureau\n../x\nWAREHOUSE\n")
    assert registry.roles("p") == {"tax_bureau"}


def test_remove_drops_the_roles_too(tmp_path: Path) -> None:
    registry = ProviderRegistry(tmp_path)
    registry.add("p", pem(P256), roles=ROLES)
    assert registry.remove("p")
    assert sorted(path.name for path in registry.directory.iterdir()) == []


def test_valid_roles_come_from_the_catalog_and_the_fx_role() -> None:
    owners = role_owners(Catalog.load_default(), "fx_authority")
    assert owners == {
        "commercial_registry": ("business_registration",),
        "fx_authority": ("FX rate tables",),
        "ip_office": ("patent",),
        "tax_bureau": ("income",),
        "warehouse": ("warehouse_receipt",),
    }
    assert check_roles(["warehouse"], owners) == {"warehouse"}
    with pytest.raises(ProviderKeyError) as refused:
        check_roles(["warehouse", "customs"], owners)
    assert str(refused.value) == (
        "unknown role(s) 'customs'; valid roles: commercial_registry, fx_authority, ip_office, "
        "tax_bureau, warehouse"
    )
