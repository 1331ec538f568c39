"""``attestgate providers add | grant | revoke | list``: keys with roles, role changes, listing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.ops.cli import _write_default_config, main
from attestgate.gateway.ops.config import ConfigError, load_config
from attestgate.gateway.usecases.providers import ProviderRegistry

VALID = "commercial_registry, fx_authority, ip_office, tax_bureau, warehouse"


@pytest.fixture
def data(data_dir: Path, keyring: KeyRing) -> Path:
    """A data dir as the first ``serve`` leaves it (keys + config.toml)."""
    _write_default_config(data_dir, "attestgate")
    return data_dir


def key_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def run(data: Path, *argv: str) -> int:
    return main(["providers", argv[0], "--data-dir", str(data), *argv[1:]])


def test_add_with_several_roles_then_list(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tax = key_file(tmp_path, "tax.pub")
    assert (
        run(data, "add", "tax-bureau", str(tax), "--role", "tax_bureau", "--role", "fx_authority")
        == 0
    )
    provider = ProviderRegistry(data).provider("tax-bureau")
    assert provider.roles == {"tax_bureau", "fx_authority"}
    assert capsys.readouterr().out == (
        f"provider tax-bureau: roles fx_authority, tax_bureau; key {provider.fingerprint}\n"
    )
    assert (
        run(data, "add", "qh-warehouse", str(key_file(tmp_path, "wh.pub")), "--role", "warehouse")
        == 0
    )
    capsys.readouterr()
    assert run(data, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROVIDER", "ROLES", "KEY"]
    assert lines[1].split()[:2] == ["qh-warehouse", "warehouse"]
    assert lines[2].split() == ["tax-bureau", "fx_authority,tax_bureau", provider.fingerprint]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ((), f"--role is required; valid roles: {VALID}"),
        (("--role", "customs"), f"unknown role(s) 'customs'; valid roles: {VALID}"),
    ],
)
def test_add_refuses_a_missing_or_unknown_role(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    roles: tuple[str, ...],
    message: str,
) -> None:
    assert run(data, "add", "p", str(key_file(tmp_path, "p.pub")), *roles) == 2
    assert capsys.readouterr().err == f"attestgate: {message}\n"
    assert ProviderRegistry(data).provider_ids() == ()


def test_a_catalog_role_list_follows_the_configured_fx_role(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = data / "config.toml"
    config.write_text('fx_rates_role = "central_bank"\n' + config.read_text())
    pem = str(key_file(tmp_path, "p.pub"))
    assert run(data, "add", "p", pem, "--role", "fx_authority") == 2
    assert "valid roles: central_bank, commercial_registry," in capsys.readouterr().err
    assert run(data, "add", "p", pem, "--role", "central_bank") == 0


def test_grant_and_revoke_keep_the_key(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data, "add", "wh", str(key_file(tmp_path, "wh.pub")), "--role", "warehouse") == 0
    key = ProviderRegistry(data).provider("wh").fingerprint
    assert run(data, "grant", "wh", "--role", "tax_bureau", "--role", "fx_authority") == 0
    assert ProviderRegistry(data).roles("wh") == {"warehouse", "tax_bureau", "fx_authority"}
    assert run(data, "revoke", "wh", "--role", "tax_bureau") == 0
    assert ProviderRegistry(data).roles("wh") == {"warehouse", "fx_authority"}
    assert ProviderRegistry(data).provider("wh").fingerprint == key
    capsys.readouterr()
    assert run(data, "revoke", "wh", "--role", "ip_office") == 2
    assert capsys.readouterr().err == "attestgate: provider wh does not hold role(s) ip_office\n"
    assert run(data, "grant", "wh", "--role", "customs") == 2
    assert f"valid roles: {VALID}" in capsys.readouterr().err
    assert run(data, "grant", "nobody", "--role", "warehouse") == 2
    assert "'nobody' is not registered" in capsys.readouterr().err
    assert ProviderRegistry(data).roles("wh") == {"warehouse", "fx_authority"}


def test_replace_rekeys_and_keeps_roles_unless_given(data: Path, tmp_path: Path) -> None:
    assert run(data, "add", "ip", str(key_file(tmp_path, "a.pub")), "--role", "ip_office") == 0
    first = ProviderRegistry(data).provider("ip").fingerprint
    assert run(data, "add", "ip", str(key_file(tmp_path, "b.pub")), "--replace") == 0
    second = ProviderRegistry(data).provider("ip")
    assert second.fingerprint != first
    assert second.roles == {"ip_office"}
    assert (
        run(data, "add", "ip", str(key_file(tmp_path, "c.pub")), "--replace", "--role", "warehouse")
        == 0
    )
    assert ProviderRegistry(data).roles("ip") == {"warehouse"}


def test_list_shows_a_registration_without_roles(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data, "list") == 0
    assert capsys.readouterr().out == f"no providers registered in {data}\n"
    registry = ProviderRegistry(data)
    registry.add("old", key_file(tmp_path, "o.pub").read_bytes(), roles=["tax_bureau"])
    (registry.directory / "old.roles").unlink()  # registered before roles existed
    assert run(data, "list") == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:2] == ["old", "(none:"]
    assert "uploads refused; providers grant" in row
    assert run(data, "grant", "old", "--role", "tax_bureau") == 0
    assert ProviderRegistry(data).roles("old") == {"tax_bureau"}


def test_the_fx_role_is_a_checked_config_key(tmp_path: Path) -> None:
    assert load_config(None, {"data_dir": str(tmp_path)}).fx_rates_role == "fx_authority"
    config = tmp_path / "config.toml"
    config.write_text('fx_rates_role = "central_bank"\n')
    assert load_config(config).fx_rates_role == "central_bank"
    config.write_text('fx_rates_role = "Central Bank"\n')
    with pytest.raises(ConfigError, match="bad value for 'fx_rates_role'"):
        load_config(config)
