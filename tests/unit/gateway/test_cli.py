"""The attestgate command line, in process (the serve process is in tests/integration)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestgate.gateway.common.auth import TokenVerifier
from attestgate.gateway.common.clock import FixedClock
from attestgate.gateway.common.keys import KeyRing
from attestgate.gateway.common.roles import Role
from attestgate.gateway.ops.cli import COMMANDS, _write_default_config, build_parser, main
from attestgate.gateway.ops.config import load_config
from attestgate.gateway.usecases.providers import ProviderRegistry


@pytest.fixture
def initialized(data_dir: Path, keyring: KeyRing) -> Path:
    """A data dir as the first ``serve`` leaves it (keys + config.toml)."""
    _write_default_config(data_dir, "attestgate")
    return data_dir


def test_commands_are_registered() -> None:
    assert {"serve", "token", "keys", "providers"} <= set(COMMANDS)
    build_parser()  # every builder composes


def test_token_is_accepted_by_the_configured_verifier(
    initialized: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--data-dir", str(initialized), "--role", "owner", "--sub", "o-1"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    config = load_config(initialized / "config.toml", {})
    verifier = TokenVerifier(
        config.issuers,
        audience=config.gateway_id,
        leeway=config.token_leeway,
        clock=FixedClock(issued),
    )
    principal = verifier.verify(token)
    assert (principal.subject, principal.role) == ("o-1", Role.OWNER)
    assert principal.expires_at - issued == timedelta(hours=1)  # the default --ttl


def test_default_config_is_private(initialized: Path) -> None:
    assert stat.S_IMODE((initialized / "config.toml").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttl", "forever"], "--ttl"),
        (["--ttl", "0s"], "--ttl must be more than 0"),
        (["--ttl", "31d"], "at most 30d"),
        (["--sub", " "], "--sub must not be empty"),
    ],
)
def test_token_refuses_bad_input(
    initialized: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["token", "--data-dir", str(initialized), "--role", "bank", "--sub", "b", *args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_token_needs_an_initialized_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--data-dir", str(tmp_path / "x"), "--role", "bank", "--sub", "b"]) == 2
    assert "attestgate serve --data-dir" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_role_is_a_usage_error(initialized: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["token", "--data-dir", str(initialized), "--role", "root", "--sub", "b"])
    assert caught.value.code == 2


def test_keys_rotate(
    initialized: Path, keyring: KeyRing, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = keyring.current_signing_key()
    assert main(["keys", "rotate", "--data-dir", str(initialized)]) == 0
    new, _ = keyring.current_signing_key()
    assert new != old
    assert new in capsys.readouterr().out


def test_providers_add(
    initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "tax.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    argv = ["providers", "add", "--data-dir", str(initialized), "tax-bureau", str(key_file)]
    argv += ["--role", "tax_bureau"]
    assert main(argv) == 0
    assert ProviderRegistry(initialized).provider_ids() == ("tax-bureau",)
    assert main(argv) == 2
    assert "already registered" in capsys.readouterr().err
    bad = ["providers", "add", "--data-dir", str(initialized), "../evil", str(key_file), "--role"]
    bad += ["tax_bureau"]
    assert main(bad) == 2


def test_serve_refuses_insecure_off_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--data-dir", str(tmp_path / "d"), "--insecure", "--listen", "0.0.0.0:0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "refusing --insecure on 0.0.0.0:0" in err
    assert "loopback" in err
    assert not (tmp_path / "d" / "keys").exists()  # refused before creating keys
